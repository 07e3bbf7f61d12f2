// The runner against the environment's real PostgreSQL: history and checksums, transactional failure
// leaving nothing behind, non-transactional CREATE INDEX CONCURRENTLY and its dirty state, errors naming
// the statement and its line, validate/repair, baseline, outOfOrder, down to a target, two runners at
// once applying each step exactly once, the set-up's read of the login made after its lock is held.
import type { MigrationStep } from '../../src/api/migration.js';
import type { PlanOptions } from '../../src/migrations/plan.js';
import { stepsFromInline } from '../../src/migrations/steps.js';
import { readHistory } from '../../src/postgres/migrations/history.js';
import { ident } from '../../src/postgres/ident.js';
import { MIGRATION_LOCK_CLASS, SETUP_LOCK_OBJECT } from '../../src/postgres/migrations/lock.js';
import { migratorRoleName } from '../../src/postgres/migrations/migrator.js';
import { runMigration, type RunInput } from '../../src/postgres/migrations/runner.js';
import { splitStatements } from '../../src/postgres/migrations/split.js';
import { closeConnections, connections, createTestDatabase, superSql, type TestDatabase } from './pg.js';

const opts = (o: Partial<PlanOptions> = {}): PlanOptions => ({ allowDown: false, outOfOrder: false, repair: false, ...o });
const step = (version: string, up: string, extra: Partial<MigrationStep> = {}): MigrationStep => ({ version, name: `step_${version}`, up, transactional: true, ...extra });

function input(db: TestDatabase, steps: MigrationStep[], o: Partial<PlanOptions> = {}, extra: Partial<RunInput> = {}): RunInput {
  return { migration: 'ns/m', steps: stepsFromInline(steps), plan: opts(o), runAsRole: db.owner, lockTimeout: '5s', appliedBy: 'test', lockPollMs: 50, ...extra };
}

const dbs: TestDatabase[] = [];
async function fresh(): Promise<TestDatabase> {
  const db = await createTestDatabase('run');
  dbs.push(db);
  return db;
}

afterAll(async () => {
  await closeConnections();
  for (const db of dbs) await db.drop().catch(() => undefined);
});

test('statements are split by the PostgreSQL parser, with their lines', async () => {
  const script = "-- header\nCREATE TABLE a (x text DEFAULT ';');\n\nCREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n  RETURN 1;\nEND $$;\n/* c */ SELECT 'é;';";
  const stmts = await splitStatements(script);
  expect(stmts.map((s) => [s.kind, s.line])).toEqual([
    ['CreateStmt', 2],
    ['CreateFunctionStmt', 4],
    ['SelectStmt', 8],
  ]);
  expect(stmts[2]?.text).toBe("SELECT 'é;'");
});

test('applies steps as the owner role, records history with checksums, and a second run does nothing', async () => {
  const db = await fresh();
  const steps = [step('1', 'CREATE TABLE t (id int PRIMARY KEY);'), step('2', 'ALTER TABLE t ADD COLUMN v text;')];
  const r = await runMigration(connections(), db.target, input(db, steps));
  expect(r.outcome).toBe('succeeded');
  expect(r.steps.map((s) => s.version)).toEqual(['1', '2']);
  const owner = await db.sql<{ o: string }>(`SELECT tableowner AS o FROM pg_tables WHERE tablename = 't'`);
  expect(owner[0]?.o).toBe(db.owner);
  const rows = await db.sql<{ version: string; checksum: string; state: string; applied_by: string; execution_ms: number }>(
    'SELECT version, checksum, state, applied_by, execution_ms FROM tenantdb.schema_migrations ORDER BY version',
  );
  expect(rows.map((x) => [x.version, x.state, x.applied_by])).toEqual([
    ['1', 'success', 'test'],
    ['2', 'success', 'test'],
  ]);
  expect(rows[0]?.checksum).toMatch(/^[0-9a-f]{64}$/);
  const again = await runMigration(connections(), db.target, input(db, steps));
  expect(again.outcome).toBe('succeeded');
  expect(again.steps).toEqual([]);
});

test('a failing transactional step leaves no trace in the database and names the statement and line', async () => {
  const db = await fresh();
  const bad = step('1', 'CREATE TABLE a (id int);\nINSERT INTO a VALUES (1);\n\nINSERT INTO missing_table VALUES (2);\n');
  const r = await runMigration(connections(), db.target, input(db, [bad]));
  expect(r.outcome).toBe('failed');
  if (r.outcome !== 'failed') return;
  expect(r.failure).toMatchObject({ version: '1', code: '42P01', line: 4, statement: 'INSERT INTO missing_table VALUES (2)', dirty: false });
  expect(await db.sql(`SELECT 1 FROM pg_tables WHERE tablename = 'a'`)).toEqual([]);
  expect(await db.sql('SELECT * FROM tenantdb.schema_migrations')).toEqual([]);
  // A syntax error is caught by the parser before anything runs, with its line.
  const syntax = await runMigration(connections(), db.target, input(db, [step('1', 'SELECT 1;\nSELEC 2;')]));
  expect(syntax.outcome === 'failed' && syntax.failure).toMatchObject({ code: '42601', line: 2 });
  // COMMIT inside a transactional step would break its atomicity: refused.
  const commit = await runMigration(connections(), db.target, input(db, [step('1', 'CREATE TABLE b (id int);\nCOMMIT;')]));
  expect(commit.outcome === 'failed' && commit.failure.message).toMatch(/transaction control/);
  expect(await db.sql(`SELECT 1 FROM pg_tables WHERE tablename = 'b'`)).toEqual([]);
});

test('non-transactional CREATE INDEX CONCURRENTLY works; a failing one leaves the step dirty until resolved', async () => {
  const db = await fresh();
  const base = [step('1', 'CREATE TABLE t (id int, v int); INSERT INTO t SELECT g, g % 3 FROM generate_series(1, 1000) g;')];
  const conc = step('2', 'CREATE INDEX CONCURRENTLY t_id ON t (id);', { transactional: false });
  const r = await runMigration(connections(), db.target, input(db, [...base, conc]));
  expect(r.outcome).toBe('succeeded');
  expect((await db.sql<{ indisvalid: boolean }>(`SELECT indisvalid FROM pg_index WHERE indexrelid = 't_id'::regclass`))[0]?.indisvalid).toBe(true);

  // A unique index over duplicates fails part-way: PostgreSQL leaves an INVALID index behind.
  const failing = step('3', 'CREATE UNIQUE INDEX CONCURRENTLY t_v ON t (v);', { transactional: false });
  const f = await runMigration(connections(), db.target, input(db, [...base, conc, failing]));
  expect(f.outcome === 'failed' && f.failure).toMatchObject({ version: '3', code: '23505', dirty: true, line: 1 });
  const dirty = await db.sql<{ state: string }>(`SELECT state FROM tenantdb.schema_migrations WHERE version = '3'`);
  expect(dirty[0]?.state).toBe('dirty');
  // Blocked: nothing runs while dirty, even a later step.
  const later = step('4', 'CREATE TABLE u (id int);');
  const blocked = await runMigration(connections(), db.target, input(db, [...base, conc, failing, later]));
  expect(blocked.outcome === 'stalled' && blocked.reason).toBe('Dirty');
  expect(await db.sql(`SELECT 1 FROM pg_tables WHERE tablename = 'u'`)).toEqual([]);
  // The person cleans up and says the step left nothing: it is re-run (now fixed) and the next one follows.
  await db.sql('DROP INDEX t_v');
  const fixed = step('3', 'CREATE INDEX CONCURRENTLY t_v ON t (v);', { name: 'step_3', transactional: false });
  const resolved = await runMigration(connections(), db.target, input(db, [...base, conc, fixed, later], { resolve: { version: '3', as: 'reverted' } }));
  expect(resolved.outcome).toBe('succeeded');
  expect(resolved.steps.map((s) => s.version)).toEqual(['3', '4']);
  expect(resolved.maintenance).toEqual(['resolved dirty step 3 as reverted']);
});

test('resolve applied: the dirty step counts as done', async () => {
  const db = await fresh();
  const s1 = step('1', 'CREATE TABLE t (v int); INSERT INTO t VALUES (1), (1);');
  const s2 = step('2', 'CREATE UNIQUE INDEX CONCURRENTLY t_v ON t (v);', { transactional: false });
  expect((await runMigration(connections(), db.target, input(db, [s1, s2]))).outcome).toBe('failed');
  await db.sql('DROP INDEX t_v; DELETE FROM t; CREATE UNIQUE INDEX t_v ON t (v)');
  const r = await runMigration(connections(), db.target, input(db, [s1, s2], { resolve: { version: '2', as: 'applied' } }));
  expect(r.outcome).toBe('succeeded');
  expect(r.steps).toEqual([]);
  expect((await readHistory({ query: (t: string, v?: unknown[]) => db.sql(t, v).then((rows) => ({ rows })) } as never, 'ns/m')).map((h) => h.state)).toEqual(['success', 'success']);
});

test('a changed applied script stops everything (ChecksumMismatch) until repair accepts it', async () => {
  const db = await fresh();
  await runMigration(connections(), db.target, input(db, [step('1', 'CREATE TABLE t (id int);')]));
  const changed = [step('1', 'CREATE TABLE t (id bigint);'), step('2', 'CREATE TABLE u (id int);')];
  const r = await runMigration(connections(), db.target, input(db, changed));
  expect(r.outcome === 'stalled' && [r.reason, r.message]).toEqual(['ChecksumMismatch', expect.stringContaining('step 1')]);
  expect(await db.sql(`SELECT 1 FROM pg_tables WHERE tablename = 'u'`)).toEqual([]);
  const repaired = await runMigration(connections(), db.target, input(db, changed, { repair: true }));
  expect(repaired.outcome).toBe('succeeded');
  expect(repaired.maintenance).toEqual(['repaired the checksum of step 1']);
  expect(repaired.steps.map((s) => s.version)).toEqual(['2']);
  expect((await runMigration(connections(), db.target, input(db, changed))).outcome).toBe('succeeded');
});

test('baseline adopts an existing schema; outOfOrder decides about older never-applied steps', async () => {
  const db = await fresh();
  await db.sql(`CREATE TABLE legacy (id int); ALTER TABLE legacy OWNER TO ${JSON.stringify(db.owner)}`);
  const steps = [step('1', 'CREATE TABLE legacy (id int);'), step('2', 'ALTER TABLE legacy ADD COLUMN v text;'), step('5', 'CREATE TABLE five (id int);')];
  const r = await runMigration(connections(), db.target, input(db, steps, { baselineVersion: '1' }));
  expect(r.outcome).toBe('succeeded');
  expect(r.maintenance).toEqual(['baselined at version 1']);
  expect(r.steps.map((s) => s.version)).toEqual(['2', '5']);
  const withOld = [...steps, step('3', 'CREATE TABLE three (id int);')];
  const late = await runMigration(connections(), db.target, input(db, withOld, { baselineVersion: '1' }));
  expect(late.outcome === 'stalled' && late.reason).toBe('OutOfOrder');
  const ooo = await runMigration(connections(), db.target, input(db, withOld, { baselineVersion: '1', outOfOrder: true }));
  expect(ooo.outcome === 'succeeded' && ooo.steps.map((s) => s.version)).toEqual(['3']);
});

test('down to a target needs allowDown and a down script for every step it passes', async () => {
  const db = await fresh();
  const steps = [
    step('1', 'CREATE TABLE a (id int);', { down: 'DROP TABLE a;' }),
    step('2', 'CREATE TABLE b (id int);', { down: 'DROP TABLE b;' }),
    step('3', 'CREATE TABLE c (id int);'),
  ];
  await runMigration(connections(), db.target, input(db, steps));
  const notAllowed = await runMigration(connections(), db.target, input(db, steps, { targetVersion: '1' }));
  expect(notAllowed.outcome === 'stalled' && notAllowed.reason).toBe('DownNotAllowed');
  const noDown = await runMigration(connections(), db.target, input(db, steps, { targetVersion: '1', allowDown: true }));
  expect(noDown.outcome === 'stalled' && [noDown.reason, noDown.message]).toEqual(['MissingDownScript', expect.stringContaining('step 3')]);
  expect((await db.sql(`SELECT tablename FROM pg_tables WHERE tablename IN ('a','b','c') ORDER BY 1`)).length).toBe(3);
  const withDown = [...steps.slice(0, 2), step('3', 'CREATE TABLE c (id int);', { down: 'DROP TABLE c;' })];
  await db.sql(`UPDATE tenantdb.schema_migrations SET checksum = $1 WHERE version = '3'`, [stepsFromInline(withDown)[2]?.checksum]);
  const down = await runMigration(connections(), db.target, input(db, withDown, { targetVersion: '1', allowDown: true }));
  expect(down.outcome === 'succeeded' && down.steps.map((s) => `${s.direction}:${s.version}`)).toEqual(['down:3', 'down:2']);
  expect(await db.sql<{ tablename: string }>(`SELECT tablename FROM pg_tables WHERE tablename IN ('a','b','c')`)).toEqual([{ tablename: 'a' }]);
  expect((await db.sql<{ version: string }>('SELECT version FROM tenantdb.schema_migrations')).map((x) => x.version)).toEqual(['1']);
});

test('two runners at once on one database: the advisory lock serialises them and each step runs once', async () => {
  const db = await fresh();
  const steps = Array.from({ length: 10 }, (_, i) => step(String(i + 1), `CREATE TABLE t${i + 1} (id int); SELECT pg_sleep(0.05);`));
  const waits: string[] = [];
  const [a, b] = await Promise.all([
    runMigration(connections(), db.target, input(db, steps, {}, { appliedBy: 'a' }), { onLockWait: (h) => waits.push(`a:${h}`) }),
    runMigration(connections(), db.target, input(db, steps, {}, { appliedBy: 'b' }), { onLockWait: (h) => waits.push(`b:${h}`) }),
  ]);
  expect(a.outcome).toBe('succeeded');
  expect(b.outcome).toBe('succeeded');
  expect(a.steps.length + b.steps.length).toBe(10);
  expect(waits.length).toBeGreaterThan(0);
  // The holder may release between the failed try and the look-up; any named holder proves the report.
  expect(waits.some((w) => /tenantdb-operator migration ns\/m \(pid \d+\)/.test(w))).toBe(true);
  const rows = await db.sql<{ n: string }>('SELECT count(*) AS n FROM tenantdb.schema_migrations');
  expect(rows[0]?.n).toBe('10');
  // The lock is released at the end of each run (on this database: pg_locks is the whole server's, and
  // other test files' runs hold their own databases' locks meanwhile).
  expect(
    await db.sql(`SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::int::oid AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, [MIGRATION_LOCK_CLASS]),
  ).toEqual([]);
});

test('waiting for the migration lock is bounded: past maxLockWaitMs the run ends with an error naming the holder', async () => {
  const db = await fresh();
  const c = connections();
  const holder = await c.connect({ ...db.target });
  await holder.query(`SELECT set_config('application_name', 'a stuck runner', false), pg_advisory_lock($1, 0)`, [MIGRATION_LOCK_CLASS]);
  try {
    const started = Date.now();
    const run = runMigration(c, db.target, input(db, [step('1', 'CREATE TABLE never (id int);')], {}, { maxLockWaitMs: 1_500 }));
    await expect(run).rejects.toThrow(/waited 1\.5 s for the migration lock.*a stuck runner/);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await db.sql(`SELECT 1 FROM pg_tables WHERE tablename = 'never'`)).toEqual([]);
  } finally {
    await holder.end();
  }
});

test('the set-up reads the login after its lock is held, under any default isolation: drift made while it waited is seen and put back', async () => {
  const db = await fresh();
  await superSql(`ALTER DATABASE ${ident(db.database)} SET default_transaction_isolation = 'repeatable read'`);
  const c = connections();
  expect((await runMigration(c, db.target, input(db, [step('1', 'CREATE TABLE one (id int);')]))).outcome).toBe('succeeded');
  const login = migratorRoleName(db.owner);
  // Another runner's set-up holds the lock; this run's set-up waits for it.
  const holder = await c.connect({ ...db.target });
  await holder.query('SELECT pg_advisory_lock($1, $2)', [MIGRATION_LOCK_CLASS, SETUP_LOCK_OBJECT]);
  const check = step('2', `CREATE TABLE seen AS SELECT rolinherit FROM pg_roles WHERE rolname = session_user;`);
  const run = runMigration(c, db.target, input(db, [step('1', 'CREATE TABLE one (id int);'), check]));
  try {
    const waiting = async () => (await db.sql(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%pg_advisory_lock%'`)).length > 0;
    for (const until = Date.now() + 10_000; !(await waiting()); ) {
      if (Date.now() > until) throw new Error('the run never waited for the set-up lock');
      await new Promise((r) => setTimeout(r, 10));
    }
    // While it waits, the login is given more than the owner's rights.
    await superSql(`ALTER ROLE ${ident(login)} INHERIT`);
  } finally {
    await holder.query('SELECT pg_advisory_unlock($1, $2)', [MIGRATION_LOCK_CLASS, SETUP_LOCK_OBJECT]);
    await holder.end();
  }
  expect((await run).outcome).toBe('succeeded');
  expect(await db.sql('SELECT rolinherit FROM seen')).toEqual([{ rolinherit: false }]);
});

test('lockTimeout and statementTimeout apply to each step', async () => {
  const db = await fresh();
  const slow = step('1', 'SELECT pg_sleep(2);');
  const r = await runMigration(connections(), db.target, input(db, [slow], {}, { statementTimeout: '200ms' }));
  expect(r.outcome === 'failed' && r.failure).toMatchObject({ code: '57014' });
  await db.sql(`CREATE TABLE held (id int); GRANT ALL ON held TO ${JSON.stringify(db.admin)}`);
  const c = connections();
  const holder = await c.connect({ ...db.target });
  await holder.query('BEGIN; LOCK TABLE held IN ACCESS EXCLUSIVE MODE');
  try {
    const locked = await runMigration(c, db.target, input(db, [step('1', 'SELECT * FROM held;')], {}, { lockTimeout: '100ms', runAsRole: undefined }));
    expect(locked.outcome === 'failed' && locked.failure).toMatchObject({ code: '55P03' });
  } finally {
    await holder.end();
  }
});
