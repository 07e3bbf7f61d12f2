// The client-side request budget against the emulator's ARM throttling. ARM's real write bucket
// (200 @ 10/s) makes 1,000 writes an 80 s affair, so both sides are scaled the same way: a write bucket
// of 20 refilling at 100/s, i.e. (1000 - 20) / 100 = 9.8 s at best. The budget must keep the operator
// clear of every 429 and still finish within 10% of that; without the budget the emulator throttles.
import { ArmRequestBudget } from '../../src/azure/budget.js';
import { ArmMetrics } from '../../src/azure/metrics.js';
import { idealDurationMs } from '../../src/azure/token-bucket.js';
import { INSIGHTS_API_VERSIONS } from '../arm-emulator/insights/index.js';
import { SUBSCRIPTION, clientsFor, control, createResourceGroup, rawArm, requestLog, startPrivateArm, type PrivateArm } from './fixtures.js';

const RG = 'throttle-rg';
const SCALED_WRITES = { capacity: 20, refillPerSecond: 100 };
const WRITES = 1000;

let arm: PrivateArm;

beforeAll(async () => {
  arm = await startPrivateArm('throttling');
  await createResourceGroup(clientsFor(arm), RG);
});

afterAll(async () => {
  await arm?.stop();
});

test(`a burst of ${WRITES} writes through the budget earns zero 429s and finishes within 10% of the bucket's time`, async () => {
  const metrics = new ArmMetrics();
  const clients = clientsFor(arm, { budget: new ArmRequestBudget({ buckets: { writes: SCALED_WRITES } }), metrics });
  // Warm up (TLS session, the emulator's schema compilation) so the measurement is of the budget only.
  await clients.monitor.actionGroups.createOrUpdate(RG, 'warm-up', { location: 'Global', groupShortName: 'warm', enabled: true });
  // Resetting the throttling settings refills the emulator's buckets; the budget has refilled meanwhile.
  await control(arm, 'PUT', '/throttling', { writes: SCALED_WRITES });
  await new Promise((r) => setTimeout(r, 300));
  const since = new Date().toISOString();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: WRITES }, (_, i) =>
      clients.monitor.actionGroups.createOrUpdate(RG, `burst-${i % 40}`, { location: 'Global', groupShortName: `b${i % 40}`, enabled: true }),
    ),
  );
  const elapsed = performance.now() - started;
  const ideal = idealDurationMs(WRITES, SCALED_WRITES);

  const log = await requestLog(arm, since);
  const writes = log.entries.filter((e) => e.method === 'PUT' && /\/actionGroups\/burst-/i.test(e.path));
  const byStatus: Record<string, number> = {};
  for (const e of writes) byStatus[`${e.status} ${e.code ?? ''}`] = (byStatus[`${e.status} ${e.code ?? ''}`] ?? 0) + 1;
  const t0 = Date.parse(writes[0]!.time);
  const hist: string[] = [];
  for (let w = 0; w < 30; w++) {
    const inW = writes.filter((e) => Math.floor((Date.parse(e.time) - t0) / 100) === w);
    hist.push(`${w}:${inW.length}/${inW.filter((e) => e.status === 429).length}`);
  }
  console.log(JSON.stringify(byStatus), (performance.now() - started) / 1000, hist.join(' '));
  expect(writes).toHaveLength(WRITES);
  expect(writes.filter((e) => e.status === 429)).toHaveLength(0);
  expect(log.counts.throttled).toBe(0);
  console.log(`burst of ${WRITES} writes: ${(elapsed / 1000).toFixed(2)} s, ideal ${(ideal / 1000).toFixed(2)} s (ratio ${(elapsed / ideal).toFixed(3)})`);
  expect(elapsed).toBeGreaterThanOrEqual(ideal * 0.95);
  expect(elapsed).toBeLessThanOrEqual(ideal * 1.1);

  const sent = await metrics.requests.get();
  const puts = sent.values.filter((v) => v.labels.method === 'PUT' && v.labels.resource_type === 'Microsoft.Insights/actionGroups');
  expect(puts.reduce((n, v) => n + v.value, 0)).toBe(WRITES);
  expect(puts.every((v) => v.labels.status_code === '200' || v.labels.status_code === '201')).toBe(true);
}, 60_000);

test('without the budget the emulator answers 429 with Retry-After once the write bucket is empty', async () => {
  await control(arm, 'PUT', '/throttling', { writes: SCALED_WRITES });
  // A budget far larger than the server's bucket and no retries: every request goes straight out.
  const clients = clientsFor(arm, {
    budget: new ArmRequestBudget({ headroom: 0, buckets: { writes: { capacity: 100_000, refillPerSecond: 100_000 } } }),
    retry: { maxRetries: 0 },
  });
  const results = await Promise.all(
    Array.from({ length: 40 }, (_, i) =>
      rawArm(clients, 'PUT', `/subscriptions/${SUBSCRIPTION}/resourceGroups/${RG}/providers/Microsoft.Insights/actionGroups/flood-${i}`, INSIGHTS_API_VERSIONS.actionGroups, {
        location: 'Global',
        properties: { groupShortName: `f${i}`, enabled: true },
      }),
    ),
  );
  const throttled = results.filter((r) => r.status === 429);
  expect(results.filter((r) => r.status === 201).length).toBeGreaterThanOrEqual(SCALED_WRITES.capacity);
  expect(throttled.length).toBeGreaterThan(0);
  for (const r of throttled) {
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(r.body).toMatchObject({ error: { code: 'SubscriptionRequestsThrottled' } });
    expect(r.headers.get('x-ms-ratelimit-remaining-subscription-writes')).toBe('0');
  }
});
