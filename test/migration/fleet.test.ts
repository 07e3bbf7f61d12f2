// Rollout over a fleet: 20 TenantDatabases picked by a selector, maxParallel 3 (never more than 3 at
// once, measured from the history timestamps in the databases), a database that starts matching later
// is migrated too, one that stops matching is no longer reported; stopOnFailure stops starting new ones.
import type { Manager } from '../../src/runtime/manager.js';
import { createTestNamespace } from '../../dev/env/testenv.js';
import { deleteAllKinds, eventually, installCrds, run } from '../runtime/helpers.js';
import { TENANT_DATABASES, closeKube, cond, createMigration, createTenantDatabase, getMigration, kube, markReady, startMigrationOperator, waitFor } from './fixtures.js';
import { closeConnections, createTestDatabase, type TestDatabase } from './pg.js';

let ns: string;
let mgr: Manager;
const dbs: TestDatabase[] = [];
const N = 20;
const name = (i: number) => `fleet-${String(i).padStart(2, '0')}`;

beforeAll(async () => {
  await installCrds();
  ns = await createTestNamespace('mig-fleet');
  ({ mgr } = await startMigrationOperator(ns));
  for (let i = 0; i < N; i += 5) {
    const batch = await Promise.all(Array.from({ length: 5 }, () => createTestDatabase('fleet')));
    dbs.push(...batch);
  }
  await Promise.all(dbs.map((db, i) => createTenantDatabase(ns, name(i), db, { 'tenantdb.io/tier': 'standard' })));
  await Promise.all(dbs.map((_, i) => markReady(ns, name(i))));
}, 120_000);

afterAll(async () => {
  if (ns) await deleteAllKinds(ns);
  await mgr?.stop();
  closeKube();
  await closeConnections();
  if (ns) await run(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  for (const db of dbs) await db.drop().catch(() => undefined);
});

/** Most runs at once, from each database's [first step started, last step applied] in its history. */
function maxOverlap(intervals: Array<[number, number]>): number {
  const points = intervals.flatMap(([s, e]) => [
    [s, 1],
    [e, -1],
  ]);
  points.sort((a, b) => (a[0] as number) - (b[0] as number) || (a[1] as number) - (b[1] as number));
  let cur = 0;
  let best = 0;
  for (const [, d] of points) best = Math.max(best, (cur += d as number));
  return best;
}

test('20 databases, maxParallel 3: never more than 3 at once; later matches are migrated, non-matches dropped', async () => {
  await createMigration(ns, 'roll', {
    databaseSelector: { matchLabels: { 'tenantdb.io/tier': 'standard' } },
    rollout: { maxParallel: 3, stopOnFailure: true },
    migrations: [
      { version: '1', name: 'events', up: 'CREATE TABLE events (id bigint, org_id text); SELECT pg_sleep(0.15);' },
      { version: '2', name: 'source', up: 'ALTER TABLE events ADD COLUMN source text; SELECT pg_sleep(0.1);' },
    ],
  });
  let m = await waitFor(ns, 'roll', { ready: true }, 120_000);
  expect(m.status?.databases?.length).toBe(N);
  expect(m.status?.databases?.every((d) => d.phase === 'Succeeded' && d.appliedVersion === '2')).toBe(true);
  expect(m.status?.appliedVersion).toBe('2');
  const intervals: Array<[number, number]> = [];
  for (const db of dbs) {
    const r = await db.sql<{ s: Date; e: Date; n: string }>(`SELECT min(started_at) AS s, max(applied_at) AS e, count(*) AS n FROM tenantdb.schema_migrations WHERE migration = $1`, [`${ns}/roll`]);
    expect(r[0]?.n).toBe('2');
    intervals.push([(r[0]?.s as Date).getTime(), (r[0]?.e as Date).getTime()]);
  }
  const overlap = maxOverlap(intervals);
  expect(overlap).toBeLessThanOrEqual(3);
  expect(overlap).toBeGreaterThanOrEqual(2);

  // One more database starts to match: it is migrated too.
  const late = await createTestDatabase('fleet');
  dbs.push(late);
  await createTenantDatabase(ns, 'fleet-late', late);
  await markReady(ns, 'fleet-late');
  await kube().patch(TENANT_DATABASES, ns, 'fleet-late', 'merge', { metadata: { labels: { 'tenantdb.io/tier': 'standard' } } });
  m = await eventually('late database migrated', async () => {
    const x = await getMigration(ns, 'roll');
    return x.status?.databases?.find((d) => d.name === 'fleet-late')?.phase === 'Succeeded' && cond(x, 'Ready')?.status === 'True' ? x : undefined;
  });
  expect(m.status?.databases?.length).toBe(N + 1);
  expect((await late.sql('SELECT 1 FROM pg_tables WHERE tablename = $1', ['events'])).length).toBe(1);
  // One stops matching: no longer part of the rollout.
  await kube().patch(TENANT_DATABASES, ns, 'fleet-late', 'merge', { metadata: { labels: { 'tenantdb.io/tier': null } } });
  await eventually('late database dropped from status', async () => (await getMigration(ns, 'roll')).status?.databases?.length === N);
}, 180_000);

test('stopOnFailure: a failing database stops the rollout from starting the rest', async () => {
  const failing = dbs[3] as TestDatabase;
  await createMigration(ns, 'fail-roll', {
    databaseSelector: { matchLabels: { 'tenantdb.io/tier': 'standard' } },
    rollout: { maxParallel: 2, stopOnFailure: true },
    migrations: [
      {
        version: '10',
        name: 'guarded',
        up: `CREATE TABLE guarded (id int);\nDO $$ BEGIN IF current_database() = '${failing.database}' THEN RAISE EXCEPTION 'refusing on this one'; END IF; END $$;\nSELECT pg_sleep(0.3);`,
      },
    ],
  });
  const m = await waitFor(ns, 'fail-roll', { stalled: true }, 120_000);
  const byName = new Map((m.status?.databases ?? []).map((d) => [d.name, d]));
  expect(byName.get(name(3))).toMatchObject({ phase: 'Failed', reason: 'StepFailed', failure: { code: 'P0001', line: 2 } });
  const stopped = [...byName.values()].filter((d) => d.reason === 'StoppedOnFailure');
  const applied: number[] = [];
  for (let i = 0; i < N; i++) if ((await (dbs[i] as TestDatabase).sql(`SELECT 1 FROM pg_tables WHERE tablename = 'guarded'`)).length === 1) applied.push(i);
  expect(applied.length).toBeLessThanOrEqual(5);
  expect(stopped.length).toBe(N - applied.length - 1);
  expect(stopped.length).toBeGreaterThanOrEqual(14);
  expect(cond(m, 'Ready')?.message).toMatch(/1 of 20 databases failed; fleet-03: step 10 \(guarded\) failed at line 2/);
}, 180_000);
