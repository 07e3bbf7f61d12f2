import { setTimeout as sleep } from 'node:timers/promises';
import { ItemExponentialFailureRateLimiter } from '../../src/runtime/ratelimit.js';
import { WorkQueue } from '../../src/runtime/workqueue.js';

describe('WorkQueue', () => {
  it('de-duplicates items added before they are taken and keeps FIFO order', async () => {
    const q = new WorkQueue<string>();
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.len()).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    q.done('a');
    q.done('b');
    expect(q.len()).toBe(0);
  });

  it('never hands out an item that is being processed; a re-add waits for done', async () => {
    const q = new WorkQueue<string>();
    q.add('a');
    const first = await q.get();
    q.add('a'); // changed again while processing
    expect(q.len()).toBe(0);
    let second: string | undefined;
    void q.get().then((v) => (second = v));
    await sleep(5);
    expect(second).toBeUndefined();
    q.done(first as string);
    await sleep(0);
    expect(second).toBe('a');
  });

  it('wakes a waiting get when an item arrives', async () => {
    const q = new WorkQueue<string>();
    const p = q.get();
    q.add('x');
    expect(await p).toBe('x');
  });

  it('addAfter delays and keeps the earliest deadline', async () => {
    const q = new WorkQueue<string>();
    q.addAfter('a', 200);
    q.addAfter('a', 20);
    q.addAfter('a', 500);
    expect(q.len()).toBe(0);
    await sleep(60);
    expect(q.len()).toBe(1);
    await sleep(250);
    expect(q.len()).toBe(1); // later deadlines were dropped, not queued again
  });

  it('addRateLimited backs off per item and forget resets it', async () => {
    const q = new WorkQueue<string>({ rateLimiter: new ItemExponentialFailureRateLimiter<string>(20, 1000) });
    q.addRateLimited('a');
    q.addRateLimited('a'); // second failure: 40 ms, but the 20 ms deadline wins
    expect(q.numRequeues('a')).toBe(2);
    await sleep(35);
    expect(q.len()).toBe(1);
    q.forget('a');
    expect(q.numRequeues('a')).toBe(0);
  });

  it('shutDown releases waiters and refuses new work; drain waits for processing', async () => {
    const q = new WorkQueue<string>();
    q.add('a');
    const item = await q.get();
    const waiter = q.get();
    let drained: boolean | undefined;
    const drain = q.shutDownWithDrain(1000).then((d) => (drained = d));
    expect(await waiter).toBeUndefined();
    q.add('b');
    expect(q.len()).toBe(0);
    await sleep(10);
    expect(drained).toBeUndefined();
    q.done(item as string);
    await drain;
    expect(drained).toBe(true);
    expect(await q.get()).toBeUndefined();
  });

  it('drain gives up after its timeout', async () => {
    const q = new WorkQueue<string>();
    q.add('a');
    await q.get();
    expect(await q.shutDownWithDrain(30)).toBe(false);
  });

  it('with concurrent workers, one key is never processed twice at once', async () => {
    const q = new WorkQueue<string>();
    const active = new Set<string>();
    let overlaps = 0;
    let processed = 0;
    const worker = async (): Promise<void> => {
      for (;;) {
        const k = await q.get();
        if (k === undefined) return;
        if (active.has(k)) overlaps++;
        active.add(k);
        await sleep(Math.random() * 3);
        active.delete(k);
        processed++;
        q.done(k);
      }
    };
    const workers = [worker(), worker(), worker(), worker()];
    for (let i = 0; i < 200; i++) {
      q.add(`k${i % 5}`);
      if (i % 10 === 0) await sleep(1);
    }
    await sleep(50);
    await q.shutDownWithDrain(1000);
    await Promise.all(workers);
    expect(overlaps).toBe(0);
    expect(processed).toBeGreaterThanOrEqual(5);
    expect(processed).toBeLessThan(200); // duplicates were merged
  });
});
