// Per-object exponential backoff for work that failed (not work that waits): a deletion whose cleanup
// keeps failing is retried after 5 s, 10 s, 20 s ... up to 5 minutes, not every poll interval, so a
// broken server or a refused DROP costs a handful of attempts an hour instead of hundreds. Keyed by
// namespace/name in a bounded map (objects come and go); a success forgets the key.
import { LruMap } from './lru.js';

export interface BackoffOptions {
  baseMs?: number;
  maxMs?: number;
  /** Keys remembered at most (least recently failed go first). */
  maxKeys?: number;
}

export class FailureBackoff {
  private readonly failures: LruMap<string, number>;
  private readonly baseMs: number;
  private readonly maxMs: number;

  constructor(opts: BackoffOptions = {}) {
    this.baseMs = opts.baseMs ?? 5_000;
    this.maxMs = opts.maxMs ?? 5 * 60_000;
    this.failures = new LruMap(opts.maxKeys ?? 4096);
  }

  /** Records one more failure of `key`; the delay before its next attempt (at least `atLeastMs`). */
  next(key: string, atLeastMs = 0): number {
    const n = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, n);
    const delay = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(n - 1, 30));
    return Math.max(delay, atLeastMs);
  }

  /** The key's work succeeded (or the object is gone): the next failure starts from the base again. */
  reset(key: string): void {
    this.failures.delete(key);
  }
}
