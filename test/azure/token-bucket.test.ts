// Pure arithmetic of the client-side ARM budget: token bucket refill, pauses, re-sync and the ideal
// duration of a burst; plus the Retry-After parsing and request categories the policy relies on.
import { createHttpHeaders } from '@azure/core-rest-pipeline';
import { TokenBucket, idealDurationMs } from '../../src/azure/token-bucket.js';
import { ArmRequestBudget, categoryOf, retryAfterMs, type Ticket } from '../../src/azure/budget.js';

describe('TokenBucket', () => {
  test('starts full, lets capacity through at once, then one token per 1/rate seconds', () => {
    const b = new TokenBucket({ capacity: 3, refillPerSecond: 10 }, 0);
    expect([b.tryTake(0), b.tryTake(0), b.tryTake(0)]).toEqual([0, 0, 0]);
    for (let i = 0; i < 3; i++) b.settle(0);
    expect(b.tryTake(0)).toBe(100);
    expect(b.tryTake(50)).toBe(50);
    expect(b.tryTake(100)).toBe(0);
    expect(b.taken).toBe(4);
  });

  test('never refills beyond capacity', () => {
    const b = new TokenBucket({ capacity: 5, refillPerSecond: 100 }, 0);
    b.tryTake(0);
    b.settle(0);
    expect(b.available(60_000)).toBe(5);
  });

  test('requests still in flight hold their share of capacity: refill the server may have lost is not counted', () => {
    const b = new TokenBucket({ capacity: 4, refillPerSecond: 10 }, 0);
    for (let i = 0; i < 4; i++) expect(b.tryTake(0)).toBe(0);
    // Nothing answered for a second: the requests may not have reached the server, whose full bucket
    // wasted that second's refill, so the mirror must not have refilled either.
    expect(b.available(1000)).toBe(0);
    b.settle(1000);
    b.settle(1000);
    expect(b.available(1000)).toBe(0);
    expect(b.available(1100)).toBeCloseTo(1, 5);
    expect(b.available(5000)).toBe(2);
  });

  test('a pause empties the bucket and refills only after it ends', () => {
    const b = new TokenBucket({ capacity: 10, refillPerSecond: 10 }, 0);
    b.pause(0, 2000);
    expect(b.available(1000)).toBe(0);
    expect(b.tryTake(1000)).toBe(1000 + 100);
    expect(b.available(2500)).toBeCloseTo(5, 5);
  });

  test('drain lowers the level, never below zero', () => {
    const b = new TokenBucket({ capacity: 10, refillPerSecond: 1 }, 0);
    b.drain(0, 4);
    expect(b.available(0)).toBe(6);
    b.drain(0, 100);
    expect(b.available(0)).toBe(0);
  });

  test('rejects nonsense configurations', () => {
    expect(() => new TokenBucket({ capacity: 0, refillPerSecond: 1 }, 0)).toThrow(/invalid bucket/);
    expect(() => new TokenBucket({ capacity: 1, refillPerSecond: 0 }, 0)).toThrow(/invalid bucket/);
  });

  test('ideal duration of a burst: ARM writes 1000 requests take 80 s, scaled bucket 9.8 s', () => {
    expect(idealDurationMs(1000, { capacity: 200, refillPerSecond: 10 })).toBe(80_000);
    expect(idealDurationMs(1000, { capacity: 20, refillPerSecond: 100 })).toBe(9_800);
    expect(idealDurationMs(10, { capacity: 20, refillPerSecond: 100 })).toBe(0);
  });
});

describe('request categories and Retry-After', () => {
  test('methods map to ARM buckets', () => {
    expect(['GET', 'head', 'PUT', 'PATCH', 'POST', 'DELETE'].map(categoryOf)).toEqual(['reads', 'reads', 'writes', 'writes', 'writes', 'deletes']);
  });

  test('Retry-After in seconds, HTTP date, and the millisecond variants', () => {
    expect(retryAfterMs(createHttpHeaders({ 'Retry-After': '7' }))).toBe(7000);
    expect(retryAfterMs(createHttpHeaders({ 'retry-after-ms': '250' }))).toBe(250);
    expect(retryAfterMs(createHttpHeaders({ 'x-ms-retry-after-ms': '40' }))).toBe(40);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs(createHttpHeaders({ 'Retry-After': 'Thu, 01 Jan 2026 00:00:03 GMT' }), now)).toBe(3000);
    expect(retryAfterMs(createHttpHeaders({}))).toBeUndefined();
  });
});

describe('ArmRequestBudget', () => {
  let now = 0;
  const clock = () => now;

  test('holds back the configured headroom', () => {
    const b = new ArmRequestBudget({ clock, headroom: 0.05 });
    expect(b.effective.writes).toEqual({ capacity: 190, refillPerSecond: 9.5 });
    expect(b.effective.reads).toEqual({ capacity: 237, refillPerSecond: 23.75 });
  });

  test('a 429 with Retry-After pauses that category only', async () => {
    now = 0;
    const b = new ArmRequestBudget({ clock, headroom: 0, buckets: { writes: { capacity: 5, refillPerSecond: 10 } } });
    const ticket = await b.acquire('writes');
    b.observe(ticket, { status: 429, headers: createHttpHeaders({ 'Retry-After': '3' }) });
    now = 2999;
    expect(b.available('writes')).toBe(0);
    expect(b.available('reads')).toBe(250);
    now = 3500;
    expect(b.available('writes')).toBeCloseTo(5, 5);
    b.close();
  });

  test('re-syncs down when the server reports fewer remaining tokens, once per discrepancy', async () => {
    now = 0;
    const b = new ArmRequestBudget({ clock, headroom: 0, buckets: { writes: { capacity: 100, refillPerSecond: 1 } } });
    const first = await b.acquire('writes'); // level 99 after take
    const second = await b.acquire('writes'); // level 98, sent before the re-sync
    const header = 'x-ms-ratelimit-remaining-subscription-writes';
    b.observe(first, { status: 200, headers: createHttpHeaders({ [header]: '59' }) });
    expect(b.available('writes')).toBeCloseTo(58, 5);
    now = 1; // the same discrepancy reported for a request sent before the re-sync is not applied twice
    b.observe(second, { status: 200, headers: createHttpHeaders({ [header]: '58' }) });
    expect(b.available('writes')).toBeCloseTo(58.001, 5);
    // a report within one token (the server floors) changes nothing
    now = 2;
    const third = await b.acquire('writes');
    b.observe(third, { status: 200, headers: createHttpHeaders({ [header]: String(Math.floor(third.levelAfterTake)) }) });
    expect(b.available('writes')).toBeCloseTo(third.levelAfterTake, 5);
    b.close();
  });

  test('waiters are served in order and can be aborted', async () => {
    const b = new ArmRequestBudget({ headroom: 0, buckets: { deletes: { capacity: 1, refillPerSecond: 50 } } });
    // Each request is answered right away, which releases its share of capacity.
    const answered = (t: Ticket) => b.settle(t);
    answered(await b.acquire('deletes'));
    const order: number[] = [];
    const ac = new AbortController();
    const a = b.acquire('deletes').then((t) => (answered(t), order.push(1)));
    const aborted = b.acquire('deletes', ac.signal);
    const c = b.acquire('deletes').then((t) => (answered(t), order.push(3)));
    ac.abort(new Error('stop'));
    await expect(aborted).rejects.toThrow('stop');
    await Promise.all([a, c]);
    expect(order).toEqual([1, 3]);
    b.close();
  });
});
