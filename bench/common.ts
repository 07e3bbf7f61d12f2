// Shared pieces of the benchmarks: the result shape, flag access, statistics, memory sampling and the
// private local environment each benchmark starts for itself (and always stops again).
import fs from 'node:fs';
import path from 'node:path';
import { down, up, type EnvInfo, type UpOptions } from '../dev/env/localenv.js';
import { repoRoot } from '../dev/env/paths.js';

// Memory helpers live apart (mem.ts) so the operator process of controllers-fleet can use them without
// loading the environment's modules.
export { gc, memory, memorySampler, MiB, round } from './mem.js';

export interface BenchResult {
  name: string;
  params: Record<string, unknown>;
  results: Record<string, unknown>;
  goals: Record<string, { target: string; actual: unknown; pass: boolean }>;
  pass: boolean;
}

/** Flags of `npm run bench -- ...`, as raw strings (`--fleet-objects 200` → { 'fleet-objects': '200' }). */
export type Flags = Record<string, string | boolean | undefined>;

export interface Benchmark {
  name: string;
  description: string;
  /** Flags this benchmark reads, with their defaults (shown by --help). */
  flags: Record<string, { default: number; help: string }>;
  /**
   * The flag (one of `flags`) that, when 1, runs this benchmark's process with the image's node flags and
   * ENV (node-runtime.ts): for a benchmark that hosts the operator's code in its own process.
   */
  imageRuntimeFlag?: string;
  run(flags: Flags): Promise<BenchResult>;
}

export function numFlag(flags: Flags, bench: Benchmark, name: string): number {
  const spec = bench.flags[name];
  if (!spec) throw new Error(`benchmark ${bench.name} has no flag --${name}`);
  const raw = flags[name];
  if (raw === undefined || typeof raw === 'boolean') return spec.default;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number, got ${raw}`);
  return n;
}

export function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

/** Quantile (0..1) of already sorted numbers; nearest-rank. */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i] as number;
}

export function benchDir(name: string): string {
  return path.join(repoRoot, '.local', `bench-${name}`);
}

/**
 * Runs `fn` with a private local environment in `.local/bench-<name>`, stopped again however `fn` ends
 * (and on SIGINT/SIGTERM while it runs).
 */
export async function withEnv<T>(name: string, opts: Omit<UpOptions, 'dir' | 'log'>, fn: (env: EnvInfo) => Promise<T>): Promise<T> {
  const dir = benchDir(name);
  const t0 = performance.now();
  let stopping: Promise<unknown> | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    log(`${sig}: stopping the environment in ${dir}`);
    stopping ??= down(dir).finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    // Fresh state every run: etcd data, PostgreSQL data and certificates of the last run are wiped.
    await down(dir);
    fs.rmSync(dir, { recursive: true, force: true });
    const env = await up({ ...opts, dir, log: (m) => log(`[env ${name}] ${m}`) });
    log(`[env ${name}] up in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return await fn(env);
  } finally {
    const t1 = performance.now();
    await down(dir);
    log(`[env ${name}] down in ${((performance.now() - t1) / 1000).toFixed(1)} s`);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export function goal(target: string, actual: unknown, pass: boolean): { target: string; actual: unknown; pass: boolean } {
  return { target, actual, pass };
}

export function allPass(goals: BenchResult['goals']): boolean {
  return Object.values(goals).every((g) => g.pass);
}

/** Runs `count` tasks with at most `limit` in flight. */
export async function pool(count: number, limit: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(limit, count)) }, async () => {
      for (let i = next++; i < count; i = next++) await task(i);
    }),
  );
}
