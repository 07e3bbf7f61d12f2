// The Migration controller against the real apiserver and PostgreSQL, for one database: waiting for the
// TenantDatabase, status mirroring the history, sticky failures and the retry/resolve/repair
// annotations, down with allowDown, ConfigMap sources (with clear errors, and a ~3 MiB set across
// several ConfigMaps), a converged Migration writing nothing, Events and metrics per step.
import type { Manager } from '../../src/runtime/manager.js';
import { createTestNamespace } from '../../dev/env/testenv.js';
import { deleteAllKinds, eventually, metricValue, run, scrape } from '../runtime/helpers.js';
import { installCrds } from '../runtime/helpers.js';
import { resourcePath } from '../../src/runtime/kubeclient.js';
import { CONFIGMAPS, MIGRATIONS, type MigrationObj, closeKube, cond, createMigration, createTenantDatabase, eventsFor, getMigration, kube, markReady, patchMigration, startMigrationOperator, waitFor, waitForMessage } from './fixtures.js';
import { closeConnections, createTestDatabase, type TestDatabase } from './pg.js';

let ns: string;
let mgr: Manager;
let metricsPort: number;
const dbs: TestDatabase[] = [];

async function database(tdName: string): Promise<TestDatabase> {
  const db = await createTestDatabase('ctl');
  dbs.push(db);
  await createTenantDatabase(ns, tdName, db);
  return db;
}

beforeAll(async () => {
  await installCrds();
  ns = await createTestNamespace('mig-ctl');
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

const tables = async (db: TestDatabase) => (await db.sql<{ t: string }>(`SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`)).map((r) => r.t);

test('waits for its TenantDatabase, then applies, mirrors the history in status, with Events and metrics; converged costs no write', async () => {
  await createMigration(ns, 'basic', {
    databaseRef: { name: 'basic-db' },
    migrations: [
      { version: '1', name: 'create_t', up: 'CREATE TABLE t (id int PRIMARY KEY);' },
      { version: '2', name: 'add_v', up: 'ALTER TABLE t ADD COLUMN v text;' },
    ],
  });
  let m = await waitFor(ns, 'basic', { ready: false, reason: 'WaitingForDatabase' });
  expect(cond(m, 'Reconciling')?.status).toBe('True');
  expect(cond(m, 'Ready')?.message).toMatch(/basic-db not found/);
  const db = await database('basic-db');
  await markReady(ns, 'basic-db', false);
  m = await waitFor(ns, 'basic', { ready: false, reason: 'WaitingForDatabase' });
  await eventually('not-ready message', async () => cond(await getMigration(ns, 'basic'), 'Ready')?.message.includes('not Ready yet'));
  expect(await tables(db)).toEqual([]);
  await markReady(ns, 'basic-db');
  m = await waitFor(ns, 'basic', { ready: true, reason: 'Migrated' });
  expect(m.status).toMatchObject({ appliedVersion: '2', latestVersion: '2', databases: [{ name: 'basic-db', phase: 'Succeeded', appliedVersion: '2' }] });
  expect(m.status?.pending).toBeUndefined();
  expect(m.status?.applied?.map((a) => a.version)).toEqual(['1', '2']);
  expect(m.status?.applied?.[0]?.checksum).toMatch(/^[0-9a-f]{64}$/);
  expect(await tables(db)).toEqual(['t']);
  const hist = await db.sql<{ applied_by: string }>('SELECT applied_by FROM tenantdb.schema_migrations');
  expect(hist[0]?.applied_by).toBe(`test-operator as ${db.owner}`);
  const events = await eventually('events', async () => {
    const ev = await eventsFor(ns, 'basic');
    return ev.filter((e) => e.reason === 'StepApplied').length === 2 && ev.some((e) => e.reason === 'Migrated') ? ev : undefined;
  });
  expect(events.find((e) => e.reason === 'StepApplied')?.note).toMatch(/applied step 1 \(create_t\) on basic-db in \d+ ms/);
  const metrics = await scrape(metricsPort);
  expect(metricValue(metrics, 'tenantdb_migration_steps_total', { namespace: ns, migration: 'basic', direction: 'up', result: 'succeeded' })).toBe(2);
  expect(metricValue(metrics, 'tenantdb_migration_step_duration_seconds_count', { namespace: ns, migration: 'basic', direction: 'up', result: 'succeeded' })).toBe(2);
  expect(metricValue(metrics, 'tenantdb_migration_runs_total', { namespace: ns, migration: 'basic', outcome: 'succeeded' })).toBe(1);

  // Converged: a change of the TenantDatabase brings the Migration back; nothing is written.
  const rv = m.metadata.resourceVersion;
  const xmins = await db.sql('SELECT xmin::text, version FROM tenantdb.schema_migrations ORDER BY version');
  await kube().patch({ group: 'tenantdb.io', version: 'v1alpha1', plural: 'tenantdatabases' }, ns, 'basic-db', 'merge', { metadata: { labels: { touched: 'yes' } } });
  await new Promise((r) => setTimeout(r, 1500));
  expect((await getMigration(ns, 'basic')).metadata.resourceVersion).toBe(rv);
  expect(await db.sql('SELECT xmin::text, version FROM tenantdb.schema_migrations ORDER BY version')).toEqual(xmins);
  expect(metricValue(await scrape(metricsPort), 'tenantdb_migration_runs_total', { namespace: ns, migration: 'basic' })).toBe(1);
});

test('a failed step is sticky and clear; tenantdb.io/retry re-runs it once; a spec fix applies it', async () => {
  const db = await database('sticky-db');
  await markReady(ns, 'sticky-db');
  await createMigration(ns, 'sticky', {
    databaseRef: { name: 'sticky-db' },
    migrations: [
      { version: '1', name: 'one', up: 'CREATE TABLE one (id int);' },
      { version: '2', name: 'two', up: 'CREATE TABLE two (id int);\nINSERT INTO nope VALUES (1);' },
      { version: '3', name: 'three', up: 'CREATE TABLE three (id int);' },
    ],
  });
  let m = await waitFor(ns, 'sticky', { stalled: true, reason: 'StepFailed' });
  const ready = cond(m, 'Ready');
  expect(ready?.message).toMatch(/step 2 \(two\) failed at line 2: INSERT INTO nope VALUES \(1\) -- 42P01 relation "nope" does not exist/);
  expect(m.status?.databases?.[0]).toMatchObject({ phase: 'Failed', appliedVersion: '1', pending: ['2', '3'], failure: { version: '2', code: '42P01', line: 2, dirty: false } });
  expect(m.status?.pending).toEqual(['2', '3']);
  expect(await tables(db)).toEqual(['one']);
  const failed = () => scrape(metricsPort).then((t) => metricValue(t, 'tenantdb_migration_steps_total', { namespace: ns, migration: 'sticky', result: 'failed' }));
  expect(await failed()).toBe(1);
  // Not re-run in a loop: requeues and resyncs see the sticky failure.
  await patchMigration(ns, 'sticky', { metadata: { labels: { nudge: '1' } } });
  await new Promise((r) => setTimeout(r, 1500));
  expect(await failed()).toBe(1);
  await patchMigration(ns, 'sticky', { metadata: { annotations: { 'tenantdb.io/retry': 'a' } } });
  await eventually('retried', async () => (await failed()) === 2);
  m = await waitFor(ns, 'sticky', { stalled: true, reason: 'StepFailed' });
  expect(m.status?.databases?.[0]?.failure).toMatchObject({ retry: 'a' });
  await new Promise((r) => setTimeout(r, 1000));
  expect(await failed()).toBe(2);
  const spec = (m as unknown as { spec: { migrations: Array<{ up: string }> } }).spec;
  (spec.migrations[1] as { up: string }).up = 'CREATE TABLE two (id int);';
  await patchMigration(ns, 'sticky', { spec: { migrations: spec.migrations } });
  m = await waitFor(ns, 'sticky', { ready: true });
  expect(m.status?.databases?.[0]?.failure).toBeUndefined();
  expect(await tables(db)).toEqual(['one', 'three', 'two']);
});

test('non-transactional CREATE INDEX CONCURRENTLY; a failing one is dirty until tenantdb.io/resolve', async () => {
  const db = await database('conc-db');
  await markReady(ns, 'conc-db');
  const steps = [
    { version: '1', name: 'table', up: 'CREATE TABLE t (id int, v int); INSERT INTO t SELECT g, g % 2 FROM generate_series(1, 100) g;' },
    { version: '2', name: 'idx', transactional: false, up: 'CREATE INDEX CONCURRENTLY t_id ON t (id);' },
    { version: '3', name: 'uniq', transactional: false, up: 'CREATE UNIQUE INDEX CONCURRENTLY t_v ON t (v);' },
  ];
  await createMigration(ns, 'conc', { databaseRef: { name: 'conc-db' }, migrations: steps });
  let m = await waitFor(ns, 'conc', { stalled: true });
  expect(cond(m, 'Ready')?.reason).toMatch(/^(Dirty|StepFailed)$/);
  expect(m.status?.databases?.[0]?.failure).toMatchObject({ version: '3', dirty: true, code: '23505' });
  expect(cond(m, 'Ready')?.message).toMatch(/tenantdb.io\/resolve/);
  expect((await db.sql<{ state: string }>(`SELECT state FROM tenantdb.schema_migrations WHERE version = '3'`))[0]?.state).toBe('dirty');
  // Fix the data and the script, clean up the invalid index, and say the step left nothing.
  await db.sql('DROP INDEX t_v');
  (steps[2] as { up: string }).up = 'CREATE INDEX CONCURRENTLY t_v ON t (v);';
  await patchMigration(ns, 'conc', { spec: { migrations: steps } });
  m = await waitFor(ns, 'conc', { stalled: true, reason: 'Dirty' });
  await patchMigration(ns, 'conc', { metadata: { annotations: { 'tenantdb.io/resolve': '3=reverted' } } });
  m = await waitFor(ns, 'conc', { ready: true });
  expect(m.status?.databases?.[0]?.resolve).toBe('3=reverted');
  expect((await db.sql<{ n: string }>(`SELECT count(*) AS n FROM pg_index WHERE indrelid = 't'::regclass AND indisvalid`))[0]?.n).toBe('2');
});

test('a changed applied step stops (ChecksumMismatch) until tenantdb.io/repair; down to a target with allowDown', async () => {
  const db = await database('sum-db');
  await markReady(ns, 'sum-db');
  const steps = [
    { version: '1', name: 'a', up: 'CREATE TABLE a (id int);', down: 'DROP TABLE a;' },
    { version: '2', name: 'b', up: 'CREATE TABLE b (id int);', down: 'DROP TABLE b;' },
    { version: '3', name: 'c', up: 'CREATE TABLE c (id int);' },
  ];
  await createMigration(ns, 'sum', { databaseRef: { name: 'sum-db' }, migrations: steps });
  await waitFor(ns, 'sum', { ready: true });
  (steps[0] as { up: string }).up = 'CREATE TABLE a (id int); -- reformatted';
  await patchMigration(ns, 'sum', { spec: { migrations: steps } });
  let m = await waitFor(ns, 'sum', { stalled: true, reason: 'ChecksumMismatch' });
  expect(cond(m, 'Ready')?.message).toMatch(/step 1 changed/);
  await patchMigration(ns, 'sum', { metadata: { annotations: { 'tenantdb.io/repair': '2026-12-01' } } });
  m = await waitFor(ns, 'sum', { ready: true });
  expect(m.status?.databases?.[0]?.repair).toBe('2026-12-01');
  // Down below a step without a down script: Stalled before anything runs.
  await patchMigration(ns, 'sum', { spec: { targetVersion: '1', allowDown: true } });
  m = await waitFor(ns, 'sum', { stalled: true, reason: 'MissingDownScript' });
  expect(await tables(db)).toEqual(['a', 'b', 'c']);
  await patchMigration(ns, 'sum', { spec: { migrations: [...steps.slice(0, 2), { ...steps[2], down: 'DROP TABLE c;' }] } });
  // The down script is not part of the checksum, so no repair is needed for that.
  m = await waitFor(ns, 'sum', { ready: true });
  expect(m.status).toMatchObject({ appliedVersion: '1', latestVersion: '3' });
  expect(await tables(db)).toEqual(['a']);
  const ev = await eventsFor(ns, 'sum');
  expect(ev.filter((e) => e.reason === 'StepReverted').map((e) => e.note.split(' ')[2])).toEqual(expect.arrayContaining(['3', '2']));
  // Without allowDown a lower target is refused.
  await patchMigration(ns, 'sum', { spec: { targetVersion: '3', allowDown: false } });
  await waitFor(ns, 'sum', { ready: true });
  await patchMigration(ns, 'sum', { spec: { targetVersion: '2' } });
  await waitFor(ns, 'sum', { stalled: true, reason: 'DownNotAllowed' });
});

test('ConfigMap sources: a bad key is Stalled naming it; a ~3 MiB set across four ConfigMaps applies', async () => {
  const db = await database('cm-db');
  await markReady(ns, 'cm-db');
  const cm = (name: string, data: Record<string, string>) => kube().create(CONFIGMAPS, ns, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data });
  await cm('bad-steps', { '001_init.up.sql': 'CREATE TABLE init (id int);', 'README.md': 'not a step' });
  await createMigration(ns, 'cms', { databaseRef: { name: 'cm-db' }, sources: [{ configMapRef: { name: 'bad-steps' } }, { configMapRef: { name: 'big-1' } }] });
  let m = await waitFor(ns, 'cms', { ready: false, reason: 'WaitingForSource' });
  expect(cond(m, 'Ready')?.message).toMatch(/ConfigMap big-1 \(spec.sources\) not found/);
  // ~3 MiB: 32 steps of ~100 KiB (a table and a large INSERT each), 8 per ConfigMap.
  const rows = Array.from({ length: 1400 }, (_, i) => `(${i}, '${'x'.repeat(60)}')`).join(',\n');
  let total = 0;
  for (let c = 1; c <= 4; c++) {
    const data: Record<string, string> = {};
    for (let s = 0; s < 8; s++) {
      const v = String(100 + (c - 1) * 8 + s);
      const sql = `CREATE TABLE big_${v} (id int PRIMARY KEY, payload text);\nINSERT INTO big_${v} VALUES\n${rows};\n`;
      total += Buffer.byteLength(sql);
      data[`${v}_big_${v}.up.sql`] = sql;
      data[`${v}_big_${v}.down.sql`] = `DROP TABLE big_${v};`;
    }
    await cm(`big-${c}`, data);
  }
  expect(total).toBeGreaterThan(3 * 1024 * 1024);
  m = await waitForMessage(ns, 'cms', /README/);
  expect(cond(m, 'Ready')?.message).toMatch(/ConfigMap bad-steps key README.md: not a step/);
  // Fixing the ConfigMap (not the Migration) reconciles it.
  await kube().replace(CONFIGMAPS, ns, 'bad-steps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'bad-steps' }, data: { '001_init.up.sql': 'CREATE TABLE init (id int);', '001_init.down.sql': 'DROP TABLE init;', '002_orphan.down.sql': 'SELECT 1;' } });
  m = await waitForMessage(ns, 'cms', /key 002_orphan.down.sql: a down script without 002_orphan.up.sql/);
  expect(cond(m, 'Stalled')?.status).toBe('True');
  await kube().replace(CONFIGMAPS, ns, 'bad-steps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'bad-steps' }, data: { '001_init.up.sql': 'CREATE TABLE init (id int);' } });
  await patchMigration(ns, 'cms', { spec: { sources: [1, 2, 3, 4].map((i) => ({ configMapRef: { name: `big-${i}` } })).concat([{ configMapRef: { name: 'bad-steps' } }]) } });
  m = await waitFor(ns, 'cms', { ready: true }, 120_000);
  expect(m.status?.applied?.length).toBe(33);
  expect(m.status?.appliedVersion).toBe('131');
  expect((await db.sql<{ n: string }>('SELECT count(*) AS n FROM big_131'))[0]?.n).toBe('1400');
  // A duplicate version across ConfigMaps names both places.
  await cm('dup', { '0100_again.up.sql': 'SELECT 1;' });
  await patchMigration(ns, 'cms', { spec: { sources: [{ configMapRef: { name: 'big-1' } }, { configMapRef: { name: 'dup' } }] } });
  m = await waitForMessage(ns, 'cms', /defined twice/);
  expect(cond(m, 'Ready')?.message).toMatch(/ConfigMap dup key 0100_again.up.sql: version 0100 is defined twice \(also in ConfigMap big-1 key 100_big_100.up.sql\)/);
});

test('a transient error (lock wait) is retried with backoff, not sticky', async () => {
  const db = await database('transient-db');
  await markReady(ns, 'transient-db');
  await db.sql(`CREATE TABLE held (id int); ALTER TABLE held OWNER TO ${JSON.stringify(db.owner)}`);
  const pgc = await import('pg');
  const { caPem } = await import('./pg.js');
  const { testEnv } = await import('../../dev/env/testenv.js');
  const url = new URL(testEnv().postgres.url);
  const holder = new pgc.default.Client({ host: url.hostname, port: Number(url.port), user: decodeURIComponent(url.username), password: decodeURIComponent(url.password), database: db.database, ssl: { ca: caPem() } });
  await holder.connect();
  try {
    await holder.query('BEGIN; LOCK TABLE held IN ACCESS EXCLUSIVE MODE');
    await createMigration(ns, 'transient', { databaseRef: { name: 'transient-db' }, lockTimeout: '200ms', migrations: [{ version: '1', name: 'alter_held', up: 'ALTER TABLE held ADD COLUMN v int;' }] });
    const m = await waitFor(ns, 'transient', { ready: false, reason: 'RetryingAfterTransientError' });
    expect(m.status?.databases?.[0]?.failure).toMatchObject({ code: '55P03', transient: true, attempts: 1 });
    expect(cond(m, 'Stalled')?.status).toBe('False');
  } finally {
    await holder.query('ROLLBACK');
    await holder.end();
  }
  const done = await waitFor(ns, 'transient', { ready: true }, 30_000);
  expect(done.status?.databases?.[0]?.failure).toBeUndefined();
});

test('a new Migration is first reported once its run is past its set-up, not with a "starting" status superseded at once; a slow step shows while it runs', async () => {
  const db = await database('quiet-db');
  await markReady(ns, 'quiet-db');
  const reported: string[] = [];
  const watch = await kube().watch(resourcePath(MIGRATIONS, ns), { fieldSelector: 'metadata.name=quiet' }, (ev) => {
    const m = ev.object as MigrationObj;
    const ready = cond(m, 'Ready');
    if (ev.type !== 'ERROR' && ready) reported.push(`${ready.reason}: ${ready.message}`);
  });
  try {
    await createMigration(ns, 'quiet', {
      databaseRef: { name: 'quiet-db' },
      migrations: [
        { version: '1', name: 'slow', up: 'SELECT pg_sleep(1.5); CREATE TABLE quiet_t (id int);' },
        { version: '2', name: 'fast', up: 'ALTER TABLE quiet_t ADD COLUMN v int;' },
      ],
    });
    await waitFor(ns, 'quiet', { ready: true, reason: 'Migrated' });
    await eventually('the watch delivered Migrated', async () => reported.some((r) => r.startsWith('Migrated:')));
  } finally {
    watch.abort();
  }
  expect(reported.filter((r) => /starting: \d+ steps? pending/.test(r))).toEqual([]);
  expect(reported[0]).toMatch(/^Migrating: running step 1 \(1 of 2\)/);
  expect(await tables(db)).toEqual(['quiet_t']);
});
