// Token bucket arithmetic, kept free of timers and I/O so it can be tested with an explicit clock.
// ARM throttles each subscription with buckets that hold `capacity` tokens and refill continuously at
// `refillPerSecond`; a request costs one token. The client keeps a mirror of those buckets.

export interface BucketConfig {
  capacity: number;
  refillPerSecond: number;
}

export class TokenBucket {
  private level: number;
  private updatedAt: number;
  private pausedUntil = 0;
  /** Tokens taken so far; lets callers tell how many were taken between two moments. */
  taken = 0;
  /**
   * Requests sent but not yet answered. Until a request reaches the server its token is not spent
   * there, and a full server bucket loses the refill meanwhile; so the mirror keeps
   * `level + inFlight <= capacity`, which holds however late requests arrive.
   */
  private inFlight = 0;

  constructor(
    readonly config: BucketConfig,
    now: number,
  ) {
    if (!(config.capacity >= 1) || !(config.refillPerSecond > 0)) {
      throw new Error(`invalid bucket: capacity ${config.capacity}, refill ${config.refillPerSecond}/s`);
    }
    this.level = config.capacity;
    this.updatedAt = now;
  }

  private refill(now: number): void {
    const from = Math.max(this.updatedAt, this.pausedUntil);
    if (now > from) {
      this.level = Math.min(this.config.capacity - this.inFlight, this.level + ((now - from) * this.config.refillPerSecond) / 1000);
    }
    this.updatedAt = Math.max(this.updatedAt, now);
  }

  /** Tokens available at `now` (fractional). */
  available(now: number): number {
    this.refill(now);
    return now < this.pausedUntil ? 0 : this.level;
  }

  /**
   * Takes one token if there is one and returns 0; otherwise returns how many milliseconds to wait
   * before a token will be there (assuming nobody else takes it first).
   */
  tryTake(now: number): number {
    this.refill(now);
    if (now < this.pausedUntil) return this.pausedUntil - now + this.msUntilOneToken();
    if (this.level >= 1) {
      this.level -= 1;
      this.taken += 1;
      this.inFlight += 1;
      return 0;
    }
    return this.msUntilOneToken();
  }

  private msUntilOneToken(): number {
    return Math.max(1, Math.ceil(((1 - Math.min(this.level, 1)) * 1000) / this.config.refillPerSecond));
  }

  /** The request that took a token got its answer (or failed): its token is spent on the server. */
  settle(now: number): void {
    this.refill(now);
    this.inFlight = Math.max(0, this.inFlight - 1);
  }

  /** The server said the bucket is empty until `until`: drop the tokens and refill only from then on. */
  pause(now: number, until: number): void {
    this.refill(now);
    this.level = 0;
    this.pausedUntil = Math.max(this.pausedUntil, until);
  }

  /** Lowers the level by `tokens` (a discrepancy the server reported), never below zero. */
  drain(now: number, tokens: number): void {
    this.refill(now);
    if (tokens > 0) this.level = Math.max(0, this.level - tokens);
  }
}

/**
 * Milliseconds a bucket needs to let `requests` through back to back, starting full: the first
 * `capacity` go at once, the rest at the refill rate. Used by tests and benchmarks as the ideal.
 */
export function idealDurationMs(requests: number, bucket: BucketConfig): number {
  return (Math.max(0, requests - Math.floor(bucket.capacity)) * 1000) / bucket.refillPerSecond;
}
