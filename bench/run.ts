// `npm run bench [-- --only <name>[,<name>]] [-- --<flag> <value> ...]`: runs the benchmarks and prints
// ONE JSON document on stdout (progress goes to stderr). Each benchmark runs in a child process of its
// own, so heap and RSS numbers are not coloured by the benchmarks before it, and starts (and stops) its
// own private environment. Exit code 1 when a benchmark errors; a missed goal is reported as
// `pass: false` with the numbers, not as a failure of the run.
import { spawn } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { armBudgetBench } from './arm-budget.js';
import type { Benchmark, BenchResult, Flags } from './common.js';
import { log, numFlag, round } from './common.js';
import { NODE_DEFAULTS, imageNodeFlags, runtimeEnv } from './node-runtime.js';
import { controllersFleetBench } from './controllers-fleet.js';
import { migrationOverheadBench } from './migration-overhead.js';
import { migrationSuiteBench } from './migration-suite.js';
import { tenancyBench } from './tenancy.js';
import { workqueueBench } from './workqueue.js';
import { productionEntrypointBench } from './production-entrypoint.js';
import { tenantDatabaseAzureFleetBench } from './tenantdatabase-azure-fleet.js';
import { databaseSyncBench } from './database-sync.js';
import { shardsBench } from './shards.js';
import { maintenanceBench } from './maintenance.js';
import { healthBench } from './health.js';

const BENCHMARKS: Benchmark[] = [workqueueBench, controllersFleetBench, armBudgetBench, migrationOverheadBench, migrationSuiteBench, tenancyBench, tenantDatabaseAzureFleetBench, databaseSyncBench, maintenanceBench, productionEntrypointBench, shardsBench, healthBench];

function usage(): string {
  const lines = ['usage: npm run bench [-- --only <name>[,<name>...]] [--<flag> <value> ...]', '', 'benchmarks and their flags:'];
  for (const b of BENCHMARKS) {
    lines.push(`  ${b.name}: ${b.description}`);
    for (const [f, s] of Object.entries(b.flags)) lines.push(`      --${f.padEnd(26)} ${s.help} (default ${s.default})`);
  }
  return lines.join('\n') + '\n';
}

function parse(): { only: string[] | undefined; child: string | undefined; help: boolean; flags: Flags } {
  const options: Record<string, { type: 'string' | 'boolean' }> = { only: { type: 'string' }, child: { type: 'string' }, help: { type: 'boolean' } };
  for (const b of BENCHMARKS) for (const f of Object.keys(b.flags)) options[f] = { type: 'string' };
  const { values } = parseArgs({ options, allowPositionals: false, strict: true });
  const v = values as Record<string, string | boolean | undefined>;
  const only = typeof v.only === 'string' ? v.only.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
  return { only, child: typeof v.child === 'string' ? v.child : undefined, help: v.help === true, flags: v };
}

/** Child mode: run one benchmark in this process and print its result as JSON. */
async function runChild(name: string, flags: Flags): Promise<number> {
  const bench = BENCHMARKS.find((b) => b.name === name);
  if (!bench) throw new Error(`unknown benchmark ${name}`);
  try {
    const result = await bench.run(flags);
    process.stdout.write(JSON.stringify(result) + '\n');
    return 0;
  } catch (err) {
    process.stderr.write(`bench ${name}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.stdout.write(JSON.stringify({ error: err instanceof Error ? err.message : String(err) }) + '\n');
    return 1;
  }
}

/** Set when SIGINT/SIGTERM arrived: the running benchmark cleans up, the rest are skipped. */
let interrupted: NodeJS.Signals | undefined;

function runInChild(bench: Benchmark, argv: string[], flags: Flags): Promise<{ result?: BenchResult; error?: string }> {
  const self = fileURLToPath(import.meta.url);
  const node = bench.imageRuntimeFlag && numFlag(flags, bench, bench.imageRuntimeFlag) === 1 ? imageNodeFlags() : NODE_DEFAULTS;
  const childArgs = [...node.args, '--import', 'tsx', '--expose-gc', self, '--child', bench.name, ...argv];
  return new Promise((resolve) => {
    // With node's defaults the child keeps this process's environment, NODE_OPTIONS included (a profile).
    const child = spawn(process.execPath, childArgs, { stdio: ['ignore', 'pipe', 'inherit'], env: node === NODE_DEFAULTS ? process.env : runtimeEnv(node) });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => (out += d));
    const forward = (sig: NodeJS.Signals) => {
      interrupted = sig;
      child.kill(sig);
    };
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    child.on('close', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0) {
        let message: string | undefined;
        try {
          message = (JSON.parse(line) as { error?: string }).error;
        } catch {
          /* no JSON: the process died */
        }
        return resolve({ error: message ?? `benchmark process exited with ${signal ?? code}` });
      }
      try {
        resolve({ result: JSON.parse(line) as BenchResult });
      } catch {
        resolve({ error: `benchmark printed no result: ${out.slice(0, 500)}` });
      }
    });
  });
}

async function main(): Promise<number> {
  const { only, child, help, flags } = parse();
  if (help) {
    process.stdout.write(usage());
    return 0;
  }
  if (child) return runChild(child, flags);

  const unknown = (only ?? []).filter((n) => !BENCHMARKS.some((b) => b.name === n));
  if (unknown.length) {
    process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')}\n\n${usage()}`);
    return 2;
  }
  const selected = BENCHMARKS.filter((b) => !only || only.includes(b.name));
  // Everything but --only goes to the children.
  const argv: string[] = [];
  for (const [k, v] of Object.entries(flags)) if (k !== 'only' && k !== 'child' && k !== 'help' && typeof v === 'string') argv.push(`--${k}`, v);

  const t0 = performance.now();
  const benchmarks: Array<BenchResult | { name: string; error: string; pass: false }> = [];
  let errors = 0;
  for (const b of selected) {
    if (interrupted) {
      log(`=== ${b.name}: skipped (${interrupted})`);
      benchmarks.push({ name: b.name, error: `skipped after ${interrupted}`, pass: false });
      errors++;
      continue;
    }
    log(`=== ${b.name}: ${b.description}`);
    const tb = performance.now();
    const { result, error } = await runInChild(b, argv, flags);
    const secs = round((performance.now() - tb) / 1000, 1);
    if (result) {
      benchmarks.push({ ...result, wallSeconds: secs } as BenchResult);
      log(`=== ${b.name}: ${result.pass ? 'PASS' : 'goals missed'} in ${secs} s`);
    } else {
      errors++;
      benchmarks.push({ name: b.name, error: error ?? 'unknown error', pass: false });
      log(`=== ${b.name}: ERROR ${error} after ${secs} s`);
    }
  }
  const doc = {
    node: process.version,
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memGiB: round(os.totalmem() / 1024 ** 3, 1), platform: `${os.platform()} ${os.release()}` },
    startedAt: new Date(Date.now() - (performance.now() - t0)).toISOString(),
    wallSeconds: round((performance.now() - t0) / 1000, 1),
    benchmarks,
  };
  process.stdout.write(JSON.stringify(doc, null, 2) + '\n');
  if (interrupted) return 130;
  return errors > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
    // Keep-alive sockets or stray timers of a benchmark must not keep the run alive.
    setTimeout(() => process.exit(code), 500).unref();
  },
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
