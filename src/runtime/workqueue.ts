// A work queue with client-go's guarantees: an item queued many times before it is processed is processed
// once (dirty set), an item being processed is never handed to a second worker (processing set; a re-add
// during processing is queued again on `done`), delayed adds keep the earliest deadline, and failures
// back off through a rate limiter.
import type { QueueMetrics } from './metrics.js';
import { defaultControllerRateLimiter, type RateLimiter } from './ratelimit.js';

export interface WorkQueueOptions<T> {
  rateLimiter?: RateLimiter<T>;
  metrics?: QueueMetrics;
  now?: () => number;
}

export class WorkQueue<T> {
  private items: T[] = [];
  private head = 0;
  private readonly dirty = new Set<T>();
  private readonly processing = new Map<T, number>(); // item → start time
  private readonly addedAt = new Map<T, number>();
  private readonly waiting = new Map<T, { at: number; timer: NodeJS.Timeout }>();
  private readonly getters: Array<(r: T | undefined) => void> = [];
  private drainWaiters: Array<() => void> = [];
  private shuttingDown = false;
  private readonly rateLimiter: RateLimiter<T>;
  private readonly metrics: QueueMetrics | undefined;
  private readonly now: () => number;
  private readonly metricsTimer: NodeJS.Timeout | undefined;
  private readonly stopCollect: (() => void) | undefined;

  constructor(opts: WorkQueueOptions<T> = {}) {
    this.rateLimiter = opts.rateLimiter ?? defaultControllerRateLimiter<T>();
    this.metrics = opts.metrics;
    this.now = opts.now ?? (() => performance.now());
    if (this.metrics?.onCollect) {
      // Computed when scraped: no timer runs while the queue is idle.
      this.stopCollect = this.metrics.onCollect(() => this.reportInFlight());
    } else if (this.metrics) {
      this.metricsTimer = setInterval(() => this.reportInFlight(), 500);
      this.metricsTimer.unref();
    }
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** Items waiting to be handed out (not counting ones in processing or delayed). */
  len(): number {
    return this.items.length - this.head;
  }

  processingCount(): number {
    return this.processing.size;
  }

  add(item: T): void {
    if (this.shuttingDown || this.dirty.has(item)) return;
    this.metrics?.add();
    this.dirty.add(item);
    if (!this.addedAt.has(item)) this.addedAt.set(item, this.now());
    if (this.processing.has(item)) return;
    this.push(item);
  }

  private push(item: T): void {
    const getter = this.getters.shift();
    if (getter) {
      this.take(item);
      getter(item);
      return;
    }
    this.items.push(item);
    this.metrics?.depth(this.len());
  }

  private take(item: T): void {
    this.dirty.delete(item);
    const t = this.now();
    this.processing.set(item, t);
    const added = this.addedAt.get(item);
    this.addedAt.delete(item);
    if (added !== undefined) this.metrics?.queued((t - added) / 1000);
  }

  /** Resolves with the next item, or undefined once the queue shuts down. Call `done` after processing. */
  get(): Promise<T | undefined> {
    if (this.len() > 0) {
      const item = this.items[this.head] as T;
      this.head++;
      if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items = this.items.slice(this.head);
        this.head = 0;
      }
      this.metrics?.depth(this.len());
      this.take(item);
      return Promise.resolve(item);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.getters.push(resolve));
  }

  done(item: T): void {
    const started = this.processing.get(item);
    if (started === undefined) return;
    this.processing.delete(item);
    this.metrics?.worked((this.now() - started) / 1000);
    if (this.dirty.has(item) && !this.shuttingDown) this.push(item);
    if (this.processing.size === 0) {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** Adds `item` after `delayMs`; if it is already waiting, the earlier deadline wins. */
  addAfter(item: T, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) return this.add(item);
    const at = this.now() + delayMs;
    const existing = this.waiting.get(item);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.waiting.delete(item);
      this.add(item);
    }, delayMs);
    timer.unref();
    this.waiting.set(item, { at, timer });
  }

  addRateLimited(item: T): void {
    this.metrics?.retry();
    this.addAfter(item, this.rateLimiter.when(item));
  }

  forget(item: T): void {
    this.rateLimiter.forget(item);
  }

  numRequeues(item: T): number {
    return this.rateLimiter.numRequeues(item);
  }

  /** Stops handing out work; waiting `get` calls resolve undefined. Items in processing may still finish. */
  shutDown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    for (const { timer } of this.waiting.values()) clearTimeout(timer);
    this.waiting.clear();
    this.items = [];
    this.head = 0;
    this.dirty.clear();
    for (const g of this.getters.splice(0)) g(undefined);
    if (this.metricsTimer) clearInterval(this.metricsTimer);
    if (this.stopCollect) {
      this.reportInFlight();
      this.stopCollect();
    }
    this.metrics?.depth(0);
  }

  /** Shuts down and resolves true once every item in processing is done, or false after `timeoutMs`. */
  async shutDownWithDrain(timeoutMs: number): Promise<boolean> {
    this.shutDown();
    if (this.processing.size === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const drained = new Promise<boolean>((resolve) => this.drainWaiters.push(() => resolve(true)));
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const r = await Promise.race([drained, timedOut]);
    clearTimeout(timer);
    return r;
  }

  private reportInFlight(): void {
    const t = this.now();
    let total = 0;
    let longest = 0;
    for (const start of this.processing.values()) {
      const d = (t - start) / 1000;
      total += d;
      longest = Math.max(longest, d);
    }
    this.metrics?.inFlight(total, longest);
  }
}
