// Scale-out by sharding, as the chart's `sharding.shards` deploys it: N TenantDatabases on external
// servers spread over S operator processes, each the production bundle run as the image runs it, with
// --watch-label-selector (shard0 … shard{S-2} by label, the last one `!sharding.tenantdb.io/key`, the
// objects without the label) and leader election on, each with the Lease derived from its selector.
// Measured: time until every object is reconciled for its generation (finalizer, observedGeneration, a
// Ready condition: here Stalled, waiting for the admin Secret the example names, which is the steady state
// of an operator that idles), reconciles per shard (each must have reconciled its own objects, and only
// them), each shard's RSS, the four leases and their holders, then a converged window with a short sync
// period in which every object is reconciled again and none may cost a write.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import YAML from 'yaml';
import { FINALIZER } from '../src/api/resources.js';
import { KubeClient, resourcePath, type KubeObject, type ResourceRef, type WatchEvent } from '../src/runtime/kubeclient.js';
import type { EnvInfo } from '../dev/env/localenv.js';
import { repoRoot } from '../dev/env/paths.js';
import { freePort } from '../dev/env/proc.js';
import { allPass, benchDir, goal, log, numFlag, pool, round, withEnv, type Benchmark, type BenchResult, type Flags } from './common.js';
import { apiserverMetrics, diff, totalWrites, writeCounts } from './controllers-fleet.js';
import { imageNodeFlags, runtimeEnv } from './node-runtime.js';
import { installCrds, procStats } from './production-entrypoint.js';

const TD: ResourceRef = { group: 'tenantdb.io', version: 'v1alpha1', plural: 'tenantdatabases' };
const NAMESPACES: ResourceRef = { group: '', version: 'v1', plural: 'namespaces' };
const LEASES: ResourceRef = { group: 'coordination.k8s.io', version: 'v1', plural: 'leases' };
const EXAMPLE = path.join(repoRoot, 'crds', 'examples', 'tenantdatabase-external.yaml');
const SHARD_LABEL = 'sharding.tenantdb.io/key';

type TdObject = KubeObject & { status?: { observedGeneration?: number; conditions?: Array<{ type: string; status: string }> } };

/** Reconciled for its current generation: our finalizer, observedGeneration, and a Ready condition. */
function settled(o: TdObject): boolean {
  return (o.metadata.finalizers ?? []).includes(FINALIZER) && o.status?.observedGeneration === o.metadata.generation && Boolean(o.status?.conditions?.some((c) => c.type === 'Ready'));
}

/** Watches every TenantDatabase: which are settled, and how many resourceVersion changes happened. */
class Watcher {
  readonly done = new Set<string>();
  modified = 0;
  failed: unknown;
  private handle: { abort(): void; done: Promise<void> } | undefined;

  constructor(private readonly client: KubeClient) {}

  async start(): Promise<void> {
    const list = await this.client.request<{ metadata: { resourceVersion: string }; items: TdObject[] }>('GET', resourcePath(TD));
    for (const o of list.items) this.observe(o);
    this.handle = await this.client.watch(resourcePath(TD), { resourceVersion: list.metadata.resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 3600 }, (ev: WatchEvent) => {
      if (ev.type === 'MODIFIED') this.modified++;
      if (ev.type === 'ADDED' || ev.type === 'MODIFIED') this.observe(ev.object as TdObject);
      if (ev.type === 'ERROR') this.failed = new Error(`watch error: ${JSON.stringify(ev.object)}`);
    });
    this.handle.done.catch((err: unknown) => (this.failed = err));
  }

  private observe(o: TdObject): void {
    const k = `${o.metadata.namespace}/${o.metadata.name}`;
    if (settled(o)) this.done.add(k);
    else this.done.delete(k);
  }

  stop(): void {
    this.handle?.abort();
  }
}

interface Shard {
  name: string;
  selector: string;
  child: ChildProcess;
  metricsPort: number;
  objects: number;
}

async function reconcilesOf(port: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^controller_runtime_reconcile_total\{([^}]*)\}\s+(\S+)$/gm)) {
    const c = /controller="([^"]*)"/.exec(m[1] as string)?.[1] ?? '';
    out[c] = (out[c] ?? 0) + Number(m[2]);
  }
  return out;
}

function startShard(env: EnvInfo, bundle: string, name: string, selector: string, syncPeriod: string, logDir: string, ports: [number, number]): ChildProcess {
  const image = imageNodeFlags();
  const childEnv = runtimeEnv(image, { NODE_ENV: 'production' });
  const out = fs.openSync(path.join(logDir, `${name}.log`), 'w');
  const child = spawn(
    process.execPath,
    [
      ...image.args,
      bundle,
      `--kubeconfig=${env.kubeconfig}`,
      `--metrics-bind-address=127.0.0.1:${ports[0]}`,
      `--health-probe-bind-address=127.0.0.1:${ports[1]}`,
      '--log-level=warn',
      '--leader-elect=true',
      '--leader-election-namespace=default',
      `--watch-label-selector=${selector}`,
      `--sync-period=${syncPeriod}`,
    ],
    { cwd: repoRoot, stdio: ['ignore', out, out], env: childEnv },
  );
  fs.closeSync(out);
  return child;
}

interface Plan {
  n: number;
  s: number;
  nsCount: number;
  syncS: number;
  windowMs: number;
  timeoutMs: number;
  maxRssMb: number;
}

const shardName = (plan: Plan, i: number) => (i === plan.s - 1 ? 'unsharded' : `shard${i}`);
const selectorOf = (plan: Plan, i: number) => (i === plan.s - 1 ? `!${SHARD_LABEL}` : `${SHARD_LABEL}=shard${i}`);

/** Creates the namespaces and the objects, object i in shard i mod S (the last shard: no label); returns objects per shard. */
async function createFleet(client: KubeClient, plan: Plan): Promise<{ perShard: number[]; createSeconds: number }> {
  const template = YAML.parse(fs.readFileSync(EXAMPLE, 'utf8')) as KubeObject & { spec: Record<string, unknown> };
  const namespaces = Array.from({ length: plan.nsCount }, (_, i) => `bench-shard-${i}`);
  for (const ns of namespaces) await client.create(NAMESPACES, undefined, { metadata: { name: ns } });
  log(`creating ${plan.n} TenantDatabases over ${plan.s} shards`);
  const tc = performance.now();
  const perShard = new Array<number>(plan.s).fill(0);
  await pool(plan.n, 16, async (i) => {
    const name = `${template.metadata.name}-${String(i).padStart(5, '0')}`;
    const ns = namespaces[i % plan.nsCount] as string;
    const shard = i % plan.s;
    perShard[shard] = (perShard[shard] ?? 0) + 1;
    const labels = { ...(template.metadata.labels ?? {}), ...(shard === plan.s - 1 ? {} : { [SHARD_LABEL]: `shard${shard}` }) };
    const spec = { ...structuredClone(template.spec), connectionSecret: { name: `${name}-app` } };
    await client.create(TD, ns, { ...template, metadata: { name, namespace: ns, labels }, spec });
  });
  const createSeconds = (performance.now() - tc) / 1000;
  log(`created ${plan.n} in ${createSeconds.toFixed(1)} s`);
  return { perShard, createSeconds };
}

/** Waits until every object has settled (or the timeout); a shard process that exits fails the run. */
async function awaitConvergence(watcher: Watcher, shards: Shard[], plan: Plan, t0: number, logDir: string): Promise<boolean> {
  while (performance.now() - t0 < plan.timeoutMs) {
    if (watcher.failed) throw watcher.failed;
    const dead = shards.find((sh) => sh.child.exitCode !== null);
    if (dead) throw new Error(`shard ${dead.name} exited (${dead.child.exitCode}); see ${logDir}/${dead.name}.log`);
    if (watcher.done.size >= plan.n) return true;
    await sleep(250);
  }
  return false;
}

async function shardLeases(client: KubeClient): Promise<Array<{ name: string; holder: string }>> {
  const list = await client.request<{ items: Array<KubeObject & { spec?: { holderIdentity?: string } }> }>('GET', resourcePath(LEASES, 'default'));
  return list.items.filter((l) => l.metadata.name.startsWith('tenantdb-operator')).map((l) => ({ name: l.metadata.name, holder: l.spec?.holderIdentity ?? '' }));
}

/** The converged window: apiserver writes, resourceVersion changes and reconciles per shard while nothing changes. */
async function convergedWindow(kc: KubeConfig, watcher: Watcher, shards: Shard[], plan: Plan) {
  log(`converged window: ${plan.windowMs} ms with a ${plan.syncS} s sync period`);
  const start = writeCounts(await apiserverMetrics(kc));
  const modifiedBefore = watcher.modified;
  const before = await Promise.all(shards.map((sh) => reconcilesOf(sh.metricsPort)));
  await sleep(plan.windowMs);
  const writes = diff(start, writeCounts(await apiserverMetrics(kc)));
  const after = await Promise.all(shards.map((sh) => reconcilesOf(sh.metricsPort)));
  return {
    writes,
    modified: watcher.modified - modifiedBefore,
    tenantDatabaseReconciles: shards.map((_sh, i) => (after[i]?.tenantdatabase ?? 0) - (before[i]?.tenantdatabase ?? 0)),
    procAfter: shards.map((sh) => procStats(sh.child.pid as number)),
  };
}

type PerShard = { name: string; objects: number; tenantDatabaseReconcilesInWindow: number; rssMbAtConvergence: number };

function shardGoals(plan: Plan, converged: boolean, convergeSeconds: number, window: Awaited<ReturnType<typeof convergedWindow>>, perShard: PerShard[], leases: Array<{ holder: string }>): BenchResult['goals'] {
  const maxRss = Math.max(...perShard.map((r) => r.rssMbAtConvergence));
  const windowWrites = totalWrites(window.writes);
  return {
    converged: goal(`all ${plan.n} reconciled for their generation within ${plan.timeoutMs / 1000} s`, round(convergeSeconds, 1), converged),
    writesWhenConverged: goal('0 writes in the converged window', windowWrites + window.modified, windowWrites === 0 && window.modified === 0),
    // The window holds one or two resyncs: a shard reconciles each of its objects once or twice, and
    // would reconcile far more if it held other shards' objects too.
    ownObjectsOnly: goal(
      'each shard resynced its own objects only (objects <= reconciles <= 2 x objects in the window)',
      perShard.map((r) => `${r.name}: ${r.tenantDatabaseReconcilesInWindow}/${r.objects}`).join(', '),
      perShard.every((r) => r.tenantDatabaseReconcilesInWindow >= r.objects && r.tenantDatabaseReconcilesInWindow <= 2 * r.objects),
    ),
    leasePerShard: goal(`${plan.s} leases, each held`, leases.length, leases.length === plan.s && leases.every((l) => l.holder !== '')),
    rssPerShard: goal(`every shard's RSS < ${plan.maxRssMb} MB at convergence`, maxRss, maxRss < plan.maxRssMb),
  };
}

/** Builds the bundle, creates the fleet, runs the shards and measures; the caller's environment is up. */
async function runShards(env: EnvInfo, plan: Plan, dir: string): Promise<Pick<BenchResult, 'results' | 'goals'>> {
  const logDir = path.join(dir, 'logs');
  fs.mkdirSync(logDir, { recursive: true });
  const outdir = path.join(dir, 'dist');
  const b = spawnSync(process.execPath, [path.join(repoRoot, 'scripts', 'bundle.mjs'), '--outdir', outdir], { cwd: repoRoot, encoding: 'utf8' });
  if (b.status !== 0) throw new Error(`bundle failed: ${b.stderr}`);
  const kc = new KubeConfig();
  kc.loadFromFile(env.kubeconfig);
  const client = new KubeClient(kc);
  const watcher = new Watcher(client);
  const shards: Shard[] = [];
  try {
    await installCrds(env);
    const { perShard, createSeconds } = await createFleet(client, plan);
    await watcher.start();
    const writesBefore = writeCounts(await apiserverMetrics(kc));
    const t0 = performance.now();
    for (let i = 0; i < plan.s; i++) {
      const ports: [number, number] = [await freePort(), await freePort()];
      const child = startShard(env, path.join(outdir, 'tenantdb-operator.mjs'), shardName(plan, i), selectorOf(plan, i), `${plan.syncS}s`, logDir, ports);
      shards.push({ name: shardName(plan, i), selector: selectorOf(plan, i), child, metricsPort: ports[0], objects: perShard[i] ?? 0 });
    }
    log(`started ${plan.s} shard processes; waiting for ${plan.n} objects to settle`);
    const converged = await awaitConvergence(watcher, shards, plan, t0, logDir);
    const convergeSeconds = (performance.now() - t0) / 1000;
    log(converged ? `converged in ${convergeSeconds.toFixed(1)} s` : `only ${watcher.done.size}/${plan.n} settled after ${plan.timeoutMs} ms`);
    const atConvergence = shards.map((sh) => procStats(sh.child.pid as number));
    const reconciles = await Promise.all(shards.map((sh) => reconcilesOf(sh.metricsPort)));
    // Trailing work (the last events) finishes before counting.
    await sleep(2_000);
    const writesToConverge = diff(writesBefore, writeCounts(await apiserverMetrics(kc)));
    const leases = await shardLeases(client);
    const window = await convergedWindow(kc, watcher, shards, plan);
    const perShardResults = shards.map((sh, i) => ({
      name: sh.name,
      selector: sh.selector,
      objects: sh.objects,
      tenantDatabaseReconcilesToConverge: reconciles[i]?.tenantdatabase ?? 0,
      tenantDatabaseReconcilesInWindow: window.tenantDatabaseReconciles[i] ?? 0,
      rssMiBAtConvergence: atConvergence[i]?.rssMiB,
      rssMbAtConvergence: round(((atConvergence[i]?.rssMiB ?? 0) * 1024 * 1024) / 1e6, 1),
      rssMiBAfterWindow: window.procAfter[i]?.rssMiB,
      cpuSeconds: window.procAfter[i]?.cpuSeconds,
    }));
    const results = {
      createSeconds: round(createSeconds, 1),
      converged,
      settledObjects: watcher.done.size,
      convergeSeconds: round(convergeSeconds, 1),
      shards: perShardResults,
      leases,
      writesToConverge: { ...writesToConverge, total: totalWrites(writesToConverge), perObject: round(totalWrites(writesToConverge) / plan.n, 2) },
      convergedWindow: { seconds: plan.windowMs / 1000, writes: { ...window.writes, total: totalWrites(window.writes) }, resourceVersionChanges: window.modified },
    };
    return { results, goals: shardGoals(plan, converged, convergeSeconds, window, perShardResults, leases) };
  } finally {
    watcher.stop();
    for (const sh of shards) sh.child.kill('SIGTERM');
    await Promise.all(shards.map((sh) => (sh.child.exitCode !== null ? undefined : Promise.race([new Promise((r) => sh.child.once('exit', r)), sleep(15_000).then(() => sh.child.kill('SIGKILL'))]))));
    client.close();
  }
}

export const shardsBench: Benchmark = {
  name: 'shards',
  description: 'N TenantDatabases (external servers) over S shard processes (--watch-label-selector): convergence, per-shard RSS, 0 writes when converged',
  flags: {
    'shard-objects': { default: 4000, help: 'TenantDatabase objects' },
    'shard-processes': { default: 4, help: 'shards (operator processes); the last one takes the unlabelled objects' },
    'shard-namespaces': { default: 4, help: 'namespaces the objects are spread over' },
    'shard-sync-period-s': { default: 10, help: 'sync period of every shard, seconds (the converged window sees every object again)' },
    'shard-window-ms': { default: 15_000, help: 'converged window in which no write may happen (1-2 sync periods: each object is reconciled once or twice)' },
    'shard-timeout-ms': { default: 300_000, help: 'give up waiting for convergence after this long' },
    'shard-max-rss-mb': { default: 150, help: 'goal: RSS of each shard in MB (10^6 bytes) at convergence' },
  },
  async run(flags: Flags): Promise<BenchResult> {
    const plan: Plan = {
      n: numFlag(flags, this, 'shard-objects'),
      s: Math.max(1, numFlag(flags, this, 'shard-processes')),
      nsCount: Math.max(1, numFlag(flags, this, 'shard-namespaces')),
      syncS: numFlag(flags, this, 'shard-sync-period-s'),
      windowMs: numFlag(flags, this, 'shard-window-ms'),
      timeoutMs: numFlag(flags, this, 'shard-timeout-ms'),
      maxRssMb: numFlag(flags, this, 'shard-max-rss-mb'),
    };
    const image = imageNodeFlags();
    const params = {
      objects: plan.n,
      shards: Array.from({ length: plan.s }, (_, i) => ({ name: shardName(plan, i), selector: selectorOf(plan, i) })),
      namespaces: plan.nsCount,
      syncPeriodSeconds: plan.syncS,
      windowMs: plan.windowMs,
      example: path.relative(repoRoot, EXAMPLE),
      operator: `node ${[...image.args, ''].join(' ')}dist/tenantdb-operator.mjs per shard, as the image runs it${Object.keys(image.env).length ? ` (env ${Object.entries(image.env).map(([k, v]) => `${k}=${v}`).join(' ')})` : ''}, --leader-elect`,
    };
    const { results, goals } = await withEnv(this.name, { arm: false }, (env) => runShards(env, plan, benchDir(this.name)));
    return { name: this.name, params, results, goals, pass: allPass(goals) };
  },
};

export default shardsBench;
