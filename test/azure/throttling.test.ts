// The client-side request budget against the emulator's ARM throttling. ARM's real write bucket
// (200 @ 10/s) makes 1,000 writes an 80 s affair, so both sides are scaled the same way: a write bucket
// of 50 refilling at 50/s, i.e. (1000 - 50) / 50 = 19 s at best. The budget must keep the operator
// clear of every 429, and it must pace (no faster than the bucket allows); how close it comes to the
// bucket's time is a speed goal, measured by `npm run bench -- --only arm-budget` (within 10%), not here.
import { ArmRequestBudget } from '../../src/azure/budget.js';
import { ArmMetrics } from '../../src/azure/metrics.js';
import { idealDurationMs } from '../../src/azure/token-bucket.js';
import { INSIGHTS_API_VERSIONS } from '../../dev/arm-emulator/insights/index.js';
import { SUBSCRIPTION, clientsFor, control, createResourceGroup, rawArm, requestLog, startArmProcess, type PrivateArm } from './fixtures.js';

const RG = 'throttle-rg';
const SCALED_WRITES = { capacity: 50, refillPerSecond: 50 };
const WRITES = 1000;
const CALLERS = 200;

let arm: PrivateArm;

beforeAll(async () => {
  arm = await startArmProcess('throttling');
  await createResourceGroup(clientsFor(arm), RG);
});

afterAll(async () => {
  await arm?.stop();
});

test(`a burst of ${WRITES} writes through the budget earns zero 429s, paced by the bucket`, async () => {
  const metrics = new ArmMetrics();
  const clients = clientsFor(arm, { budget: new ArmRequestBudget({ buckets: { writes: SCALED_WRITES } }), metrics });
  // Warm up so the measurement is of the budget only: the emulator compiles its schema on first use, and
  // concurrent reads open the TLS connections the burst's first writes will reuse.
  await clients.monitor.actionGroups.createOrUpdate(RG, 'warm-up', { location: 'Global', groupShortName: 'warm', enabled: true });
  await Promise.all(Array.from({ length: SCALED_WRITES.capacity + 10 }, () => clients.monitor.actionGroups.get(RG, 'warm-up')));
  // Resetting the throttling settings refills the emulator's buckets; the budget has refilled meanwhile.
  await control(arm, 'PUT', '/throttling', { writes: SCALED_WRITES });
  await new Promise((r) => setTimeout(r, 300));
  const since = new Date().toISOString();
  const started = performance.now();
  // 1,000 writes queued at once, worked off by as many concurrent callers as an operator's reconcile
  // workers would be; starting 1,000 SDK calls in one tick would only measure this process's set-up.
  let next = 0;
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      for (let i = next++; i < WRITES; i = next++) {
        await clients.monitor.actionGroups.createOrUpdate(RG, `burst-${i % 40}`, { location: 'Global', groupShortName: `b${i % 40}`, enabled: true });
      }
    }),
  );
  const elapsed = performance.now() - started;
  const ideal = idealDurationMs(WRITES, SCALED_WRITES);

  const log = await requestLog(arm, since);
  const writes = log.entries.filter((e) => e.method === 'PUT' && /\/actionGroups\/burst-/i.test(e.path));
  expect(writes).toHaveLength(WRITES);
  expect(writes.filter((e) => e.status === 429)).toHaveLength(0);
  expect(log.counts.throttled).toBe(0);
  console.log(`burst of ${WRITES} writes: ${(elapsed / 1000).toFixed(2)} s, ideal ${(ideal / 1000).toFixed(2)} s (ratio ${(elapsed / ideal).toFixed(3)})`);
  expect(elapsed).toBeGreaterThanOrEqual(ideal * 0.95);

  const sent = await metrics.requests.get();
  const puts = sent.values.filter((v) => v.labels.method === 'PUT' && v.labels.resource_type === 'Microsoft.Insights/actionGroups');
  // Every write answered 200/201 once (+ the warm-up); a kept-alive connection the server closed may
  // have cost a retried attempt (status_code "network_error"), a 429 never.
  const answered = puts.filter((v) => v.labels.status_code === '200' || v.labels.status_code === '201');
  expect(answered.reduce((n, v) => n + v.value, 0)).toBe(WRITES + 1);
  expect(puts.filter((v) => v.labels.status_code === '429')).toEqual([]);
}, 60_000);

test('without the budget the emulator answers 429 with Retry-After once the write bucket is empty', async () => {
  // A small, slowly refilling bucket, so that connection set-up cannot spread the requests enough to refill it.
  const SMALL = { capacity: 5, refillPerSecond: 1 };
  await control(arm, 'PUT', '/throttling', { writes: SMALL });
  // A budget far larger than the server's bucket and no retries: every request goes straight out.
  const clients = clientsFor(arm, {
    budget: new ArmRequestBudget({ headroom: 0, buckets: { writes: { capacity: 100_000, refillPerSecond: 100_000 } } }),
    retry: { maxRetries: 0 },
  });
  const results = await Promise.all(
    Array.from({ length: 15 }, (_, i) =>
      rawArm(clients, 'PUT', `/subscriptions/${SUBSCRIPTION}/resourceGroups/${RG}/providers/Microsoft.Insights/actionGroups/flood-${i}`, INSIGHTS_API_VERSIONS.actionGroups, {
        location: 'Global',
        properties: { groupShortName: `f${i}`, enabled: true },
      }),
    ),
  );
  const throttled = results.filter((r) => r.status === 429);
  expect(results.filter((r) => r.status === 201).length).toBeGreaterThanOrEqual(SMALL.capacity);
  expect(throttled.length).toBeGreaterThan(0);
  for (const r of throttled) {
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(r.body).toMatchObject({ error: { code: 'SubscriptionRequestsThrottled' } });
    expect(r.headers.get('x-ms-ratelimit-remaining-subscription-writes')).toBe('0');
  }
});
