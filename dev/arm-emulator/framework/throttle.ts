// ARM's request throttling: token buckets per (subscription, principal) and kind of request. A bucket
// holds `capacity` tokens and regains `refillPerSecond`; each request takes one, and an empty bucket
// answers 429 with Retry-After. Remaining tokens are reported in x-ms-ratelimit-remaining-subscription-*.
import { ArmError } from './errors.js';
import type { RequestKind } from './types.js';

export type BucketName = 'reads' | 'writes' | 'deletes';

export interface BucketSettings {
  capacity: number;
  refillPerSecond: number;
}

export type ThrottleSettings = Record<BucketName, BucketSettings>;

export const defaultThrottleSettings = (): ThrottleSettings => ({
  reads: { capacity: 250, refillPerSecond: 25 },
  writes: { capacity: 200, refillPerSecond: 10 },
  deletes: { capacity: 200, refillPerSecond: 10 },
});

interface Bucket {
  tokens: number;
  at: number;
}

export function bucketFor(kind: RequestKind): BucketName {
  if (kind === 'read' || kind === 'poll') return 'reads';
  return kind === 'delete' ? 'deletes' : 'writes';
}

export class Throttler {
  settings: ThrottleSettings = defaultThrottleSettings();
  private buckets = new Map<string, Bucket>();

  configure(patch: Partial<Record<BucketName, Partial<BucketSettings>>>): ThrottleSettings {
    for (const name of ['reads', 'writes', 'deletes'] as const) {
      const p = patch[name];
      if (p) this.settings[name] = { ...this.settings[name], ...p };
    }
    this.buckets.clear();
    return this.settings;
  }

  reset(): void {
    this.settings = defaultThrottleSettings();
    this.buckets.clear();
  }

  /**
   * Takes a token for the request. Returns the header to add to the response, or throws ARM's 429
   * (code SubscriptionRequestsThrottled) when the bucket is empty.
   */
  take(subscriptionId: string, principal: string, kind: RequestKind, now = Date.now()): Record<string, string> {
    const name = bucketFor(kind);
    const s = this.settings[name];
    const key = `${subscriptionId.toLowerCase()}|${principal}|${name}`;
    const b = this.buckets.get(key) ?? { tokens: s.capacity, at: now };
    b.tokens = Math.min(s.capacity, b.tokens + ((now - b.at) / 1000) * s.refillPerSecond);
    b.at = now;
    this.buckets.set(key, b);
    const header = `x-ms-ratelimit-remaining-subscription-${name}`;
    if (b.tokens < 1) {
      const retryAfter = Math.max(1, Math.ceil((1 - b.tokens) / Math.max(s.refillPerSecond, 0.001)));
      const op = name === 'reads' ? 'read' : name === 'writes' ? 'write' : 'delete';
      throw new ArmError(
        429,
        'SubscriptionRequestsThrottled',
        `Number of '${op}' requests for subscription '${subscriptionId}' actor '${principal}' exceeded. Please try again after '${retryAfter}' seconds after the additional tokens are available.`,
        undefined,
        undefined,
        { 'Retry-After': String(retryAfter), [header]: '0' },
      );
    }
    b.tokens -= 1;
    return { [header]: String(Math.floor(b.tokens)) };
  }
}
