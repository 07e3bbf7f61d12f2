// The production entrypoint (dist/tenantdb-operator.mjs: `npm run build`, what the image runs) with the
// real controllers holding N objects of each kind (TenantDatabase, Migration, BackupPolicy, AlertRuleSet)
// on a real apiserver: RSS once the work has settled (goal 150 MB), JS heap, and CPU while idle (goal
// near zero). With --prod-compare-source 1 the same run is repeated with `node --import tsx src/main.ts`
// to show what the bundle saves. Objects are the crds/examples ones under new names; most wait for
// things that do not exist here (servers, Secrets), which is the steady state an operator idles in too.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import YAML from 'yaml';
import { KubeClient, type KubeObject, type ResourceRef } from '../src/runtime/kubeclient.js';
import type { EnvInfo } from '../dev/env/localenv.js';
import { repoRoot } from '../dev/env/paths.js';
import { freePort, runCommand } from '../dev/env/proc.js';
import { summarizeHeapSnapshot } from './heap-summary.js';
import { allPass, benchDir, goal, log, MiB, numFlag, pool, round, withEnv, type Benchmark, type BenchResult, type Flags } from './common.js';
import { NODE_DEFAULTS, imageNodeFlags, runtimeEnv, type NodeRuntime } from './node-runtime.js';

const KINDS: Record<string, ResourceRef> = {
  TenantDatabase: { group: 'tenantdb.io', version: 'v1alpha1', plural: 'tenantdatabases' },
  Migration: { group: 'tenantdb.io', version: 'v1alpha1', plural: 'migrations' },
  BackupPolicy: { group: 'tenantdb.io', version: 'v1alpha1', plural: 'backuppolicies' },
  AlertRuleSet: { group: 'tenantdb.io', version: 'v1alpha1', plural: 'alertrulesets' },
};
const NAMESPACES: ResourceRef = { group: '', version: 'v1', plural: 'namespaces' };
const CLK_TCK = 100;

function examples(): Map<string, KubeObject & { spec: Record<string, unknown> }> {
  const out = new Map<string, KubeObject & { spec: Record<string, unknown> }>();
  const dir = path.join(repoRoot, 'crds', 'examples');
  for (const f of fs.readdirSync(dir).sort()) {
    for (const doc of YAML.parseAllDocuments(fs.readFileSync(path.join(dir, f), 'utf8'))) {
      const o = doc.toJS() as (KubeObject & { spec: Record<string, unknown> }) | null;
      if (o && KINDS[o.kind as string] && !out.has(o.kind as string)) out.set(o.kind as string, o);
    }
  }
  return out;
}

async function kubectl(env: EnvInfo, args: string[]): Promise<void> {
  const res = await runCommand(env.kubectl, ['--kubeconfig', env.kubeconfig, ...args]);
  if (res.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${res.code} ${res.stderr}`);
}

export async function installCrds(env: EnvInfo): Promise<void> {
  const files = fs
    .readdirSync(path.join(repoRoot, 'crds'))
    .filter((f) => /^tenantdb\.io_.*\.yaml$/.test(f))
    .flatMap((f) => ['-f', path.join(repoRoot, 'crds', f)]);
  await kubectl(env, ['apply', '--server-side', '--field-manager=tenantdb-bench', ...files]);
  await kubectl(env, ['wait', '--for=condition=Established', '--timeout=60s', ...files]);
}

/** RSS (VmRSS, and its anonymous / file-backed parts) and CPU seconds (user + system) of a process, from /proc. */
export function procStats(pid: number): { rssMiB: number; rssAnonMiB: number; rssFileMiB: number; cpuSeconds: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { rssMiB: round(kb('VmRSS') / 1024, 1), rssAnonMiB: round(kb('RssAnon') / 1024, 1), rssFileMiB: round(kb('RssFile') / 1024, 1), cpuSeconds: ticks / CLK_TCK };
}

/**
 * Where the resident memory is, from /proc/<pid>/smaps: file-backed (the node binary, mostly), glibc's
 * main heap ([heap], brk), WebAssembly memory (V8 reserves a guard region of several GiB per memory, so
 * any mapping of 4 GiB or more), and the other anonymous mappings (V8's heap pages, thread arenas, mmap'd
 * buffers).
 */
function rssBreakdown(pid: number): Record<string, number> {
  const out = { fileMiB: 0, brkHeapMiB: 0, wasmMiB: 0, otherAnonMiB: 0 };
  let size = 0;
  let kind: keyof typeof out = 'otherAnonMiB';
  for (const line of fs.readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+\s+\S+\s+\S+\s+\S+\s+(\d+)\s*(.*)$/.exec(line);
    if (head) {
      const [, inode, name] = head;
      kind = inode !== '0' ? 'fileMiB' : name === '[heap]' ? 'brkHeapMiB' : 'otherAnonMiB';
      continue;
    }
    const kv = /^(Size|Rss):\s+(\d+) kB/.exec(line);
    if (!kv) continue;
    if (kv[1] === 'Size') size = Number(kv[2]);
    else {
      const k = kind === 'otherAnonMiB' && size >= 4 * 1024 * 1024 ? 'wasmMiB' : kind;
      out[k] += Number(kv[2]) / 1024;
    }
  }
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, round(v, 1)]));
}

/** RSS of a bare `node` with the same flags, idle: what any Node process costs before our code. */
async function bareNodeRssMiB(args: string[]): Promise<number> {
  const child = spawn(process.execPath, [...args, '-e', 'setTimeout(() => undefined, 60_000)'], { stdio: 'ignore' });
  try {
    await sleep(1_500);
    return procStats(child.pid as number).rssMiB;
  } finally {
    child.kill('SIGKILL');
  }
}


async function scrapeText(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

function sumsOf(text: string): Map<string, number> {
  const sums = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_:]+)(?:\{[^}]*\})?\s+([0-9.eE+-]+)$/.exec(line);
    if (m) sums.set(m[1] as string, (sums.get(m[1] as string) ?? 0) + Number(m[2]));
  }
  return sums;
}

async function scrape(port: number): Promise<Map<string, number>> {
  return sumsOf(await scrapeText(port));
}

/** Values of one metric by the value of one of its labels (summed over the other labels). */
function byLabel(text: string, metric: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^([a-z_:]+)\{([^}]*)\}\s+([0-9.eE+-]+)$/.exec(line);
    if (!m || m[1] !== metric) continue;
    const v = new RegExp(`${label}="([^"]*)"`).exec(m[2] as string)?.[1] ?? '';
    out[v] = (out[v] ?? 0) + Number(m[3]);
  }
  return out;
}

function diff(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.keys(b).map((k) => [k, (b[k] ?? 0) - (a[k] ?? 0)]));
}

const mibs = (r: Record<string, number>): Record<string, number> => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, round(v / MiB, 1)]));

interface Run {
  entrypoint: string;
  startupRssMiB: number;
  settled: boolean;
  settleSeconds: number;
  reconciles: number;
  nodeArgs: string[];
  atSettle: {
    rssMiB: number;
    rssAnonMiB: number;
    rssFileMiB: number;
    rssBreakdown: Record<string, number>;
    heapUsedMiB: number;
    heapTotalMiB: number;
    externalMiB: number;
    /** V8's heap spaces: size reserved and size used. */
    heapSpaceSizeMiB: Record<string, number>;
    heapSpaceUsedMiB: Record<string, number>;
    reconcilesByController: Record<string, number>;
  };
  /** The first seconds after the work: V8's memory reducer runs its mark-compacts here, once. */
  afterWork: { seconds: number; cpuMs: number; reconciles: number };
  idle: { seconds: number; cpuPercent: number; reconciles: number; reconcilesByController: Record<string, number>; rssMiB: number };
  heapSnapshot?: ReturnType<typeof summarizeHeapSnapshot>;
}

/** Starts one operator process, lets it take in every object, and measures it settled and idle. */
async function measure(
  env: EnvInfo,
  command: string[],
  logFile: string,
  settleTimeoutMs: number,
  windows: { afterWorkMs: number; idleMs: number },
  snapshotDir?: string,
  node: NodeRuntime = NODE_DEFAULTS,
): Promise<Run> {
  const [metrics, health] = [await freePort(), await freePort()];
  const out = fs.openSync(logFile, 'w');
  const childEnv = runtimeEnv(node, { NODE_ENV: 'production' });
  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...node.args,
      ...(snapshotDir ? ['--heapsnapshot-signal=SIGUSR2'] : []),
      ...command,
      `--kubeconfig=${env.kubeconfig}`,
      `--metrics-bind-address=127.0.0.1:${metrics}`,
      `--health-probe-bind-address=127.0.0.1:${health}`,
      '--log-level=warn',
    ],
    { cwd: snapshotDir ?? repoRoot, stdio: ['ignore', out, out], env: childEnv },
  );
  fs.closeSync(out);
  const pid = child.pid as number;
  try {
    const t0 = performance.now();
    for (;;) {
      if (child.exitCode !== null) throw new Error(`operator exited (${child.exitCode}); see ${logFile}`);
      if ((await fetch(`http://127.0.0.1:${health}/readyz`).then((r) => r.status).catch(() => 0)) === 200) break;
      if (performance.now() - t0 > 120_000) throw new Error('operator not ready in 120 s');
      await sleep(200);
    }
    const startupRssMiB = procStats(pid).rssMiB;
    // Settled: no reconcile for 5 s in a row.
    let last = -1;
    let quietSince = performance.now();
    let settled = false;
    while (performance.now() - t0 < settleTimeoutMs) {
      const n = (await scrape(metrics)).get('controller_runtime_reconcile_total') ?? 0;
      if (n !== last) {
        last = n;
        quietSince = performance.now();
      } else if (performance.now() - quietSince > 5_000) {
        settled = true;
        break;
      }
      await sleep(500);
    }
    const settleSeconds = (performance.now() - t0) / 1000;
    const text0 = await scrapeText(metrics);
    const m = sumsOf(text0);
    const ps = procStats(pid);
    const byController0 = byLabel(text0, 'controller_runtime_reconcile_total', 'controller');
    const atSettle = {
      rssMiB: ps.rssMiB,
      rssAnonMiB: ps.rssAnonMiB,
      rssFileMiB: ps.rssFileMiB,
      rssBreakdown: rssBreakdown(pid),
      heapUsedMiB: round((m.get('nodejs_heap_size_used_bytes') ?? NaN) / MiB, 1),
      heapTotalMiB: round((m.get('nodejs_heap_size_total_bytes') ?? NaN) / MiB, 1),
      externalMiB: round((m.get('nodejs_external_memory_bytes') ?? NaN) / MiB, 1),
      heapSpaceSizeMiB: mibs(byLabel(text0, 'nodejs_heap_space_size_total_bytes', 'space')),
      heapSpaceUsedMiB: mibs(byLabel(text0, 'nodejs_heap_space_size_used_bytes', 'space')),
      reconcilesByController: byController0,
    };
    const { afterWorkMs, idleMs } = windows;
    // Once the work stops, V8's memory reducer sees the allocation rate drop and runs two or three
    // mark-compacts that shrink the heap (trace-gc: "Mark-Compact (reduce)", some 75 ms each with their
    // incremental marking): a cost of ending the work, paid once, measured apart from the idle window.
    const tail0 = procStats(pid).cpuSeconds;
    const rt0 = m.get('controller_runtime_reconcile_total') ?? 0;
    await sleep(afterWorkMs);
    const cpu0 = procStats(pid).cpuSeconds;
    const r0 = (await scrape(metrics)).get('controller_runtime_reconcile_total') ?? 0;
    await sleep(idleMs);
    const end = procStats(pid);
    const text1 = await scrapeText(metrics);
    const r1 = sumsOf(text1).get('controller_runtime_reconcile_total') ?? 0;
    const idleByController = diff(byController0, byLabel(text1, 'controller_runtime_reconcile_total', 'controller'));
    let heap: ReturnType<typeof summarizeHeapSnapshot> | undefined;
    if (snapshotDir) {
      child.kill('SIGUSR2');
      let file: string | undefined;
      for (let i = 0; i < 600 && !file; i++) {
        await sleep(500);
        const done = fs.readdirSync(snapshotDir).filter((f) => f.endsWith('.heapsnapshot'));
        // Written in place: wait until its size stops changing.
        if (done[0]) {
          const a = fs.statSync(path.join(snapshotDir, done[0])).size;
          await sleep(1000);
          if (a > 0 && a === fs.statSync(path.join(snapshotDir, done[0])).size) file = path.join(snapshotDir, done[0]);
        }
      }
      if (file) heap = summarizeHeapSnapshot(file);
    }
    return {
      ...(heap ? { heapSnapshot: heap } : {}),
      entrypoint: command.join(' '),
      nodeArgs: [...node.args, ...(node.nodeOptions ? [`NODE_OPTIONS=${node.nodeOptions}`] : []), ...Object.entries(node.env).map(([k, v]) => `${k}=${v}`)],
      startupRssMiB,
      settled,
      settleSeconds: round(settleSeconds, 1),
      reconciles: last,
      atSettle,
      afterWork: { seconds: afterWorkMs / 1000, cpuMs: Math.round((cpu0 - tail0) * 1000), reconciles: r0 - rt0 },
      // Includes the /metrics scrape at its start (as a Prometheus would cause) and what it allocates.
      idle: { seconds: idleMs / 1000, cpuPercent: round(((end.cpuSeconds - cpu0) / (idleMs / 1000)) * 100, 2), reconciles: r1 - r0, reconcilesByController: idleByController, rssMiB: end.rssMiB },
    };
  } finally {
    child.kill('SIGTERM');
    await Promise.race([new Promise((r) => child.once('exit', r)), sleep(15_000).then(() => child.kill('SIGKILL'))]);
  }
}

export const productionEntrypointBench: Benchmark = {
  name: 'production-entrypoint',
  description: 'the bundled production entrypoint with the real controllers holding N objects of each kind: RSS, heap, idle CPU',
  flags: {
    'prod-objects': { default: 1000, help: 'objects of each of the four kinds' },
    'prod-namespaces': { default: 4, help: 'namespaces they are spread over' },
    'prod-settle-timeout-ms': { default: 180_000, help: 'give up waiting for the reconciles to settle after this long' },
    'prod-after-work-ms': { default: 10_000, help: 'window right after the reconciles settle, reported apart (the memory reducer\'s mark-compacts run there, once)' },
    'prod-idle-ms': { default: 20_000, help: 'idle window in which CPU is measured (the goal), after the after-work window' },
    'prod-max-rss-mb': { default: 150, help: 'goal: RSS in MB (10^6 bytes) once settled' },
    'prod-max-idle-cpu-percent': { default: 1, help: 'goal: CPU % of one core while idle' },
    'prod-compare-source': { default: 0, help: '1: also run `node --import tsx src/main.ts` for comparison' },
    'prod-heap-snapshot': { default: 0, help: '1: take a heap snapshot of the settled operator and summarize it' },
    'prod-env': { default: 0, help: 'environment instead of the Dockerfile ENV of the final stage, comma separated K=V (MALLOC_ARENA_MAX=2); 0: as the image sets it' },
    'prod-node-flags': { default: 0, help: 'node flags instead of those of the Dockerfile ENTRYPOINT, comma separated, leading -- optional (max-semi-space-size=2,max-old-space-size=96); 0: as the image runs it' },
  },
  async run(flags: Flags): Promise<BenchResult> {
    const n = numFlag(flags, this, 'prod-objects');
    const nsCount = Math.max(1, numFlag(flags, this, 'prod-namespaces'));
    const settleTimeoutMs = numFlag(flags, this, 'prod-settle-timeout-ms');
    const idleMs = numFlag(flags, this, 'prod-idle-ms');
    const windows = { afterWorkMs: numFlag(flags, this, 'prod-after-work-ms'), idleMs };
    const maxRssMb = numFlag(flags, this, 'prod-max-rss-mb');
    const maxIdleCpu = numFlag(flags, this, 'prod-max-idle-cpu-percent');
    const compare = numFlag(flags, this, 'prod-compare-source') === 1;
    const snapshot = numFlag(flags, this, 'prod-heap-snapshot') === 1;
    const nodeFlagsOverride = typeof flags['prod-node-flags'] === 'string' && flags['prod-node-flags'] !== '0' ? flags['prod-node-flags'].split(/[\s,]+/).filter(Boolean).map((f) => (f.startsWith('-') ? f : `--${f}`)) : undefined;
    const image = imageNodeFlags();
    const envOverride = typeof flags['prod-env'] === 'string' && flags['prod-env'] !== '0' ? Object.fromEntries(flags['prod-env'].split(',').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])) : undefined;
    const node = { args: nodeFlagsOverride ?? image.args, nodeOptions: nodeFlagsOverride ? undefined : image.nodeOptions, env: envOverride ?? image.env };
    const dir = benchDir(this.name);
    const params = {
      objectsPerKind: n,
      namespaces: nsCount,
      afterWorkMs: windows.afterWorkMs,
      idleMs,
      entrypoint: `node ${[...node.args, ''].join(' ')}dist/tenantdb-operator.mjs (scripts/bundle.mjs), ${nodeFlagsOverride ? 'with --prod-node-flags instead of the image' : 'as the image runs it (Dockerfile ENTRYPOINT flags)'}`,
      ...(node.nodeOptions ? { nodeOptions: node.nodeOptions } : {}),
      ...(Object.keys(node.env).length ? { imageEnv: node.env } : {}),
    };

    return withEnv(this.name, { arm: false }, async (env) => {
      // The entrypoint exactly as `npm run build` makes it (externals resolve from the repository's
      // node_modules); built here because withEnv starts from an empty benchmark folder.
      fs.mkdirSync(path.join(dir, 'logs'), { recursive: true });
      const outdir = path.join(dir, 'dist');
      const b = spawnSync(process.execPath, [path.join(repoRoot, 'scripts', 'bundle.mjs'), '--outdir', outdir, '--metafile'], { cwd: repoRoot, encoding: 'utf8' });
      if (b.status !== 0) throw new Error(`bundle failed: ${b.stderr}`);
      const meta = JSON.parse(fs.readFileSync(path.join(outdir, 'tenantdb-operator.meta.json'), 'utf8')) as { inputs: Record<string, { bytes: number }> };
      const byPackage = new Map<string, number>();
      for (const [file, { bytes }] of Object.entries(meta.inputs)) {
        const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
        const pkg = m ? (m[1] as string) : '(project)';
        byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + bytes);
      }
      const bundle = {
        modules: Object.keys(meta.inputs).length,
        bytesMiB: round(fs.statSync(path.join(outdir, 'tenantdb-operator.mjs')).size / MiB, 2),
        largestInputsMiB: Object.fromEntries([...byPackage].sort((a, b2) => b2[1] - a[1]).slice(0, 8).map(([k, v]) => [k, round(v / MiB, 2)])),
      };
      const kc = new KubeConfig();
      kc.loadFromFile(env.kubeconfig);
      const client = new KubeClient(kc);
      try {
        await installCrds(env);
        const namespaces = Array.from({ length: nsCount }, (_, i) => `bench-prod-${i}`);
        for (const ns of namespaces) await client.create(NAMESPACES, undefined, { metadata: { name: ns } });
        const templates = examples();
        log(`creating ${n} objects of each of ${templates.size} kinds`);
        const tc = performance.now();
        for (const [kind, t] of templates) {
          await pool(n, 16, async (i) => {
            const name = `${t.metadata.name}-${String(i).padStart(5, '0')}`;
            const ns = namespaces[i % nsCount] as string;
            await client.create(KINDS[kind] as ResourceRef, ns, { ...t, metadata: { ...t.metadata, name, namespace: ns } });
          });
        }
        log(`created ${n * templates.size} in ${((performance.now() - tc) / 1000).toFixed(1)} s`);
        const snapshotDir = snapshot ? path.join(dir, 'heap') : undefined;
        if (snapshotDir) fs.mkdirSync(snapshotDir, { recursive: true });
        const bundled = await measure(env, [path.join(outdir, 'tenantdb-operator.mjs')], path.join(dir, 'logs', 'bundle.log'), settleTimeoutMs, windows, snapshotDir, node);
        log(`bundle: ${JSON.stringify(bundled)}`);
        const source = compare ? await measure(env, ['--import', 'tsx', path.join(repoRoot, 'src', 'main.ts')], path.join(dir, 'logs', 'source.log'), settleTimeoutMs, windows) : undefined;
        if (source) log(`source: ${JSON.stringify(source)}`);
        const rssMb = round((bundled.atSettle.rssMiB * MiB) / 1e6, 1);
        const results = { bundle, bareNodeRssMiB: await bareNodeRssMiB(node.args), production: bundled, ...(source ? { sourceWithTsx: source } : {}), kinds: [...templates.keys()] };
        const goals = {
          rssMb: goal(`RSS < ${maxRssMb} MB holding ${n} of each kind`, rssMb, rssMb < maxRssMb),
          idleCpu: goal(`idle CPU < ${maxIdleCpu} % of a core`, bundled.idle.cpuPercent, bundled.idle.cpuPercent < maxIdleCpu),
          settled: goal('reconciles settle (5 s without one)', bundled.settled, bundled.settled),
        };
        return { name: this.name, params, results, goals, pass: allPass(goals) };
      } finally {
        client.close();
      }
    });
  },
};

export default productionEntrypointBench;
