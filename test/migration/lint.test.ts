// spec.lint against the real apiserver and PostgreSQL: a step that builds an index without CONCURRENTLY on
// an existing table of ~2.6 MB (over the 1 MiB default of largeTableBytes, read from pg_relation_size)
// is reported and runs under Warn, stalls everything under Block until it is waived (spec or the script's
// own line) or changed to CREATE INDEX CONCURRENTLY, which passes clean; the same step on a small table
// or on a table the pending steps create is not a finding.
import type { Manager } from '../../src/runtime/manager.js';
import { createTestNamespace } from '../../dev/env/testenv.js';
import { deleteAllKinds, eventually, run } from '../runtime/helpers.js';
import { installCrds } from '../runtime/helpers.js';
import { closeKube, cond, createMigration, createTenantDatabase, eventsFor, getMigration, markReady, patchMigration, startMigrationOperator, waitFor, type MigrationObj } from './fixtures.js';
import { closeConnections, createTestDatabase, type TestDatabase } from './pg.js';

let ns: string;
let mgr: Manager;
const dbs: TestDatabase[] = [];

beforeAll(async () => {
  await installCrds();
  ns = await createTestNamespace('mig-lint');
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

interface Finding {
  version: string;
  rule: string;
  line?: number;
  statement: string;
  message: string;
}
const lintOf = (m: MigrationObj) => (m.status as { lint?: { mode: string; findings: Finding[] } } | undefined)?.lint;

const BIG = { version: '1', name: 'big', up: "CREATE TABLE t (a int, v text); INSERT INTO t SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g;" };
const SMALL = { version: '1', name: 'small', up: 'CREATE TABLE t (a int, v text); INSERT INTO t SELECT g, g::text FROM generate_series(1, 10) g;' };
const INDEX = { version: '2', name: 'index', up: 'SELECT 1;\nCREATE INDEX t_a ON t (a);' };
const CONCURRENT = { version: '2', name: 'index', up: 'CREATE INDEX CONCURRENTLY t_a ON t (a);', transactional: false };

/** A database and a Migration whose first step made table t (applied); the test then adds the step under lint. */
async function migrated(name: string, first: typeof BIG, lint?: Record<string, unknown>): Promise<TestDatabase> {
  const db = await createTestDatabase('lint');
  dbs.push(db);
  await createTenantDatabase(ns, `${name}-db`, db);
  await markReady(ns, `${name}-db`);
  await createMigration(ns, name, { databaseRef: { name: `${name}-db` }, migrations: [first], ...(lint ? { lint } : {}) });
  const m = await waitFor(ns, name, { ready: true, reason: 'Migrated' });
  expect(lintOf(m)).toBeUndefined(); // t is created by the pending steps themselves: never an existing table
  return db;
}

const indexes = async (db: TestDatabase) => (await db.sql<{ i: string }>(`SELECT indexname AS i FROM pg_indexes WHERE tablename = 't'`)).map((r) => r.i);
const applied = async (db: TestDatabase) => (await db.sql<{ v: string }>('SELECT version AS v FROM tenantdb.schema_migrations ORDER BY started_at')).map((r) => r.v);

test('Warn (the default): the step runs; a Warning Event and status.lint name the rule and the statement', async () => {
  const db = await migrated('warn', BIG);
  expect(Number((await db.sql<{ b: string }>(`SELECT pg_relation_size('t')::text AS b`))[0]?.b)).toBeGreaterThan(1_048_576);
  await patchMigration(ns, 'warn', { spec: { migrations: [BIG, INDEX] } });
  const m = await eventually('step 2 applied', async () => {
    const x = await getMigration(ns, 'warn');
    return x.status?.appliedVersion === '2' && cond(x, 'Ready')?.status === 'True' ? x : undefined;
  });
  expect(await indexes(db)).toEqual(['t_a']);
  expect(lintOf(m)).toEqual({ mode: 'Warn', findings: [{ version: '2', rule: 'require-concurrent-index-creation', line: 2, statement: 'CREATE INDEX t_a ON t (a)', message: expect.stringMatching(/CONCURRENTLY/) }] });
  const ev = await eventually('LintWarning event', async () => (await eventsFor(ns, 'warn')).find((e) => e.reason === 'LintWarning'));
  expect(ev.type).toBe('Warning');
  expect(ev.note).toContain('require-concurrent-index-creation: CREATE INDEX t_a ON t (a)');
  expect(ev.note).toContain('step 2 (index) line 2');
});

test('Block: Stalled (LintFailed) naming the rule and statement, nothing runs; a waiver in spec.lint lets it run', async () => {
  const db = await migrated('block', BIG, { mode: 'Block' });
  await patchMigration(ns, 'block', { spec: { migrations: [BIG, INDEX] } });
  const m = await waitFor(ns, 'block', { stalled: true, reason: 'LintFailed' });
  expect(cond(m, 'Stalled')?.message).toContain('step 2 (index) line 2: require-concurrent-index-creation: CREATE INDEX t_a ON t (a)');
  expect(cond(m, 'Stalled')?.message).toContain('spec.lint.waive');
  expect(m.status?.pending).toEqual(['2']);
  expect(lintOf(m)?.findings.map((f) => f.rule)).toEqual(['require-concurrent-index-creation']);
  await eventually('LintFailed Warning event', async () => (await eventsFor(ns, 'block')).some((e) => e.type === 'Warning' && e.reason === 'LintFailed' && e.note.includes('CREATE INDEX t_a')));
  // Looked at again (a label change reaches the watch): still nothing runs.
  await patchMigration(ns, 'block', { metadata: { labels: { poke: '1' } } });
  await new Promise((r) => setTimeout(r, 1000));
  expect(await applied(db)).toEqual(['1']);
  expect(await indexes(db)).toEqual([]);

  await patchMigration(ns, 'block', { spec: { lint: { mode: 'Block', waive: [{ version: '2', rules: ['require-concurrent-index-creation'] }] } } });
  const done = await waitFor(ns, 'block', { ready: true, reason: 'Migrated' });
  expect(done.status?.appliedVersion).toBe('2');
  expect(lintOf(done)).toBeUndefined();
  expect(await indexes(db)).toEqual(['t_a']);
});

test('Block: the step changed to CREATE INDEX CONCURRENTLY passes clean; a script waives a rule for its own step', async () => {
  const db = await migrated('fix', BIG, { mode: 'Block' });
  const drop = { version: '3', name: 'drop_v', up: 'ALTER TABLE t DROP COLUMN v;' };
  await patchMigration(ns, 'fix', { spec: { migrations: [BIG, INDEX, drop] } });
  const m = await waitFor(ns, 'fix', { stalled: true, reason: 'LintFailed' });
  expect(lintOf(m)?.findings.map((f) => `${f.version}:${f.rule}`)).toEqual(['2:require-concurrent-index-creation', '3:ban-drop-column']);
  expect(await applied(db)).toEqual(['1']);

  const waived = { ...drop, up: '-- tenantdb:lint-ignore ban-drop-column\nALTER TABLE t DROP COLUMN v;' };
  await patchMigration(ns, 'fix', { spec: { migrations: [BIG, CONCURRENT, waived] } });
  const done = await waitFor(ns, 'fix', { ready: true, reason: 'Migrated' });
  expect(done.status?.appliedVersion).toBe('3');
  expect(lintOf(done)).toBeUndefined();
  expect(await indexes(db)).toEqual(['t_a']);
  expect((await db.sql(`SELECT 1 FROM information_schema.columns WHERE table_name = 't' AND column_name = 'v'`)).length).toBe(0);
  expect((await eventsFor(ns, 'fix')).some((e) => e.reason === 'LintWarning')).toBe(false);
});

test('Block: the same index on a small table (pg_relation_size under largeTableBytes) is not a finding', async () => {
  const db = await migrated('small', SMALL, { mode: 'Block' });
  await patchMigration(ns, 'small', { spec: { migrations: [SMALL, INDEX] } });
  const done = await eventually('step 2 applied', async () => {
    const x = await getMigration(ns, 'small');
    return x.status?.appliedVersion === '2' && cond(x, 'Ready')?.status === 'True' ? x : undefined;
  });
  expect(lintOf(done)).toBeUndefined();
  expect(await indexes(db)).toEqual(['t_a']);
  expect(cond(done, 'Stalled')?.status).toBe('False');
});
