// The runtime's work queue and rate limiter in-process: a producer adds keys in bursts (as informer
// events arrive) while N async workers take, "reconcile" (one microtask) and finish them, calling the
// rate limiter's forget as the controller does after a success. A slice of the items "fails" and goes
// back through addRateLimited with a per-item backoff only (the overall 10 qps bucket of the default
// limiter would just park them on timers). Measured: adds/s until the queue is drained, the dedup ratio
// (adds per processed item), queue latency (add → get) from the queue's own metrics hook, and the heap
// retained once the queue is drained.
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { defaultControllerRateLimiter, ItemExponentialFailureRateLimiter } from '../src/runtime/ratelimit.js';
import type { QueueMetrics } from '../src/runtime/metrics.js';
import { WorkQueue } from '../src/runtime/workqueue.js';
import { allPass, gc, goal, log, memorySampler, MiB, numFlag, quantile, round, type Benchmark, type BenchResult, type Flags } from './common.js';

/** Small deterministic PRNG (mulberry32), so every run adds the same key sequence. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const workqueueBench: Benchmark = {
  name: 'workqueue',
  description: 'WorkQueue + rate limiter in-process: adds/s, dedup, queue latency, heap',
  flags: {
    'wq-adds': { default: 100_000, help: 'total adds' },
    'wq-keys': { default: 10_000, help: 'distinct keys' },
    'wq-workers': { default: 4, help: 'concurrent workers' },
    'wq-burst': { default: 1_000, help: 'adds per producer burst before yielding to the workers' },
    'wq-fail-every': { default: 100, help: 'every n-th processed item fails and is re-added rate-limited (0: never)' },
    'wq-min-ops': { default: 50_000, help: 'goal: adds/s at least' },
  },
  async run(flags: Flags): Promise<BenchResult> {
    const adds = numFlag(flags, this, 'wq-adds');
    const keyCount = numFlag(flags, this, 'wq-keys');
    const workers = numFlag(flags, this, 'wq-workers');
    const burst = Math.max(1, numFlag(flags, this, 'wq-burst'));
    const failEvery = numFlag(flags, this, 'wq-fail-every');
    const minOps = numFlag(flags, this, 'wq-min-ops');
    const keys = Array.from({ length: keyCount }, (_, i) => `tenant-${i % 16}/db-${i}`);
    const rnd = prng(42);
    const sequence = Uint32Array.from({ length: adds }, () => Math.floor(rnd() * keyCount));

    // Warm-up round (JIT), then the measured round on a fresh queue.
    await runOnce(Math.min(adds, 10_000));
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    const sampler = memorySampler(50);
    const r = await runOnce(adds);
    const peaks = sampler.stop();
    gc();
    const heapAfter = process.memoryUsage().heapUsed;

    const opsPerSec = adds / (r.elapsedMs / 1000);
    const lat = r.latenciesMs.sort((a, b) => a - b);
    const results = {
      elapsedMs: round(r.elapsedMs, 1),
      opsPerSec: Math.round(opsPerSec),
      adds,
      accepted: r.accepted,
      processed: r.processed,
      retried: r.retried,
      dedupRatio: round(adds / r.processed, 3),
      dedupedFraction: round(1 - r.processed / adds, 4),
      queueLatencyMs: { p50: round(quantile(lat, 0.5), 3), p99: round(quantile(lat, 0.99), 3), max: round(lat[lat.length - 1] ?? NaN, 3) },
      rateLimiterOpsPerSec: Math.round(rateLimiterOps(keys, adds)),
      heapDeltaMiB: round((heapAfter - heapBefore) / MiB, 2),
      peakHeapUsedMiB: peaks.peakHeapUsedMiB,
    };
    const goals = {
      opsPerSec: goal(`>= ${minOps}`, results.opsPerSec, results.opsPerSec >= minOps),
      heapDeltaMiB: goal('< 5 (nothing retained once drained)', results.heapDeltaMiB, results.heapDeltaMiB < 5),
      everyKeyProcessed: goal('every distinct key added is processed at least once', r.distinctProcessed, r.distinctProcessed === r.distinctAdded),
    };
    return { name: this.name, params: { adds, keys: keyCount, workers, burst, failEvery }, results, goals, pass: allPass(goals) };

    async function runOnce(n: number) {
      const latenciesMs: number[] = [];
      const metrics: QueueMetrics = {
        add: () => void accepted++,
        depth: () => undefined,
        retry: () => undefined,
        queued: (s) => latenciesMs.push(s * 1000),
        worked: () => undefined,
        inFlight: () => undefined,
      };
      // Per-item backoff only, 0.1 ms base: failures come back quickly and are processed within the run.
      const queue = new WorkQueue<string>({ metrics, rateLimiter: new ItemExponentialFailureRateLimiter<string>(0.1, 5) });
      let processed = 0;
      let retried = 0;
      let accepted = 0; // adds the queue took (not deduplicated against a dirty key)
      const distinctAdded = new Set<string>();
      const distinctProcessed = new Set<string>();
      let producing = true;
      let resolveDrained!: () => void;
      const drained = new Promise<void>((r) => (resolveDrained = r));
      const checkDrained = () => {
        if (!producing && waitingCount(queue) === 0 && queue.len() === 0 && queue.processingCount() === 0) resolveDrained();
      };
      const worker = async () => {
        for (;;) {
          const key = await queue.get();
          if (key === undefined) return;
          await Promise.resolve(); // the reconcile: one hop through the microtask queue
          processed++;
          distinctProcessed.add(key);
          if (failEvery > 0 && processed % failEvery === 0 && queue.numRequeues(key) < 3) {
            retried++;
            queue.addRateLimited(key);
          } else {
            queue.forget(key);
          }
          queue.done(key);
          checkDrained();
        }
      };
      // The queue's delay timers are unref'd (they must not keep an operator alive); keep this run alive.
      const keepAlive = setInterval(() => undefined, 1_000);
      const started = performance.now();
      const running = Array.from({ length: workers }, () => worker());
      for (let i = 0; i < n; i++) {
        const key = keys[sequence[i] as number] as string;
        queue.add(key);
        distinctAdded.add(key);
        if ((i + 1) % burst === 0) await yieldToLoop();
      }
      producing = false;
      checkDrained();
      await drained;
      const elapsedMs = performance.now() - started;
      clearInterval(keepAlive);
      queue.shutDown();
      await Promise.all(running);
      return { elapsedMs, processed, retried, accepted, latenciesMs, distinctAdded: distinctAdded.size, distinctProcessed: distinctProcessed.size };
    }
  },
};

/** Items parked by addAfter/addRateLimited (the queue keeps them private; the drain check needs them). */
function waitingCount(queue: WorkQueue<string>): number {
  return (queue as unknown as { waiting: Map<string, unknown> }).waiting.size;
}

/** when()+forget() pairs per second of the default controller rate limiter over `keys`. */
function rateLimiterOps(keys: string[], n: number): number {
  const rl = defaultControllerRateLimiter<string>();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const k = keys[i % keys.length] as string;
    rl.when(k);
    rl.forget(k);
  }
  return n / ((performance.now() - t0) / 1000);
}

export default workqueueBench;
