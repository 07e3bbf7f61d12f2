// Two operators at once apply each step exactly once; two Migrations on one database never interleave;
// an operator killed mid-step leaves nothing half-done and the next one resumes.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Manager } from '../../src/runtime/manager.js';
import { repoRoot } from '../../dev/env/paths.js';
import { createTestNamespace } from '../../dev/env/testenv.js';
import { deleteAllKinds, eventually, installCrds, run } from '../runtime/helpers.js';
import { closeKube, cond, createMigration, createTenantDatabase, getMigration, markReady, startMigrationOperator, waitFor } from './fixtures.js';
import { closeConnections, createTestDatabase, superSql, type TestDatabase } from './pg.js';

let ns: string;
const managers: Manager[] = [];
const dbs: TestDatabase[] = [];
let child: ChildProcess | undefined;

beforeAll(async () => {
  await installCrds();
  ns = await createTestNamespace('mig-conc');
});

afterAll(async () => {
  child?.kill('SIGKILL');
  if (ns && managers.length === 0) managers.push((await startMigrationOperator(ns)).mgr);
  if (ns) await deleteAllKinds(ns);
  for (const m of managers) await m.stop();
  closeKube();
  await closeConnections();
  if (ns) await run(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  for (const db of dbs) await db.drop().catch(() => undefined);
});

async function database(td: string): Promise<TestDatabase> {
  const db = await createTestDatabase('conc');
  dbs.push(db);
  await createTenantDatabase(ns, td, db);
  await markReady(ns, td);
  return db;
}

test('an operator killed mid-step: the step is rolled back, the lock released, and the next operator resumes', async () => {
  const db = await database('kill-db');
  child = spawn(process.execPath, ['--import', 'tsx', path.join('test', 'migration', 'operator-child.ts'), ns], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
  await new Promise<void>((resolve, reject) => {
    child?.stdout?.on('data', (d: Buffer) => d.toString().includes('started') && resolve());
    child?.on('exit', (code) => reject(new Error(`child exited ${code}`)));
  });
  await createMigration(ns, 'killed', {
    databaseRef: { name: 'kill-db' },
    migrations: [
      { version: '1', name: 'first', up: 'CREATE TABLE first (id int);' },
      { version: '2', name: 'slow', up: 'CREATE TABLE slow (id int);\nSELECT pg_sleep(3);' },
      { version: '3', name: 'third', up: 'CREATE TABLE third (id int);' },
    ],
  });
  await eventually('step 2 running in the child', async () => (await superSql(`SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'SELECT pg_sleep(3)%'`, [db.database])).length === 1, 30_000, 50);
  child.kill('SIGKILL');
  child = undefined;
  // The killed operator's session notices within about a second (client_connection_check_interval).
  await eventually('killed session gone', async () => (await superSql(`SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'tenantdb-operator migration%'`, [db.database])).length === 0, 15_000, 100);
  expect((await db.sql<{ version: string }>('SELECT version FROM tenantdb.schema_migrations')).map((r) => r.version)).toEqual(['1']);
  expect((await db.sql(`SELECT 1 FROM pg_tables WHERE tablename = 'slow'`)).length).toBe(0);
  managers.push((await startMigrationOperator(ns, 'successor')).mgr);
  await waitFor(ns, 'killed', { ready: true }, 60_000);
  const rows = await db.sql<{ version: string; applied_by: string }>('SELECT version, applied_by FROM tenantdb.schema_migrations ORDER BY version');
  expect(rows.map((r) => [r.version, r.applied_by.split(' ')[0]])).toEqual([
    ['1', 'child-operator'],
    ['2', 'successor'],
    ['3', 'successor'],
  ]);
}, 90_000);

test('two operators at once apply each step exactly once', async () => {
  const db = await database('twice-db');
  while (managers.length < 2) managers.push((await startMigrationOperator(ns, `operator-${managers.length + 1}`)).mgr);
  await db.sql(`CREATE TABLE log (version text); GRANT ALL ON log TO ${JSON.stringify(db.owner)}`);
  // Non-transactional steps: a second execution would leave a second row in log.
  const migrations = Array.from({ length: 6 }, (_, i) => ({ version: String(i + 1), name: `log_${i + 1}`, transactional: false, up: `INSERT INTO log VALUES ('${i + 1}');\nSELECT pg_sleep(0.05);` }));
  await createMigration(ns, 'twice', { databaseRef: { name: 'twice-db' }, migrations });
  await waitFor(ns, 'twice', { ready: true }, 60_000);
  const log = await db.sql<{ version: string; n: string }>('SELECT version, count(*) AS n FROM log GROUP BY version ORDER BY version::int');
  expect(log).toEqual(migrations.map((m) => ({ version: m.version, n: '1' })));
  expect((await db.sql<{ n: string }>('SELECT count(*) AS n FROM tenantdb.schema_migrations'))[0]?.n).toBe('6');
}, 90_000);

test('two Migrations on one database: each keeps its own history and their runs never interleave', async () => {
  const db = await database('shared-db');
  if (managers.length === 0) managers.push((await startMigrationOperator(ns)).mgr);
  const steps = (p: string) => Array.from({ length: 3 }, (_, i) => ({ version: String(i + 1), name: `${p}_${i + 1}`, up: `CREATE TABLE ${p}_${i + 1} (id int);\nSELECT pg_sleep(0.4);` }));
  await Promise.all([createMigration(ns, 'part-a', { databaseRef: { name: 'shared-db' }, migrations: steps('a') }), createMigration(ns, 'part-b', { databaseRef: { name: 'shared-db' }, migrations: steps('b') })]);
  // The one that waits says so (not an error): Reconciling, WaitingForLock, naming the holder.
  const waiting = await eventually(
    'one Migration waiting for the lock',
    async () => {
      for (const n of ['part-a', 'part-b']) {
        const c = cond(await getMigration(ns, n), 'Ready');
        if (c?.reason === 'WaitingForLock') return c;
      }
      return undefined;
    },
    20_000,
    100,
  );
  expect(waiting.message).toMatch(/held by tenantdb-operator migration .*part-[ab] \(pid \d+\)/);
  await waitFor(ns, 'part-a', { ready: true }, 60_000);
  await waitFor(ns, 'part-b', { ready: true }, 60_000);
  const spans = await db.sql<{ migration: string; s: Date; e: Date; n: string }>(
    'SELECT migration, min(started_at) AS s, max(applied_at) AS e, count(*) AS n FROM tenantdb.schema_migrations GROUP BY migration ORDER BY s',
  );
  expect(spans.map((s) => [s.migration, s.n])).toEqual(expect.arrayContaining([[`${ns}/part-a`, '3'], [`${ns}/part-b`, '3']]));
  expect((spans[0]?.e as Date).getTime()).toBeLessThanOrEqual((spans[1]?.s as Date).getTime());
}, 90_000);
