// Step Events without flooding: a run of 200 small steps must not post 200 Events (each an apiserver
// write and an etcd fsync, which cost more than the steps themselves). Results are queued and sent by
// one loop at most once per interval; a batch of one is that step's Event, a larger batch one Event
// summing the steps (versions, count, total and slowest duration). Failures are not batched.
import type { StepResult } from '../../src/postgres/migrations/runner.js';

export type EmitFn = (type: 'Normal' | 'Warning', reason: string, note: string) => Promise<void>;

export class StepEvents {
  private queue: StepResult[] = [];
  private sending: Promise<void> | undefined;
  private lastSent = 0;

  constructor(
    private readonly database: string,
    private readonly emit: EmitFn,
    private readonly intervalMs = 1_000,
  ) {}

  add(r: StepResult): void {
    this.queue.push(r);
    this.sending ??= this.loop().finally(() => (this.sending = undefined));
  }

  private wake: (() => void) | undefined;
  private flushing = false;

  /** Sends what is queued at once (end of the run: the outcome Event follows the step Events). */
  async flush(): Promise<void> {
    this.flushing = true;
    this.wake?.();
    while (this.sending) await this.sending;
    if (this.queue.length > 0) await this.sendBatch();
  }

  private async loop(): Promise<void> {
    while (this.queue.length > 0) {
      const wait = this.lastSent + this.intervalMs - Date.now();
      if (wait > 0 && !this.flushing) {
        await new Promise<void>((r) => {
          const t = setTimeout(r, wait);
          t.unref();
          this.wake = () => {
            clearTimeout(t);
            r();
          };
        });
        this.wake = undefined;
      }
      await this.sendBatch();
    }
  }

  private async sendBatch(): Promise<void> {
    const batch = this.queue.splice(0);
    if (batch.length === 0) return;
    this.lastSent = Date.now();
    const down = batch.filter((b) => b.direction === 'down');
    const up = batch.filter((b) => b.direction === 'up');
    for (const [list, reason, verb] of [
      [up, 'StepApplied', 'applied'],
      [down, 'StepReverted', 'reverted'],
    ] as const) {
      if (list.length === 0) continue;
      if (list.length === 1) {
        const r = list[0] as StepResult;
        await this.emit('Normal', reason, `${verb} step ${r.version} (${r.name}) on ${this.database} in ${Math.round(r.durationMs)} ms`);
        continue;
      }
      const total = list.reduce((s, r) => s + r.durationMs, 0);
      const slowest = list.reduce((a, b) => (b.durationMs > a.durationMs ? b : a));
      const first = list[0] as StepResult;
      const last = list[list.length - 1] as StepResult;
      await this.emit(
        'Normal',
        reason,
        `${verb} ${list.length} steps (${first.version} to ${last.version}) on ${this.database} in ${Math.round(total)} ms; slowest ${slowest.version} (${slowest.name}) ${Math.round(slowest.durationMs)} ms`,
      );
    }
  }
}
