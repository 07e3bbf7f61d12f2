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
import { FINALIZER } from '../../src/api/resources.js';
import { KubeClient, resourcePath, type KubeObject, type ResourceRef, type WatchEvent } from '../../src/runtime/kubeclient.js';
import type { EnvInfo } from '../env/localenv.js';
import { repoRoot } from '../env/paths.js';
import { freePort } from '../env/proc.js';
import { allPass, benchDir, goal, log, numFlag, pool, round, withEnv, type Benchmark, type BenchResult, type Flags } from './common.js';
import { apiserverMetrics, diff, totalWrites, writeCounts } from './controllers-fleet.js';
import { imageNodeFlags, installCrds, procStats } from './production-entrypoint.js';

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
  const childEnv: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'production', ...image.env };
  delete childEnv.NODE_OPTIONS;
  if (image.nodeOptions) childEnv.NODE_OPTIONS = image.nodeOptions;
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
    const n = numFlag(flags, this, 'shard-objects');
    const s = Math.max(1, numFlag(flags, this, 'shard-processes'));
    const nsCount = Math.max(1, numFlag(flags, this, 'shard-namespaces'));
    const syncS = numFlag(flags, this, 'shard-sync-period-s');
    const windowMs = numFlag(flags, this, 'shard-window-ms');
    const timeoutMs = numFlag(flags, this, 'shard-timeout-ms');
    const maxRssMb = numFlag(flags, this, 'shard-max-rss-mb');
    const image = imageNodeFlags();
    const dir = benchDir(this.name);
    const shardNames = Array.from({ length: s }, (_, i) => (i === s - 1 ? 'unsharded' : `shard${i}`));
    const selectorOf = (i: number) => (i === s - 1 ? `!${SHARD_LABEL}` : `${SHARD_LABEL}=shard${i}`);
    const params = {
      objects: n,
      shards: shardNames.map((name, i) => ({ name, selector: selectorOf(i) })),
      namespaces: nsCount,
      syncPeriodSeconds: syncS,
      windowMs,
      example: path.relative(repoRoot, EXAMPLE),
      operator: `node ${[...image.args, ''].join(' ')}dist/tenantdb-operator.mjs per shard, as the image runs it${Object.keys(image.env).length ? ` (env ${Object.entries(image.env).map(([k, v]) => `${k}=${v}`).join(' ')})` : ''}, --leader-elect`,
    };

    return withEnv(this.name, { arm: false }, async (env) => {
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
        const template = YAML.parse(fs.readFileSync(EXAMPLE, 'utf8')) as KubeObject & { spec: Record<string, unknown> };
        const namespaces = Array.from({ length: nsCount }, (_, i) => `bench-shard-${i}`);
        for (const ns of namespaces) await client.create(NAMESPACES, undefined, { metadata: { name: ns } });
        log(`creating ${n} TenantDatabases over ${s} shards`);
        const tc = performance.now();
        const perShard = new Array<number>(s).fill(0);
        await pool(n, 16, async (i) => {
          const name = `${template.metadata.name}-${String(i).padStart(5, '0')}`;
          const ns = namespaces[i % nsCount] as string;
          const shard = i % s;
          perShard[shard] = (perShard[shard] ?? 0) + 1;
          const labels = { ...(template.metadata.labels ?? {}), ...(shard === s - 1 ? {} : { [SHARD_LABEL]: `shard${shard}` }) };
          const spec = { ...structuredClone(template.spec), connectionSecret: { name: `${name}-app` } };
          await client.create(TD, ns, { ...template, metadata: { name, namespace: ns, labels }, spec });
        });
        const createSeconds = (performance.now() - tc) / 1000;
        log(`created ${n} in ${createSeconds.toFixed(1)} s`);
        await watcher.start();

        const writesBefore = writeCounts(await apiserverMetrics(kc));
        const t0 = performance.now();
        for (let i = 0; i < s; i++) {
          const ports: [number, number] = [await freePort(), await freePort()];
          const name = shardNames[i] as string;
          shards.push({ name, selector: selectorOf(i), child: startShard(env, path.join(outdir, 'tenantdb-operator.mjs'), name, selectorOf(i), `${syncS}s`, logDir, ports), metricsPort: ports[0], objects: perShard[i] ?? 0 });
        }
        log(`started ${s} shard processes; waiting for ${n} objects to settle`);
        let converged = false;
        while (performance.now() - t0 < timeoutMs) {
          if (watcher.failed) throw watcher.failed;
          const dead = shards.find((sh) => sh.child.exitCode !== null);
          if (dead) throw new Error(`shard ${dead.name} exited (${dead.child.exitCode}); see ${logDir}/${dead.name}.log`);
          if (watcher.done.size >= n) {
            converged = true;
            break;
          }
          await sleep(250);
        }
        const convergeSeconds = (performance.now() - t0) / 1000;
        log(converged ? `converged in ${convergeSeconds.toFixed(1)} s` : `only ${watcher.done.size}/${n} settled after ${timeoutMs} ms`);
        const atConvergence = shards.map((sh) => ({ name: sh.name, ...procStats(sh.child.pid as number) }));
        const reconcilesAtConvergence = await Promise.all(shards.map((sh) => reconcilesOf(sh.metricsPort)));
        // Trailing work (the last events) finishes before counting.
        await sleep(2_000);
        const writesToConverge = diff(writesBefore, writeCounts(await apiserverMetrics(kc)));
        const leases = (await client.request<{ items: Array<KubeObject & { spec?: { holderIdentity?: string } }> }>('GET', resourcePath(LEASES, 'default'))).items
          .filter((l) => l.metadata.name.startsWith('tenantdb-operator'))
          .map((l) => ({ name: l.metadata.name, holder: l.spec?.holderIdentity ?? '' }));

        log(`converged window: ${windowMs} ms with a ${syncS} s sync period`);
        const windowStart = writeCounts(await apiserverMetrics(kc));
        const modifiedBefore = watcher.modified;
        const reconcilesBefore = await Promise.all(shards.map((sh) => reconcilesOf(sh.metricsPort)));
        await sleep(windowMs);
        const windowWrites = diff(windowStart, writeCounts(await apiserverMetrics(kc)));
        const windowModified = watcher.modified - modifiedBefore;
        const reconcilesAfter = await Promise.all(shards.map((sh) => reconcilesOf(sh.metricsPort)));
        const afterWindow = shards.map((sh) => procStats(sh.child.pid as number));

        const perShardResults = shards.map((sh, i) => {
          const td = (r: Record<string, number>[]) => r[i]?.tenantdatabase ?? 0;
          return {
            name: sh.name,
            selector: sh.selector,
            objects: sh.objects,
            tenantDatabaseReconcilesToConverge: td(reconcilesAtConvergence),
            tenantDatabaseReconcilesInWindow: td(reconcilesAfter) - td(reconcilesBefore),
            rssMiBAtConvergence: atConvergence[i]?.rssMiB,
            rssMbAtConvergence: round(((atConvergence[i]?.rssMiB ?? 0) * 1024 * 1024) / 1e6, 1),
            rssMiBAfterWindow: afterWindow[i]?.rssMiB,
            cpuSeconds: afterWindow[i]?.cpuSeconds,
          };
        });
        const results = {
          createSeconds: round(createSeconds, 1),
          converged,
          settledObjects: watcher.done.size,
          convergeSeconds: round(convergeSeconds, 1),
          shards: perShardResults,
          leases,
          writesToConverge: { ...writesToConverge, total: totalWrites(writesToConverge), perObject: round(totalWrites(writesToConverge) / n, 2) },
          convergedWindow: { seconds: windowMs / 1000, writes: { ...windowWrites, total: totalWrites(windowWrites) }, resourceVersionChanges: windowModified },
        };
        const maxRss = Math.max(...perShardResults.map((r) => r.rssMbAtConvergence));
        const goals = {
          converged: goal(`all ${n} reconciled for their generation within ${timeoutMs / 1000} s`, results.convergeSeconds, converged),
          writesWhenConverged: goal('0 writes in the converged window', totalWrites(windowWrites) + windowModified, totalWrites(windowWrites) === 0 && windowModified === 0),
          // The window holds one or two resyncs: a shard reconciles each of its objects once or twice, and
          // would reconcile far more if it held other shards' objects too.
          ownObjectsOnly: goal(
            'each shard resynced its own objects only (objects <= reconciles <= 2 x objects in the window)',
            perShardResults.map((r) => `${r.name}: ${r.tenantDatabaseReconcilesInWindow}/${r.objects}`).join(', '),
            perShardResults.every((r) => r.tenantDatabaseReconcilesInWindow >= r.objects && r.tenantDatabaseReconcilesInWindow <= 2 * r.objects),
          ),
          leasePerShard: goal(`${s} leases, each held`, leases.length, leases.length === s && leases.every((l) => l.holder !== '')),
          rssPerShard: goal(`every shard's RSS < ${maxRssMb} MB at convergence`, maxRss, maxRss < maxRssMb),
        };
        return { name: this.name, params, results, goals, pass: allPass(goals) };
      } finally {
        watcher.stop();
        for (const sh of shards) sh.child.kill('SIGTERM');
        await Promise.all(shards.map((sh) => (sh.child.exitCode !== null ? undefined : Promise.race([new Promise((r) => sh.child.once('exit', r)), sleep(15_000).then(() => sh.child.kill('SIGKILL'))]))));
        client.close();
      }
    });
  },
};

export default shardsBench;
