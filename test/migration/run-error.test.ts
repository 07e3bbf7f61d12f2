// A run that ends with an error before any step result (here: the administrator may not make the owner's
// migration login) is tried again with backoff, and status names the error; it used to restart at once,
// several times a second, with status stuck at "starting". Against the real apiserver and PostgreSQL.
import type { Manager } from '../../src/runtime/manager.js';
import { createTestNamespace } from '../../dev/env/testenv.js';
import { ident } from '../../src/postgres/ident.js';
import { deleteAllKinds, metricValue, run, scrape } from '../runtime/helpers.js';
import { installCrds } from '../runtime/helpers.js';
import { closeKube, cond, createMigration, createTenantDatabase, markReady, startMigrationOperator, waitFor, waitForMessage } from './fixtures.js';
import { closeConnections, createTestDatabase, superSql, type TestDatabase } from './pg.js';

let ns: string;
let mgr: Manager;
let metricsPort: number;
const dbs: TestDatabase[] = [];

beforeAll(async () => {
  await installCrds();
  ns = await createTestNamespace('mig-runerr');
  ({ mgr, metricsPort } = await startMigrationOperator(ns));
});

afterAll(async () => {
  if (ns) await deleteAllKinds(ns);
  await mgr?.stop();
  closeKube();
  await closeConnections();
  if (ns) await run(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  for (const db of dbs) await db.drop().catch(() => undefined);
});

test('a run error (no migration login) is retried with backoff, named in status; once fixed, the steps apply', async () => {
  const db = await createTestDatabase('runerr');
  dbs.push(db);
  // The administrator loses ADMIN on the owner: it cannot grant the owner to the migration login.
  await superSql(`REVOKE ADMIN OPTION FOR ${ident(db.owner)} FROM ${ident(db.admin)}`);
  await createTenantDatabase(ns, 'runerr-db', db);
  await markReady(ns, 'runerr-db');
  await createMigration(ns, 'runerr', { databaseRef: { name: 'runerr-db' }, migrations: [{ version: '1', name: 'create_t', up: 'CREATE TABLE t (id int PRIMARY KEY);' }] });

  const m = await waitForMessage(ns, 'runerr', /the last run ended with an error \(.*permission denied.*\); trying again in \d+ s/);
  expect(cond(m, 'Ready')?.reason).toBe('RetryingAfterRunError');
  expect(cond(m, 'Stalled')?.status).toBe('False');
  // Backoff 1 s, 2 s, 4 s...: a few runs in 4 s, not dozens.
  const errors = async () => metricValue(await scrape(metricsPort), 'tenantdb_migration_runs_total', { namespace: ns, migration: 'runerr', outcome: 'error' });
  const before = await errors();
  await new Promise((r) => setTimeout(r, 4_000));
  const inFour = (await errors()) - before;
  expect(inFour).toBeGreaterThanOrEqual(1);
  expect(inFour).toBeLessThanOrEqual(3);

  await superSql(`GRANT ${ident(db.owner)} TO ${ident(db.admin)} WITH ADMIN OPTION`);
  await waitFor(ns, 'runerr', { ready: true, reason: 'Migrated' }, 90_000);
  expect((await db.sql<{ t: string }>(`SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public'`)).map((r) => r.t)).toEqual(['t']);
});
