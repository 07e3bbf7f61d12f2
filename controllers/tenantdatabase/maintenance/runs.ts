// Maintenance runs as tracked background tasks, one per TenantDatabase: a run takes as long as its
// window (hours), so the reconcile starts it here and returns at once; later reconciles see it running,
// its end enqueues the TenantDatabase, and the reconcile after that writes the result to status and
// forgets it once status shows it. The database's advisory lock keeps other processes from overlapping.
import type { RunOutcome } from '../../../src/postgres/maintenance/run.js';

const STOP_WAIT_MS = 10_000;

export interface MaintenanceRun {
  trigger: string;
  startedAt: Date;
  abort: AbortController;
  promise: Promise<void>;
  /** Its result went to status, metrics and an Event (once, however many passes it takes to show). */
  recorded?: boolean;
  /** Set when the run ended. */
  result?: { outcome: RunOutcome; finishedAt: Date } | { error: string; finishedAt: Date };
}

export class MaintenanceRuns {
  private readonly runs = new Map<string, MaintenanceRun>();
  private onEnd: (key: string) => void = () => undefined;

  /** Who hears that a run ended (the controller's queue, set at registration). */
  bind(onEnd: (key: string) => void): void {
    this.onEnd = onEnd;
  }

  get(key: string): MaintenanceRun | undefined {
    return this.runs.get(key);
  }

  start(key: string, trigger: string, body: (signal: AbortSignal) => Promise<RunOutcome>): MaintenanceRun {
    const existing = this.runs.get(key);
    if (existing && !existing.result) return existing;
    const abort = new AbortController();
    const run: MaintenanceRun = { trigger, startedAt: new Date(), abort, promise: Promise.resolve() };
    run.promise = body(abort.signal)
      .then((outcome) => {
        run.result = { outcome, finishedAt: new Date() };
      })
      .catch((err: unknown) => {
        run.result = { error: err instanceof Error ? err.message : String(err), finishedAt: new Date() };
      })
      .finally(() => this.onEnd(key));
    this.runs.set(key, run);
    return run;
  }

  /** Forgets an ended run (its result is in status). */
  clear(key: string): void {
    if (this.runs.get(key)?.result) this.runs.delete(key);
  }

  /** Stops a run at its next statement (the TenantDatabase is being deleted) and waits for it. */
  async stop(key: string): Promise<void> {
    const run = this.runs.get(key);
    if (!run) return;
    run.abort.abort();
    // The statement in progress is cancelled; a server that does not answer is not waited for long.
    await Promise.race([run.promise, new Promise((r) => setTimeout(r, STOP_WAIT_MS).unref())]);
    this.runs.delete(key);
  }
}
