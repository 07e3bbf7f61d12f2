// The real tools the shipping tests drive (helm, kubeconform, the kstatus and Argo CD health programs),
// built from the Go module proxy once and cached (dev/env/binaries.ts) by jest's global setup
// (dev/env/prebuild.ts), and the chart rendered by helm.
import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ensureGoTool, type GoTool } from '../../dev/env/binaries.js';
import { repoRoot } from '../../dev/env/paths.js';
import { runCommand, type CommandResult } from '../../dev/env/proc.js';

export const CHART_DIR = path.join(repoRoot, 'charts', 'tenantdb-operator');
export const VALUES_ALL = path.join(repoRoot, 'test', 'ship', 'values-all.yaml');
export const HEALTH_DIR = path.join(repoRoot, 'health', 'argocd');

const built = new Map<GoTool, Promise<string>>();
export function tool(name: GoTool): Promise<string> {
  let p = built.get(name);
  if (!p) built.set(name, (p = ensureGoTool(name, (m) => process.stderr.write(`[ship] ${m}\n`))));
  return p;
}

/** Runs a tool; throws with its output when it fails (unless allowFailure). */
export async function runTool(
  name: GoTool,
  args: string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv; allowFailure?: boolean; timeoutMs?: number } = {},
): Promise<CommandResult> {
  const bin = await tool(name);
  const res = await runCommand(bin, args, {
    timeoutMs: opts.timeoutMs ?? 120_000,
    ...(opts.input !== undefined ? { input: opts.input } : {}),
    env: { ...process.env, ...opts.env },
  });
  if (res.code !== 0 && !opts.allowFailure) throw new Error(`${name} ${args.join(' ')} failed (${res.code}):\n${res.stderr}\n${res.stdout.slice(0, 2000)}`);
  return res;
}

/** helm with its own state (config, cache, data) in `home`, so tests never touch a developer's helm. */
export function helmEnv(home: string, kubeconfig?: string): NodeJS.ProcessEnv {
  return {
    HELM_CONFIG_HOME: path.join(home, 'config'),
    HELM_CACHE_HOME: path.join(home, 'cache'),
    HELM_DATA_HOME: path.join(home, 'data'),
    ...(kubeconfig ? { KUBECONFIG: kubeconfig } : {}),
  };
}

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [k: string]: unknown;
}

export function parseManifests(text: string): Manifest[] {
  return parseAllDocuments(text)
    .map((d) => d.toJSON() as Manifest | null)
    .filter((d): d is Manifest => d !== null && typeof d === 'object');
}

/** `helm template` of the chart with the given extra arguments (values files, --set). */
export async function renderChart(home: string, args: string[] = [], namespace = 'tenantdb-system', chartDir = CHART_DIR): Promise<{ text: string; objects: Manifest[] }> {
  fs.mkdirSync(home, { recursive: true });
  const res = await runTool('helm', ['template', 'tenantdb', chartDir, '--namespace', namespace, ...args], { env: helmEnv(home) });
  return { text: res.stdout, objects: parseManifests(res.stdout) };
}

export interface HealthStatus {
  status: string;
  message: string;
}

/** Argo CD's verdict on a live object: its kind's health.lua run by gopher-lua as Argo CD runs it. */
export async function argocdHealth(obj: { kind: string }): Promise<HealthStatus> {
  const script = path.join(HEALTH_DIR, 'tenantdb.io', obj.kind, 'health.lua');
  const res = await runTool('argocd-health', ['eval', script, '-'], { input: JSON.stringify(obj) });
  return JSON.parse(res.stdout) as HealthStatus;
}

/** Flux's verdict (kstatus) on live objects, in the order given. */
export async function kstatus(objs: object[]): Promise<HealthStatus[]> {
  const res = await runTool('kstatus', [], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objs }) });
  return res.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as HealthStatus);
}

interface Cond {
  type: string;
  status: string;
  observedGeneration?: number;
}
export interface LiveObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; generation?: number; uid?: string; finalizers?: string[]; deletionTimestamp?: string };
  spec?: Record<string, unknown>;
  status?: { observedGeneration?: number; conditions?: Cond[] };
}

/**
 * What Argo CD and Flux must say about an object, from its conditions alone (the contract, stated apart
 * from the scripts): [Argo CD status, kstatus status]. kstatus is the library's generic rules for custom
 * resources: terminating, observedGeneration behind, Reconciling=True are InProgress; Stalled=True is
 * Failed; Ready=False is InProgress; otherwise Current (also before the first status: see the README).
 */
export function expectedHealth(o: LiveObject): [string, string] {
  const gen = o.metadata.generation;
  const conds = o.status?.conditions;
  const c = (t: string) => conds?.find((x) => x.type === t)?.status;
  const observed = o.status?.observedGeneration;
  const lagging = gen !== undefined && observed !== undefined && observed < gen;
  const flux = o.metadata.deletionTimestamp || lagging || c('Reconciling') === 'True' ? 'InProgress' : c('Stalled') === 'True' ? 'Failed' : c('Ready') === 'False' ? 'InProgress' : 'Current';
  if (!conds || lagging || (gen !== undefined && observed === undefined)) return ['Progressing', flux];
  if (c('Stalled') === 'True') return ['Degraded', flux];
  if (o.kind === 'BackupPolicy' && o.spec?.suspend === true) return ['Suspended', flux];
  const readyGen = conds.find((x) => x.type === 'Ready')?.observedGeneration;
  const readyCurrent = readyGen === undefined || gen === undefined || readyGen >= gen;
  if (c('Ready') === 'True' && readyCurrent && c('Reconciling') !== 'True') return ['Healthy', flux];
  return ['Progressing', flux];
}
