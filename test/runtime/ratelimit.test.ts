import { BucketRateLimiter, ItemExponentialFailureRateLimiter, MaxOfRateLimiter, defaultControllerRateLimiter } from '../../src/runtime/ratelimit.js';

describe('ItemExponentialFailureRateLimiter', () => {
  it('doubles from 5 ms per failure and caps at 1000 s, per item', () => {
    const rl = new ItemExponentialFailureRateLimiter<string>(5, 1_000_000);
    expect([1, 2, 3, 4].map(() => rl.when('a'))).toEqual([5, 10, 20, 40]);
    expect(rl.when('b')).toBe(5);
    expect(rl.numRequeues('a')).toBe(4);
    for (let i = 0; i < 100; i++) rl.when('a');
    expect(rl.when('a')).toBe(1_000_000);
    rl.forget('a');
    expect(rl.numRequeues('a')).toBe(0);
    expect(rl.when('a')).toBe(5);
  });

  it('stays at the cap far beyond float range of 2^n', () => {
    const rl = new ItemExponentialFailureRateLimiter<string>(5, 1_000_000);
    for (let i = 0; i < 2000; i++) rl.when('x');
    expect(rl.when('x')).toBe(1_000_000);
  });
});

describe('BucketRateLimiter', () => {
  it('lets a burst through and then spaces items at 1/qps', () => {
    let now = 0;
    const rl = new BucketRateLimiter<string>(10, 100, () => now);
    for (let i = 0; i < 100; i++) expect(rl.when(`k${i}`)).toBe(0);
    expect(rl.when('k100')).toBeCloseTo(100);
    expect(rl.when('k101')).toBeCloseTo(200);
    now = 1000; // ten tokens refilled, two of them already promised
    expect(rl.when('k102')).toBeCloseTo(0 + 0, 5);
  });
});

describe('MaxOfRateLimiter / default', () => {
  it('takes the longest delay of its limiters', () => {
    let now = 0;
    const rl = new MaxOfRateLimiter<string>(new ItemExponentialFailureRateLimiter<string>(5, 1000), new BucketRateLimiter<string>(1, 1, () => now));
    expect(rl.when('a')).toBe(5); // bucket has a token, backoff 5 ms
    expect(rl.when('a')).toBe(1000); // bucket empty: 1 s
    expect(rl.numRequeues('a')).toBe(2);
    rl.forget('a');
    expect(rl.numRequeues('a')).toBe(0);
  });

  it('default limiter starts at 5 ms', () => {
    const rl = defaultControllerRateLimiter<string>();
    expect(rl.when('x')).toBe(5);
    expect(rl.when('x')).toBe(10);
  });
});
