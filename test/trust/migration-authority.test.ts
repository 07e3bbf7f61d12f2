// Issue 16, point 5: migrations have the owner's authority and no more. Attacks performed against the
// real apiserver and PostgreSQL: a Migration (runAs: owner, the default) whose SQL tries to get the
// administrator's rights back (RESET ROLE, SET ROLE <admin>, SET SESSION AUTHORIZATION <admin>) fails
// with a permission error in its status, and nothing it tried exists. A restore-drill check that smuggles
// a second statement (past the READ ONLY transaction with COMMIT) is refused and changes nothing.
import { randomBytes } from 'node:crypto';
import type { Manager } from '../../src/runtime/manager.js';
import { inspectRestoredCopy } from '../../src/postgres/drill/index.js';
import { ident } from '../../src/postgres/ident.js';
import { migratorRoleName } from '../../src/postgres/migrations/migrator.js';
import { createTestNamespace } from '../../dev/env/testenv.js';
import { deleteAllKinds, installCrds, run } from '../runtime/helpers.js';
import { closeKube, createMigration, createTenantDatabase, markReady, startMigrationOperator, waitFor } from '../migration/fixtures.js';
import { closeConnections, connections, createTestDatabase, superSql, type TestDatabase } from '../migration/pg.js';

let ns: string;
let mgr: Manager;
const dbs: TestDatabase[] = [];
const escaped: string[] = [];

async function database(tdName: string): Promise<TestDatabase> {
  const db = await createTestDatabase('trust');
  dbs.push(db);
  await createTenantDatabase(ns, tdName, db);
  await markReady(ns, tdName);
  return db;
}

function escapedRole(): string {
  const r = `escaped_${randomBytes(4).toString('hex')}`;
  escaped.push(r);
  return r;
}

const roleExists = async (name: string) => (await superSql<{ n: number }>('SELECT count(*)::int AS n FROM pg_roles WHERE rolname = $1', [name]))[0]?.n === 1;

beforeAll(async () => {
  await installCrds();
  ns = await createTestNamespace('trust-mig');
  ({ mgr } = await startMigrationOperator(ns));
});

afterAll(async () => {
  if (ns) await deleteAllKinds(ns);
  await mgr?.stop();
  closeKube();
  await closeConnections();
  if (ns) await run(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  for (const r of escaped) await superSql(`DROP ROLE IF EXISTS ${ident(r)}`).catch(() => undefined);
  for (const db of dbs) await db.drop().catch(() => undefined);
});

/** The failure a stopped Migration reports (a non-transactional step stops Dirty). */
async function failedStep(name: string, reason = 'StepFailed'): Promise<Record<string, unknown>> {
  const m = await waitFor(ns, name, { ready: false, reason });
  return (m.status?.databases?.[0]?.failure ?? {}) as Record<string, unknown>;
}

test('RESET ROLE; CREATE ROLE in a runAs: owner step fails with a permission error, and the role does not exist', async () => {
  await database('reset-db');
  const role = escapedRole();
  await createMigration(ns, 'reset-role', {
    databaseRef: { name: 'reset-db' },
    migrations: [{ version: '1', name: 'escape', up: `RESET ROLE; CREATE ROLE ${role} LOGIN CREATEROLE;` }],
  });
  const f = await failedStep('reset-role');
  expect(f.code).toBe('42501');
  expect(String(f.message)).toMatch(/permission denied/);
  expect(await roleExists(role)).toBe(false);
});

test('SET ROLE <admin> and SET SESSION AUTHORIZATION <admin> fail; the step gains nothing', async () => {
  const db = await database('setrole-db');
  const a = escapedRole();
  const b = escapedRole();
  await createMigration(ns, 'set-role', {
    databaseRef: { name: 'setrole-db' },
    migrations: [{ version: '1', name: 'escape', up: `SET ROLE ${ident(db.admin)}; CREATE ROLE ${a};` }],
  });
  await createMigration(ns, 'session-auth', {
    databaseRef: { name: 'setrole-db' },
    migrations: [{ version: '1', name: 'escape', transactional: false, up: `SET SESSION AUTHORIZATION ${ident(db.admin)};\nCREATE ROLE ${b};` }],
  });
  expect((await failedStep('set-role')).code).toBe('42501');
  expect((await failedStep('session-auth', 'Dirty')).code).toBe('42501');
  expect(await roleExists(a)).toBe(false);
  expect(await roleExists(b)).toBe(false);
});

test('the steps run in a session that logged in as the migration login, acting as the owner; the login has no password left', async () => {
  const db = await database('who-db');
  await createMigration(ns, 'who', {
    databaseRef: { name: 'who-db' },
    migrations: [{ version: '1', name: 'who', up: 'CREATE TABLE who AS SELECT session_user::text AS s, current_user::text AS c;' }],
  });
  await waitFor(ns, 'who', { ready: true, reason: 'Migrated' });
  const login = migratorRoleName(db.owner);
  expect(await db.sql('SELECT s, c FROM who')).toEqual([{ s: login, c: db.owner }]);
  expect(await db.sql(`SELECT tableowner FROM pg_tables WHERE tablename = 'who'`)).toEqual([{ tableowner: db.owner }]);
  const [r] = await superSql<Record<string, unknown>>(
    `SELECT rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolbypassrls, rolpassword IS NULL AS nopassword, shobj_description(oid, 'pg_authid') AS comment,
            array(SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = a.oid)::text[] AS member_of
       FROM pg_authid a WHERE rolname = $1`,
    [login],
  );
  expect(r).toEqual({ rolsuper: false, rolinherit: false, rolcreaterole: false, rolcreatedb: false, rolbypassrls: false, nopassword: true, comment: `tenantdb-operator migration login for role ${db.owner}`, member_of: [db.owner] });
});

test('the login has no password while its first step runs (the session is handed over before the password is removed; no step runs before it is)', async () => {
  const db = await database('early-db');
  const login = migratorRoleName(db.owner);
  await createMigration(ns, 'early', {
    databaseRef: { name: 'early-db' },
    migrations: [{ version: '1', name: 'slow', up: 'SELECT pg_sleep(1.5);' }],
  });
  let seen: { nopassword: boolean } | undefined;
  for (const until = Date.now() + 30_000; !seen && Date.now() < until; await new Promise((r) => setTimeout(r, 20))) {
    const running = await superSql('SELECT 1 FROM pg_stat_activity WHERE usename = $1 AND datname = $2 AND query LIKE $3', [login, db.database, '%pg_sleep(1.5)%']);
    if (running.length > 0) [seen] = await superSql<{ nopassword: boolean }>('SELECT rolpassword IS NULL AS nopassword FROM pg_authid WHERE rolname = $1', [login]);
  }
  expect(seen).toEqual({ nopassword: true });
  await waitFor(ns, 'early', { ready: true, reason: 'Migrated' });
});

test('a drill check that smuggles a second statement is refused and changes nothing', async () => {
  const db = await createTestDatabase('drill');
  dbs.push(db);
  await db.sql('CREATE TABLE keep (id int)');
  const role = escapedRole();
  const r = await inspectRestoredCopy(connections(), db.target, [
    { name: 'drop', sql: 'SELECT 1; DROP TABLE keep', expectRowsAtLeast: 1 },
    { name: 'escape', sql: `SELECT 1; COMMIT; CREATE ROLE ${role}`, expectRowsAtLeast: 1 },
    { name: 'fine', sql: 'SELECT 1', expectRowsAtLeast: 1 },
  ]);
  expect(r.checks.map((c) => [c.name, c.passed])).toEqual([
    ['drop', false],
    ['escape', false],
    ['fine', true],
  ]);
  expect(r.checks[1]?.detail).toMatch(/42601/);
  expect(await roleExists(role)).toBe(false);
  expect(await db.sql(`SELECT to_regclass('public.keep')::text AS t`)).toEqual([{ t: 'keep' }]);
});
