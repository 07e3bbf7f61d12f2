// The case through the controller, against the real apiserver and PostgreSQL: a golang-migrate
// suite in a ConfigMap (no format given) with an empty down script that is never needed and titles with
// dots; status says the format was detected, which tool's history was adopted and up to which version.
// A dirty golang-migrate version is Stalled (AdoptedHistoryDirty) with a Warning Event, and nothing runs.
import type { Manager } from '../../src/runtime/manager.js';
import { createTestNamespace } from '../../dev/env/testenv.js';
import { deleteAllKinds, eventually, run } from '../runtime/helpers.js';
import { installCrds } from '../runtime/helpers.js';
import { CONFIGMAPS, closeKube, cond, createMigration, createTenantDatabase, eventsFor, kube, markReady, startMigrationOperator, waitFor } from './fixtures.js';
import { closeConnections, createTestDatabase, type TestDatabase } from './pg.js';

let ns: string;
let mgr: Manager;
const dbs: TestDatabase[] = [];

beforeAll(async () => {
  await installCrds();
  ns = await createTestNamespace('mig-fmt');
  ({ mgr } = await startMigrationOperator(ns));
});

afterAll(async () => {
  if (ns) await deleteAllKinds(ns);
  await mgr?.stop();
  closeKube();
  await closeConnections();
  if (ns) await run(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  for (const db of dbs) await db.drop().catch(() => undefined);
});

const suite: Record<string, string> = {
  '1_init.up.sql': 'CREATE TABLE t (id int PRIMARY KEY);',
  '1_init.down.sql': 'DROP TABLE t;',
  '2_upgrade_channels_v6.0.up.sql': 'CREATE TABLE channels (id int);',
  '2_upgrade_channels_v6.0.down.sql': '',
  '3_t_idx.up.sql': 'CREATE INDEX CONCURRENTLY t_id ON t (id);',
};

async function database(name: string, oldTool: string): Promise<TestDatabase> {
  const db = await createTestDatabase('fmt');
  dbs.push(db);
  await db.sql(oldTool);
  // What the tool created belongs to the database owner, as when the tool ran as the owner.
  await db.sql(`DO $$ BEGIN IF to_regclass('public.t') IS NOT NULL THEN EXECUTE 'ALTER TABLE public.t OWNER TO ${db.owner}'; END IF; END $$`);
  await createTenantDatabase(ns, name, db);
  await markReady(ns, name);
  return db;
}

test('a golang-migrate ConfigMap is detected, its history adopted and reported in status', async () => {
  const db = await database('gm-db', `CREATE TABLE t (id int PRIMARY KEY); CREATE TABLE schema_migrations (version bigint PRIMARY KEY, dirty boolean NOT NULL); INSERT INTO schema_migrations VALUES (1, false)`);
  await kube().create(CONFIGMAPS, ns, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'gm-steps' }, data: suite });
  await createMigration(ns, 'gm', { databaseRef: { name: 'gm-db' }, sources: [{ configMapRef: { name: 'gm-steps' } }], adopt: { tool: 'golang-migrate' } });
  // The owner cannot read the old table: Stalled, with the GRANT to give.
  const denied = await waitFor(ns, 'gm', { stalled: true, reason: 'AdoptionUnreadable' });
  expect(cond(denied, 'Ready')?.message).toContain(`GRANT SELECT ON "public"."schema_migrations" TO "${db.owner}"`);
  // The GRANT reaches no watch: the Migration looks again by itself (every 30 s).
  await db.sql(`GRANT SELECT ON schema_migrations TO ${db.owner}`);
  const m = await waitFor(ns, 'gm', { ready: true, reason: 'Migrated' }, 90_000);
  expect(m.status).toMatchObject({ appliedVersion: '3', databases: [{ name: 'gm-db', adopted: { tool: 'golang-migrate', version: '1' } }] });
  expect((m.status as Record<string, unknown>).sources).toEqual([{ name: 'gm-steps', format: 'golang-migrate', detected: true }]);
  expect(m.status?.applied?.map((a) => [a.version, a.name])).toEqual([
    ['1', 'init'],
    ['2', 'upgrade_channels_v6.0'],
    ['3', 't_idx'],
  ]);
  expect((await db.sql<{ n: string }>(`SELECT count(*)::text AS n FROM pg_indexes WHERE indexname = 't_id'`))[0]?.n).toBe('1');
});

test('a dirty version in the old table is Stalled with a Warning Event; nothing runs', async () => {
  const db = await database('dirty-db', `CREATE TABLE schema_migrations (version bigint PRIMARY KEY, dirty boolean NOT NULL); INSERT INTO schema_migrations VALUES (2, true)`);
  await db.sql(`GRANT SELECT ON schema_migrations TO ${db.owner}`);
  await kube().create(CONFIGMAPS, ns, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'dirty-steps' }, data: suite });
  await createMigration(ns, 'dirty', { databaseRef: { name: 'dirty-db' }, sources: [{ configMapRef: { name: 'dirty-steps' }, format: 'golang-migrate' }], adopt: { tool: 'golang-migrate' } });
  const m = await waitFor(ns, 'dirty', { stalled: true, reason: 'AdoptedHistoryDirty' });
  expect(cond(m, 'Ready')?.message).toMatch(/golang-migrate's history \(public.schema_migrations\): version 2 is dirty .*migrate force 2/);
  await eventually('warning event', async () => (await eventsFor(ns, 'dirty')).some((e) => e.type === 'Warning' && e.reason === 'AdoptedHistoryDirty'));
  expect(await db.sql(`SELECT 1 FROM pg_tables WHERE tablename = 't'`)).toEqual([]);
});
