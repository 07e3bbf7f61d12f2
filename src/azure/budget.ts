// Client-side ARM request budget. ARM throttles every subscription with token buckets (per category:
// reads, writes, deletes) and answers 429 once one is empty. The operator mirrors those buckets so
// that it waits locally instead of earning 429s: every SDK request — each retry included, since the
// policy sits per-retry — takes a token before it leaves the process. The mirror follows the server:
// a 429's Retry-After pauses the bucket, and `x-ms-ratelimit-remaining-subscription-*` headers lower
// it when the server reports fewer tokens than the mirror expected (other clients share the
// subscription's buckets). A request's token also stays "in flight" until its answer arrives, so that a
// request delayed on its way cannot meet a server bucket that lost refill while full (token-bucket.ts).
import type { PipelinePolicy, PipelineRequest, PipelineResponse } from '@azure/core-rest-pipeline';
import { TokenBucket, type BucketConfig } from './token-bucket.js';
import type { ArmMetrics } from './metrics.js';
import { categoryOf, type RequestCategory } from './request-category.js';
import { LruMap } from '../runtime/lru.js';

export { categoryOf, type RequestCategory };

export type BudgetConfig = Record<RequestCategory, BucketConfig>;

/** ARM's documented per-subscription buckets (token bucket algorithm, regional). */
export const ARM_SUBSCRIPTION_BUCKETS: Readonly<BudgetConfig> = {
  reads: { capacity: 250, refillPerSecond: 25 },
  writes: { capacity: 200, refillPerSecond: 10 },
  deletes: { capacity: 200, refillPerSecond: 10 },
};

/** Share of each bucket kept in reserve so that network jitter and clock drift do not tip the server's bucket into 429s. */
export const DEFAULT_HEADROOM = 0.02;

const REMAINING_HEADER: Record<RequestCategory, string> = {
  reads: 'x-ms-ratelimit-remaining-subscription-reads',
  writes: 'x-ms-ratelimit-remaining-subscription-writes',
  deletes: 'x-ms-ratelimit-remaining-subscription-deletes',
};

/** Retry-After of a response in milliseconds (seconds or HTTP date, plus the ms variants ARM also uses). */
export function retryAfterMs(headers: { get(name: string): string | undefined }, now = Date.now()): number | undefined {
  for (const [name, factor] of [['retry-after-ms', 1], ['x-ms-retry-after-ms', 1], ['retry-after', 1000]] as const) {
    const raw = headers.get(name);
    if (raw === undefined || raw.trim() === '') continue;
    const n = Number(raw);
    if (Number.isFinite(n) && n >= 0) return n * factor;
    if (factor === 1000) {
      const date = Date.parse(raw);
      if (Number.isFinite(date)) return Math.max(0, date - now);
    }
  }
  return undefined;
}

export interface Ticket {
  category: RequestCategory;
  /** Level of the bucket right after this request took its token. */
  levelAfterTake: number;
  takenAt: number;
  waitedMs: number;
  settled?: boolean;
}

interface Waiter {
  resolve: (ticket: Ticket) => void;
  reject: (err: unknown) => void;
  enqueuedAt: number;
  onAbort?: () => void;
  signal?: AbortSignal;
}

class CategoryQueue {
  readonly waiters: Waiter[] = [];
  timer: NodeJS.Timeout | undefined;
  /** Responses to requests sent before this moment are not used to re-sync (they were already counted). */
  lastSyncAt = -Infinity;
  constructor(readonly bucket: TokenBucket) {}
}

export interface ArmRequestBudgetOptions {
  /** Bucket sizes of the server; default ARM's. */
  buckets?: Partial<BudgetConfig>;
  /** Fraction of capacity and refill rate held back; default DEFAULT_HEADROOM. */
  headroom?: number;
  clock?: () => number;
}

/** One subscription's mirror of ARM's buckets, with FIFO waiting per category. */
export class ArmRequestBudget {
  private readonly queues: Record<RequestCategory, CategoryQueue>;
  private readonly clock: () => number;
  readonly effective: BudgetConfig;

  constructor(opts: ArmRequestBudgetOptions = {}) {
    this.clock = opts.clock ?? (() => performance.now());
    const headroom = opts.headroom ?? DEFAULT_HEADROOM;
    if (!(headroom >= 0 && headroom < 1)) throw new Error(`headroom must be in [0, 1), got ${headroom}`);
    const server: BudgetConfig = { ...ARM_SUBSCRIPTION_BUCKETS, ...opts.buckets };
    const scale = (b: BucketConfig): BucketConfig => ({
      capacity: Math.max(1, Math.floor(b.capacity * (1 - headroom))),
      refillPerSecond: b.refillPerSecond * (1 - headroom),
    });
    this.effective = { reads: scale(server.reads), writes: scale(server.writes), deletes: scale(server.deletes) };
    const now = this.clock();
    this.queues = {
      reads: new CategoryQueue(new TokenBucket(this.effective.reads, now)),
      writes: new CategoryQueue(new TokenBucket(this.effective.writes, now)),
      deletes: new CategoryQueue(new TokenBucket(this.effective.deletes, now)),
    };
  }

  available(category: RequestCategory): number {
    return this.queues[category].bucket.available(this.clock());
  }

  /** Resolves once a token of `category` is taken; rejects if `signal` aborts first. */
  acquire(category: RequestCategory, signal?: AbortSignal): Promise<Ticket> {
    const q = this.queues[category];
    return new Promise<Ticket>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason ?? new Error('aborted while waiting for the ARM request budget'));
        return;
      }
      const waiter: Waiter = { resolve, reject, enqueuedAt: this.clock() };
      if (signal) {
        waiter.signal = signal;
        waiter.onAbort = () => {
          const i = q.waiters.indexOf(waiter);
          if (i >= 0) q.waiters.splice(i, 1);
          reject(signal.reason ?? new Error('aborted while waiting for the ARM request budget'));
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      q.waiters.push(waiter);
      this.pump(category);
    });
  }

  private pump(category: RequestCategory): void {
    const q = this.queues[category];
    if (q.timer) return;
    while (q.waiters.length > 0) {
      const now = this.clock();
      const waitMs = q.bucket.tryTake(now);
      if (waitMs > 0) {
        q.timer = setTimeout(() => {
          q.timer = undefined;
          this.pump(category);
        }, waitMs);
        return;
      }
      const w = q.waiters.shift()!;
      if (w.onAbort) w.signal?.removeEventListener('abort', w.onAbort);
      w.resolve({ category, levelAfterTake: q.bucket.available(now), takenAt: now, waitedMs: now - w.enqueuedAt });
    }
  }

  /** Feeds a response back: Retry-After on 429 pauses the bucket, remaining-headers re-sync it. */
  observe(ticket: Ticket, response: Pick<PipelineResponse, 'status' | 'headers'>): void {
    const now = this.clock();
    this.adjust(ticket, response, now);
    // Settle last, so a waiter woken by the freed capacity already sees the pause or the re-sync.
    this.settle(ticket, now);
  }

  private adjust(ticket: Ticket, response: Pick<PipelineResponse, 'status' | 'headers'>, now: number): void {
    const q = this.queues[ticket.category];
    if (response.status === 429) {
      let pauseMs = retryAfterMs(response.headers);
      if (pauseMs === undefined) {
        // ARM sends Retry-After with every 429. Should something in between drop it, the SDK's retry
        // policy would give up on the 429 at once; supply the minimum ARM itself uses (1 s) so it waits
        // and retries like for any other throttled answer.
        pauseMs = 1000;
        response.headers.set('retry-after', '1');
      }
      q.bucket.pause(now, now + pauseMs);
      q.lastSyncAt = now;
      return;
    }
    const raw = response.headers.get(REMAINING_HEADER[ticket.category]);
    if (raw === undefined || ticket.takenAt <= q.lastSyncAt) return;
    const reported = Number(raw);
    if (!Number.isFinite(reported)) return;
    // Both numbers describe the moment this request was admitted, so their difference is what other
    // clients (or a restart) consumed; one token of slack absorbs the server's rounding.
    const discrepancy = ticket.levelAfterTake - reported;
    if (discrepancy > 1) {
      q.bucket.drain(now, discrepancy);
      q.lastSyncAt = now;
    }
  }

  /** Marks the ticket's request as answered (idempotent); `observe` does it, failures without a response call it directly. */
  settle(ticket: Ticket, now = this.clock()): void {
    if (ticket.settled) return;
    ticket.settled = true;
    const q = this.queues[ticket.category];
    q.bucket.settle(now);
    // Room for a token may have opened up: re-plan the next waiter instead of waiting out the old timer.
    if (q.waiters.length > 0) {
      if (q.timer) clearTimeout(q.timer);
      q.timer = undefined;
      this.pump(ticket.category);
    }
  }

  /** Stops pending timers and rejects waiters; for shutdown. */
  close(): void {
    for (const q of Object.values(this.queues)) {
      if (q.timer) clearTimeout(q.timer);
      q.timer = undefined;
      for (const w of q.waiters.splice(0)) w.reject(new Error('ARM request budget closed'));
    }
  }
}

// One budget per ARM endpoint and subscription for the whole process, because ARM counts every
// client of the subscription against the same buckets. Options take effect for the first caller only.
// Bounded (least recently used evicted): subscription ids come from specs. An evicted budget stays with the
// clients holding it; only a newcomer for that subscription starts a fresh one.
export const SHARED_BUDGETS_MAX = 256;
const shared = new LruMap<string, ArmRequestBudget>(SHARED_BUDGETS_MAX);

/** Budgets kept now (bounded by SHARED_BUDGETS_MAX). */
export function sharedBudgetCount(): number {
  return shared.size;
}

export function sharedBudget(armEndpoint: string, subscriptionId: string, opts?: ArmRequestBudgetOptions): ArmRequestBudget {
  const key = `${new URL(armEndpoint).origin}|${subscriptionId.toLowerCase()}`;
  let budget = shared.get(key);
  if (!budget) {
    budget = new ArmRequestBudget(opts);
    shared.set(key, budget);
  }
  return budget;
}

export const ARM_BUDGET_POLICY_NAME = 'tenantdbArmRequestBudget';

/** Pipeline policy (position perRetry) that makes every attempt wait for a token. */
export function armBudgetPolicy(budget: ArmRequestBudget, metrics?: ArmMetrics): PipelinePolicy {
  return {
    name: ARM_BUDGET_POLICY_NAME,
    async sendRequest(request: PipelineRequest, next) {
      const category = categoryOf(request.method);
      const ticket = await budget.acquire(category, request.abortSignal as AbortSignal | undefined);
      metrics?.observeBudgetWait(category, ticket.waitedMs / 1000);
      try {
        const response = await next(request);
        budget.observe(ticket, response);
        return response;
      } catch (err) {
        const response = (err as { response?: PipelineResponse }).response;
        if (response) budget.observe(ticket, response);
        else budget.settle(ticket);
        throw err;
      }
    },
  };
}
