// A fleet of TenantDatabase objects against a real kube-apiserver, reconciled by the operator's own
// Manager with the four controllers (registered as src/main.ts does, leader election off). The objects
// exist before the operator starts (an operator restart over an existing fleet).
//
// This process is the harness: a private local environment (etcd + kube-apiserver; no ARM), the CRDs,
// namespaces and the N objects (derived from crds/examples/tenantdatabase-external.yaml, unique names,
// created with limited concurrency), and all measuring: a watch on every TenantDatabase (readiness for the
// current generation, resourceVersion changes) and the apiserver's own request counters. The operator
// runs in a process of its own (fleet-operator.ts: nothing but the Manager with the four controllers and
// an IPC handler reporting memory and reconcile counters), so the memory reported is the operator's; it
// runs with the image's node flags and ENV, as a deployed operator does (--fleet-image-runtime 0: node's
// defaults, whose young generation alone grows to 128 MiB while the modules load).
// Measured: time until every object is settled for its current generation (Ready=True, or Stalled=True:
// the operator's part is done and a person's is next), reconciles/s, RSS and heap after convergence,
// apiserver writes per object, and then the converged state: over a window with a short sync period every
// object is reconciled again and none may cost a write. This environment has no server for the example's
// host and the harness creates none of its Secrets, so the objects settle Stalled (AdminSecretMissing):
// what is measured is the control plane's cost per object; databases made for real are measured by
// database-sync and tenantdatabase-azure-fleet.
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import YAML from 'yaml';
import { FINALIZER } from '../src/api/resources.js';
import { KubeClient, resourcePath, type KubeObject, type ResourceRef, type WatchEvent } from '../src/runtime/kubeclient.js';
import type { EnvInfo } from '../dev/env/localenv.js';
import { repoRoot } from '../dev/env/paths.js';
import { runCommand } from '../dev/env/proc.js';
import { allPass, benchDir, goal, log, numFlag, pool, round, withEnv, type Benchmark, type BenchResult, type Flags } from './common.js';
import type { HostReply, HostRequest } from './fleet-operator.js';
import { NODE_DEFAULTS, imageNodeFlags, runtimeEnv, type NodeRuntime } from './node-runtime.js';

const TD: ResourceRef = { group: 'tenantdb.io', version: 'v1alpha1', plural: 'tenantdatabases' };
const NAMESPACES: ResourceRef = { group: '', version: 'v1', plural: 'namespaces' };
const EXAMPLE = path.join(repoRoot, 'crds', 'examples', 'tenantdatabase-external.yaml');
const OPERATOR_HOST = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fleet-operator.ts');

interface Cond {
  type: string;
  status: string;
  reason?: string;
}
type TdObject = KubeObject & { status?: { observedGeneration?: number; conditions?: Cond[] } };

/** Ready or Stalled for the current generation, finalizer held: the reason ("Ready" when Ready), else undefined. */
function settledReason(o: TdObject): string | undefined {
  if (o.status?.observedGeneration !== o.metadata.generation || !(o.metadata.finalizers ?? []).includes(FINALIZER)) return undefined;
  const c = (type: string) => o.status?.conditions?.find((x) => x.type === type);
  if (c('Ready')?.status === 'True') return 'Ready';
  const stalled = c('Stalled');
  return stalled?.status === 'True' ? `Stalled/${stalled.reason ?? 'unknown'}` : undefined;
}

/** kube-apiserver's own /metrics (the admin certificate is in system:masters). */
export async function apiserverMetrics(kc: KubeConfig): Promise<string> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('no cluster');
  const opts: https.RequestOptions = { method: 'GET', headers: { Accept: 'text/plain' } };
  await kc.applyToHTTPSOptions(opts);
  return new Promise((resolve, reject) => {
    const req = https.request(new URL('/metrics', cluster.server), opts, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => ((res.statusCode ?? 0) === 200 ? resolve(body) : reject(new Error(`apiserver /metrics: ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Sum of apiserver_request_total samples whose labels include `labels`. */
function requestCount(text: string, labels: Record<string, string>): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const m = /^apiserver_request_total\{([^}]*)\}\s+(\S+)/.exec(line);
    if (!m) continue;
    const have: Record<string, string> = {};
    for (const pair of (m[1] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) have[pair[1] as string] = pair[2] as string;
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) total += Number(m[2]);
  }
  return total;
}

export interface WriteCounts {
  tdPatch: number;
  tdStatusPatch: number;
  tdOtherWrites: number;
  eventCreates: number;
  eventPatches: number;
}

export function writeCounts(text: string): WriteCounts {
  const td = { group: 'tenantdb.io', resource: 'tenantdatabases' };
  const tdPatch = requestCount(text, { ...td, verb: 'PATCH', subresource: '' });
  const tdStatusPatch = requestCount(text, { ...td, verb: 'PATCH', subresource: 'status' });
  const tdOtherWrites = ['PUT', 'POST', 'DELETE'].reduce((n, verb) => n + requestCount(text, { ...td, verb }), 0) + requestCount(text, { ...td, verb: 'APPLY' });
  return {
    tdPatch,
    tdStatusPatch,
    tdOtherWrites,
    eventCreates: requestCount(text, { resource: 'events', verb: 'POST' }),
    eventPatches: requestCount(text, { resource: 'events', verb: 'PATCH' }),
  };
}

export function diff(a: WriteCounts, b: WriteCounts): WriteCounts {
  return {
    tdPatch: b.tdPatch - a.tdPatch,
    tdStatusPatch: b.tdStatusPatch - a.tdStatusPatch,
    tdOtherWrites: b.tdOtherWrites - a.tdOtherWrites,
    eventCreates: b.eventCreates - a.eventCreates,
    eventPatches: b.eventPatches - a.eventPatches,
  };
}

export const totalWrites = (w: WriteCounts) => w.tdPatch + w.tdStatusPatch + w.tdOtherWrites + w.eventCreates + w.eventPatches;

/** Watches every TenantDatabase: readiness per object and resourceVersion changes (each one a write). */
class FleetWatcher {
  /** Settled objects and how (Ready, or Stalled/<reason>). */
  readonly ready = new Map<string, string>();
  modified = 0;
  private handle: { abort(): void; done: Promise<void> } | undefined;
  private waiters: Array<{ n: number; resolve: () => void }> = [];
  failed: unknown;

  constructor(private readonly client: KubeClient) {}

  async start(): Promise<void> {
    const list = await this.client.request<{ metadata: { resourceVersion: string }; items: TdObject[] }>('GET', resourcePath(TD));
    for (const o of list.items) this.observe(o);
    this.handle = await this.client.watch(resourcePath(TD), { resourceVersion: list.metadata.resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 1800 }, (ev) => this.onEvent(ev));
    this.handle.done.catch((err: unknown) => (this.failed = err));
  }

  private onEvent(ev: WatchEvent): void {
    if (ev.type === 'MODIFIED') this.modified++;
    if (ev.type === 'ADDED' || ev.type === 'MODIFIED') this.observe(ev.object as TdObject);
    if (ev.type === 'DELETED') this.ready.delete(key(ev.object as TdObject));
    if (ev.type === 'ERROR') this.failed = new Error(`watch error: ${JSON.stringify(ev.object)}`);
  }

  private observe(o: TdObject): void {
    const reason = settledReason(o);
    if (reason) this.ready.set(key(o), reason);
    else this.ready.delete(key(o));
    this.waiters = this.waiters.filter((w) => {
      if (this.ready.size < w.n) return true;
      w.resolve();
      return false;
    });
  }

  untilReady(n: number): Promise<void> {
    if (this.ready.size >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }

  stop(): void {
    this.handle?.abort();
  }
}

const key = (o: KubeObject) => `${o.metadata.namespace}/${o.metadata.name}`;


async function kubectl(env: EnvInfo, args: string[]): Promise<string> {
  const res = await runCommand(env.kubectl, ['--kubeconfig', env.kubeconfig, ...args]);
  if (res.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${res.code} ${res.stderr}`);
  return res.stdout;
}

async function installCrds(env: EnvInfo): Promise<void> {
  const dir = path.join(repoRoot, 'crds');
  const files = fs
    .readdirSync(dir)
    .filter((f) => /^tenantdb\.io_.*\.yaml$/.test(f))
    .flatMap((f) => ['-f', path.join(dir, f)]);
  await kubectl(env, ['apply', '--server-side', '--field-manager=tenantdb-bench', ...files]);
  await kubectl(env, ['wait', '--for=condition=Established', '--timeout=60s', ...files]);
}

/** RSS of a bare `node` and of `node --import tsx` (the loader the operator process here runs under, unlike a deployed operator), with the operator's node flags and environment. */
function loaderBaseline(node: NodeRuntime): { nodeRssMiB: number; nodeWithTsxRssMiB: number } {
  const rss = (args: string[]) => {
    const r = spawnSync(process.execPath, [...node.args, ...args, '-e', 'process.stdout.write(String(process.memoryUsage().rss))'], { encoding: 'utf8', cwd: repoRoot, env: runtimeEnv(node) });
    return round(Number(r.stdout) / 1024 / 1024, 1);
  };
  return { nodeRssMiB: rss([]), nodeWithTsxRssMiB: rss(['--import', 'tsx']) };
}

/** The node runtime of the operator process: the image's (Dockerfile ENTRYPOINT flags, final stage ENV), or node's defaults. */
function operatorRuntime(asImage: boolean): NodeRuntime {
  return asImage ? imageNodeFlags() : NODE_DEFAULTS;
}

/** The operator process and a request/answer channel to it. */
class OperatorHost {
  private readonly child: ChildProcess;
  private readonly pending: Array<{ type: HostReply['type']; resolve: (r: HostReply) => void; reject: (e: Error) => void }> = [];
  private readonly unclaimed: HostReply[] = [];
  private exited: Error | undefined;

  constructor(args: string[], node: NodeRuntime) {
    this.child = fork(OPERATOR_HOST, args, { cwd: repoRoot, execArgv: [...node.args, '--import', 'tsx', '--expose-gc'], env: runtimeEnv(node), stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (m: HostReply) => {
      if (m.type === 'error') {
        for (const p of this.pending.splice(0)) p.reject(new Error(`operator process: ${m.message}`));
        return;
      }
      const i = this.pending.findIndex((p) => p.type === m.type);
      if (i >= 0) this.pending.splice(i, 1)[0]?.resolve(m);
      else this.unclaimed.push(m);
    });
    this.child.on('exit', (code, signal) => {
      this.exited = new Error(`operator process exited with ${signal ?? code}`);
      for (const p of this.pending.splice(0)) p.reject(this.exited);
    });
  }

  private expect<T extends HostReply['type']>(type: T, req?: HostRequest): Promise<Extract<HostReply, { type: T }>> {
    const early = this.unclaimed.findIndex((m) => m.type === type);
    if (early >= 0 && !req) return Promise.resolve(this.unclaimed.splice(early, 1)[0] as Extract<HostReply, { type: T }>);
    if (this.exited) return Promise.reject(this.exited);
    const answer = new Promise<HostReply>((resolve, reject) => this.pending.push({ type, resolve, reject }));
    if (req) this.child.send(req);
    return answer as Promise<Extract<HostReply, { type: T }>>;
  }

  ready() {
    return this.expect('ready');
  }
  start() {
    return this.expect('started', { cmd: 'start' });
  }
  stats(gc = false) {
    return this.expect('stats', { cmd: 'stats', gc });
  }
  async stop(): Promise<void> {
    if (this.exited) return;
    const killer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await this.expect('stopped', { cmd: 'stop' }).catch(() => undefined);
    if (!this.exited) await new Promise((r) => this.child.once('exit', r));
    clearTimeout(killer);
  }
}

export const controllersFleetBench: Benchmark = {
  name: 'controllers-fleet',
  description: 'N TenantDatabases on a real apiserver: convergence time, reconciles/s, memory, writes per object, 0 writes when converged',
  flags: {
    'fleet-objects': { default: 1000, help: 'TenantDatabase objects' },
    'fleet-namespaces': { default: 4, help: 'namespaces they are spread over' },
    'fleet-create-concurrency': { default: 16, help: 'concurrent creates while setting up' },
    'fleet-workers': { default: 1, help: 'maxConcurrentReconciles per controller (operator default 1)' },
    'fleet-sync-period-ms': { default: 5_000, help: 'sync period of the manager' },
    'fleet-window-ms': { default: 20_000, help: 'converged window in which no write may happen' },
    'fleet-timeout-ms': { default: 120_000, help: 'give up waiting for convergence after this long' },
    'fleet-max-converge-s': { default: 60, help: 'goal: seconds to converge' },
    'fleet-max-rss-mib': { default: 300, help: 'goal: operator RSS after convergence' },
    'fleet-image-runtime': { default: 1, help: "1: the operator process runs with the image's node flags and ENV (Dockerfile ENTRYPOINT, final stage), as a deployed operator does; 0: node's defaults" },
  },
  async run(flags: Flags): Promise<BenchResult> {
    const n = numFlag(flags, this, 'fleet-objects');
    const nsCount = Math.max(1, numFlag(flags, this, 'fleet-namespaces'));
    const createConcurrency = Math.max(1, numFlag(flags, this, 'fleet-create-concurrency'));
    const workers = Math.max(1, numFlag(flags, this, 'fleet-workers'));
    const syncPeriodMs = numFlag(flags, this, 'fleet-sync-period-ms');
    const windowMs = numFlag(flags, this, 'fleet-window-ms');
    const timeoutMs = numFlag(flags, this, 'fleet-timeout-ms');
    const maxConverge = numFlag(flags, this, 'fleet-max-converge-s');
    const maxRss = numFlag(flags, this, 'fleet-max-rss-mib');
    const node = operatorRuntime(numFlag(flags, this, 'fleet-image-runtime') === 1);
    const params = {
      objects: n,
      namespaces: nsCount,
      createConcurrency,
      maxConcurrentReconciles: workers,
      syncPeriodMs,
      windowMs,
      example: path.relative(repoRoot, EXAMPLE),
      operator: 'Manager + registerControllers (as src/main.ts) in its own `node --import tsx` process: fleet-operator.ts',
      nodeRuntime: [...node.args, ...(node.nodeOptions ? [`NODE_OPTIONS=${node.nodeOptions}`] : []), ...Object.entries(node.env).map(([k, v]) => `${k}=${v}`)],
    };

    return withEnv(this.name, { arm: false }, async (env) => {
      const kc = new KubeConfig();
      kc.loadFromFile(env.kubeconfig);
      const client = new KubeClient(kc);
      const watcher = new FleetWatcher(client);
      let host: OperatorHost | undefined;
      try {
        await installCrds(env);
        const template = YAML.parse(fs.readFileSync(EXAMPLE, 'utf8')) as KubeObject & { spec: Record<string, unknown> };
        const namespaces = Array.from({ length: nsCount }, (_, i) => `bench-fleet-${i}`);
        for (const ns of namespaces) await client.create(NAMESPACES, undefined, { metadata: { name: ns } });
        log(`creating ${n} TenantDatabases in ${nsCount} namespaces (${createConcurrency} at a time)`);
        const tc = performance.now();
        await pool(n, createConcurrency, async (i) => {
          const name = `${template.metadata.name}-${String(i).padStart(5, '0')}`;
          const ns = namespaces[i % nsCount] as string;
          const spec = structuredClone(template.spec);
          spec.connectionSecret = { name: `${name}-app` };
          await client.create(TD, ns, { ...template, metadata: { ...template.metadata, name, namespace: ns }, spec });
        });
        const createSeconds = (performance.now() - tc) / 1000;
        log(`created ${n} in ${createSeconds.toFixed(1)} s (${Math.round(n / createSeconds)}/s)`);
        await watcher.start();
        if (watcher.ready.size !== 0) throw new Error('objects are Ready before the operator started');

        host = new OperatorHost([
          '--kubeconfig', env.kubeconfig,
          '--workers', String(workers),
          '--sync-period-ms', String(syncPeriodMs),
          '--log-file', path.join(benchDir(this.name), 'logs', 'operator.log'),
        ], node);
        await host.ready();
        const memBefore = (await host.stats(true)).memory;
        const writesBefore = writeCounts(await apiserverMetrics(kc));
        log(`starting the manager; waiting for ${n} objects to settle (Ready or Stalled)`);
        const t0 = performance.now();
        await host.start();
        const outcome = await Promise.race([watcher.untilReady(n).then(() => 'converged' as const), sleep(timeoutMs, 'timeout' as const, { ref: false })]);
        const convergeSeconds = (performance.now() - t0) / 1000;
        const atConvergence = await host.stats();
        if (outcome === 'timeout') log(`only ${watcher.ready.size}/${n} settled after ${timeoutMs} ms`);
        else log(`converged in ${convergeSeconds.toFixed(1)} s`);
        if (watcher.failed) throw watcher.failed;

        // Let trailing work (the last events, the finalizer's echo) finish before counting.
        await sleep(2_000);
        const writesConverged = diff(writesBefore, writeCounts(await apiserverMetrics(kc)));
        const modifiedConverged = watcher.modified;
        const afterGc = await host.stats(true);

        log(`converged window: ${windowMs} ms with a ${syncPeriodMs} ms sync period`);
        const windowStartWrites = writeCounts(await apiserverMetrics(kc));
        const modifiedBeforeWindow = watcher.modified;
        await sleep(windowMs);
        const windowWrites = diff(windowStartWrites, writeCounts(await apiserverMetrics(kc)));
        const windowModified = watcher.modified - modifiedBeforeWindow;
        const afterWindow = await host.stats();
        const tdReconcilesInWindow = (afterWindow.reconciles.byController.tenantdatabase ?? 0) - (afterGc.reconciles.byController.tenantdatabase ?? 0);
        if (watcher.failed) throw watcher.failed;

        const results = {
          createSeconds: round(createSeconds, 2),
          converged: outcome === 'converged',
          settledObjects: watcher.ready.size,
          settledBy: Object.fromEntries([...new Set(watcher.ready.values())].map((r) => [r, [...watcher.ready.values()].filter((x) => x === r).length])),
          convergeSeconds: round(convergeSeconds, 2),
          reconcilesToConverge: atConvergence.reconciles.total,
          reconcilesPerSec: round(atConvergence.reconciles.total / convergeSeconds, 1),
          reconcileErrors: afterWindow.reconciles.errors,
          operatorMemory: {
            beforeStart: memBefore,
            atConvergence: atConvergence.memory,
            peakDuringConvergence: atConvergence.peaks,
            afterConvergenceGc: afterGc.memory,
            heapSpacesAfterConvergenceGc: afterGc.heapSpaces,
            afterWindow: afterWindow.memory,
            loaderBaseline: loaderBaseline(node),
          },
          writesToConverge: {
            ...writesConverged,
            total: totalWrites(writesConverged),
            perObject: round(totalWrites(writesConverged) / n, 3),
            tenantDatabaseWritesPerObject: round((writesConverged.tdPatch + writesConverged.tdStatusPatch + writesConverged.tdOtherWrites) / n, 3),
            resourceVersionChangesPerObject: round(modifiedConverged / n, 3),
          },
          convergedWindow: {
            seconds: windowMs / 1000,
            tenantDatabaseReconciles: tdReconcilesInWindow,
            allReconciles: afterWindow.reconciles.total - afterGc.reconciles.total,
            writes: { ...windowWrites, total: totalWrites(windowWrites) },
            resourceVersionChanges: windowModified,
          },
        };
        const rss = atConvergence.memory.rssMiB;
        const goals = {
          convergeSeconds: goal(`all ${n} settled (Ready, or Stalled for a person to act) within ${maxConverge} s`, results.convergeSeconds, results.converged && convergeSeconds < maxConverge),
          rssMiB: goal(`operator RSS at convergence < ${maxRss} MiB`, rss, rss < maxRss),
          writesWhenConverged: goal('0 writes in the converged window', totalWrites(windowWrites) + windowModified, totalWrites(windowWrites) === 0 && windowModified === 0),
          resyncExercised: goal(`every object reconciled in the window (>= ${n} TenantDatabase reconciles)`, tdReconcilesInWindow, tdReconcilesInWindow >= n),
          noReconcileErrors: goal('0 reconcile errors', results.reconcileErrors, results.reconcileErrors === 0),
        };
        return { name: this.name, params, results, goals, pass: allPass(goals) };
      } finally {
        watcher.stop();
        await host?.stop();
        client.close();
      }
    });
  },
};

export default controllersFleetBench;
