// Migration runs as tracked background tasks, one per (Migration, database): a run can take minutes, so
// the reconcile starts it here and returns at once, later reconciles report its progress, and its end
// enqueues the Migration again. The key makes a second reconcile find the run instead of starting
// another; the database's advisory lock makes that true across operator processes too.
// What must survive a stale cache is kept here as well (the last failure, annotation values acted on):
// the informer may not show our own status write yet when the next reconcile comes.
import type { RunResult } from '../../src/postgres/migrations/runner.js';
import type { DatabaseFailure } from './status.js';

export interface RunProgress {
  state: 'connecting' | 'waiting-for-lock' | 'running';
  lockHolder?: string | undefined;
  current?: string | undefined;
  done: number;
  total: number;
  startedAt: number;
}

export interface Run {
  progress: RunProgress;
  abort: AbortController;
  promise: Promise<void>;
  /** Set when the run ended. */
  result?: RunResult | { outcome: 'error'; message: string };
  /** Options the run was started with (fingerprint, annotation values), to record with its result. */
  started: { inputs: string; retry: string | undefined; repair: string | undefined; resolve: string | undefined };
}

/** Before its first step and not waiting for a lock: nothing to report that the next moment won't change. */
function isSettingUp(run: Run): boolean {
  return run.progress.current === undefined && run.progress.state !== 'waiting-for-lock';
}

export interface Remembered {
  failure?: DatabaseFailure | undefined;
  repair?: string | undefined;
  resolve?: string | undefined;
  /** Runs in a row that ended with an error before or between steps (no step result), and when the last did. */
  runErrors?: { count: number; at: number; message: string; inputs: string; retry: string | undefined } | undefined;
}

export class MigrationRuns {
  private readonly runs = new Map<string, Run>();
  private readonly memory = new Map<string, Remembered>();

  /** `notify` enqueues the Migration: a run ended, or has news for status (runs past their set-up). */
  constructor(private readonly notify: (migrationKey: string) => void) {}

  private static key(migrationKey: string, database: string): string {
    return `${migrationKey}@${database}`;
  }

  /** The runs of one Migration (ended ones included), with their keys. */
  private runsOf(migrationKey: string): Array<[string, Run]> {
    return [...this.runs.entries()].filter(([k]) => k.startsWith(`${migrationKey}@`));
  }

  get(migrationKey: string, database: string): Run | undefined {
    return this.runs.get(MigrationRuns.key(migrationKey, database));
  }

  /** Runs in progress (not yet ended) for one Migration. */
  activeCount(migrationKey: string): number {
    return this.runsOf(migrationKey).filter(([, r]) => !r.result).length;
  }

  start(
    migrationKey: string,
    database: string,
    started: Run['started'],
    total: number,
    body: (run: Run, signal: AbortSignal) => Promise<RunResult>,
  ): Run {
    const k = MigrationRuns.key(migrationKey, database);
    const existing = this.runs.get(k);
    if (existing && !existing.result) return existing;
    const abort = new AbortController();
    const run: Run = { progress: { state: 'connecting', done: 0, total, startedAt: Date.now() }, abort, started, promise: Promise.resolve() };
    run.promise = body(run, abort.signal)
      .then((r) => {
        run.result = r;
      })
      .catch((err: unknown) => {
        run.result = { outcome: 'error', message: err instanceof Error ? err.message : String(err) };
      })
      .finally(() => this.notify(migrationKey));
    this.runs.set(k, run);
    return run;
  }

  /** The run has left its set-up (its first step started, or it waits for another runner's lock). */
  news(migrationKey: string, run: Run): void {
    if (!run.result) this.notify(migrationKey);
  }

  /**
   * How long status waits for this Migration's runs still setting up (logging in, taking the lock,
   * before their first step), or undefined when none is. The wait is bounded by `quietMs` from a run's
   * start, so a set-up that hangs is reported all the same.
   */
  settingUp(migrationKey: string, quietMs: number, now = Date.now()): number | undefined {
    let wait: number | undefined;
    for (const [, r] of this.runsOf(migrationKey)) {
      if (r.result || !isSettingUp(r)) continue;
      const left = r.progress.startedAt + quietMs - now;
      if (left > 0) wait = Math.max(wait ?? 0, left);
    }
    return wait;
  }

  /** Forgets an ended run once its result is in status. */
  clear(migrationKey: string, database: string): void {
    const k = MigrationRuns.key(migrationKey, database);
    if (this.runs.get(k)?.result) this.runs.delete(k);
  }

  remembered(migrationKey: string, database: string): Remembered {
    return this.memory.get(MigrationRuns.key(migrationKey, database)) ?? {};
  }

  remember(migrationKey: string, database: string, r: Remembered): void {
    const k = MigrationRuns.key(migrationKey, database);
    this.memory.set(k, { ...this.memory.get(k), ...r });
  }

  /** Stops every run of a Migration at the next step boundary (deletion) and waits for them. */
  async abortAll(migrationKey: string): Promise<void> {
    const mine = this.runsOf(migrationKey);
    for (const [, r] of mine) r.abort.abort();
    await Promise.all(mine.map(([, r]) => r.promise));
    for (const [k] of mine) this.runs.delete(k);
    for (const k of [...this.memory.keys()]) if (k.startsWith(`${migrationKey}@`)) this.memory.delete(k);
  }

  async abortEverything(): Promise<void> {
    for (const r of this.runs.values()) r.abort.abort();
    await Promise.all([...this.runs.values()].map((r) => r.promise));
  }
}
