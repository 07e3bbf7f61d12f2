// The database/role/grant steps straight against the environment's PostgreSQL, as a CREATEDB CREATEROLE
// administrator that is not superuser (what a managed server gives): first sync creates, the second runs
// nothing, hand-made drift is taken back, hostile names stay names.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import pg from 'pg';
import { PostgresConnections } from '../../src/postgres/connections.js';
import { ident } from '../../src/postgres/ident.js';
import {
  dropDatabase,
  dropRoles,
  ownershipMarker,
  setPassword,
  StatementLog,
  syncDatabase,
  syncExtensions,
  syncGrants,
  syncRoles,
  terminateSessions,
  type ManagedRoles,
} from '../../src/postgres/database/sync.js';
import { generatePassword } from '../../src/postgres/database/scram.js';
import { asSuperuser, canConnect, createAdminRole, target, uniq } from './helpers.js';

const conns = new PostgresConnections({ caFile: undefined, hostsFile: undefined });
const adminUser = uniq('adm');
const adminPassword = generatePassword();
const serverTarget = () => target(adminUser, adminPassword, 'postgres');

interface Fixture {
  db: string;
  roles: ManagedRoles;
  passwords: Map<string, string>;
  marker: string;
}

async function fullSync(f: Fixture, extensions: string[] = []): Promise<{ statements: string[]; failed: string[] }> {
  const log = new StatementLog();
  await conns.withClient(serverTarget(), async (c) => {
    await syncRoles(c, f.roles, f.marker, (r) => {
      const p = generatePassword();
      f.passwords.set(r, p);
      return p;
    }, log);
    await syncDatabase(c, f.db, f.roles, f.marker, log);
  });
  let failed: string[] = [];
  await conns.withClient(target(adminUser, adminPassword, f.db), async (c) => {
    failed = (await syncExtensions(c, extensions, log)).failed.map((x) => `${x.name}: ${x.message}`);
    await syncGrants(c, f.roles, log);
  });
  return { statements: log.statements, failed };
}

function fixture(over: Partial<ManagedRoles> = {}, db = uniq('db')): Fixture {
  const p = uniq('r');
  return { db, roles: { owner: `${p}_owner`, application: `${p}_app`, analytics: `${p}_ro`, admin: `${p}_adm`, ...over }, passwords: new Map(), marker: ownershipMarker('ns', db, 'test-uid') };
}

const as = (f: Fixture, role: string, db = f.db) => target(role, f.passwords.get(role) as string, db);

async function query(t: ReturnType<typeof target>, sql: string): Promise<pg.QueryResult> {
  const c = new pg.Client({ host: t.host, port: t.port, user: t.user, password: t.password, database: t.database, ssl: { ca: t.caPem, rejectUnauthorized: true } });
  await c.connect();
  try {
    return await c.query(sql);
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  await createAdminRole(adminUser, adminPassword);
});

afterAll(async () => {
  await conns.close();
});

describe('database, roles and grants', () => {
  const f = fixture();

  test('first sync creates everything; a second one runs nothing', async () => {
    const first = await fullSync(f, ['pgcrypto']);
    expect(first.failed).toEqual([]);
    expect(first.statements.some((s) => s.startsWith('CREATE DATABASE'))).toBe(true);
    expect(first.statements.join('\n')).not.toMatch(new RegExp([...f.passwords.values()].join('|')));
    const second = await fullSync(f, ['pgcrypto']);
    expect(second.statements).toEqual([]);

    const attrs = await asSuperuser((c) => c.query(`SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = ANY($1) ORDER BY 1`, [Object.values(f.roles)]));
    expect(attrs.rows).toHaveLength(4);
    for (const r of attrs.rows) {
      expect([r.rolsuper, r.rolcreatedb, r.rolcreaterole, r.rolbypassrls]).toEqual([false, false, false, false]);
      expect(r.rolcanlogin).toBe(r.rolname !== f.roles.owner);
    }
    const d = await asSuperuser((c) => c.query(`SELECT pg_get_userbyid(datdba) AS owner, has_database_privilege('public', datname, 'CONNECT') AS pc FROM pg_database WHERE datname = $1`, [f.db]));
    expect(d.rows[0]).toEqual({ owner: f.roles.owner, pc: false });
  });

  test('tables the owner creates later get the grants; application writes, analytics only reads', async () => {
    // Migrations run as the administrator with SET ROLE to the owner.
    await conns.withClient(target(adminUser, adminPassword, f.db), async (c) => {
      await c.query(`SET ROLE ${ident(f.roles.owner)}`);
      await c.query('CREATE TABLE items (id bigserial PRIMARY KEY, v text)');
      await c.query('RESET ROLE');
    });
    await query(as(f, f.roles.application), "INSERT INTO items (v) VALUES ('a')");
    expect((await query(as(f, f.roles.analytics as string), 'SELECT count(*)::int AS n FROM items')).rows[0]).toEqual({ n: 1 });
    await expect(query(as(f, f.roles.analytics as string), "INSERT INTO items (v) VALUES ('b')")).rejects.toThrow(/permission denied/);
    await expect(query(as(f, f.roles.analytics as string), 'CREATE TABLE x (i int)')).rejects.toThrow(/permission denied/);
    await expect(query(as(f, f.roles.application), 'CREATE TABLE x (i int)')).rejects.toThrow(/permission denied/);
    // Default privileges covered the new table: the sync that follows has nothing to do.
    expect((await fullSync(f)).statements).toEqual([]);
  });

  test('a role outside the set cannot connect', async () => {
    const outsider = uniq('outsider');
    const pw = generatePassword();
    await asSuperuser((c) => c.query(`CREATE ROLE ${ident(outsider)} LOGIN PASSWORD '${pw}'`));
    const r = await canConnect(target(outsider, pw, f.db));
    expect(r).toMatchObject({ ok: false, code: '42501' });
    expect(await canConnect(target(outsider, pw, 'postgres'))).toEqual({ ok: true });
  });

  test('drift is taken back both ways: extra grants revoked, missing ones granted, attributes restored', async () => {
    await asSuperuser(async (c) => {
      await c.query(`GRANT INSERT, TRUNCATE ON items TO ${ident(f.roles.analytics as string)}`);
      await c.query(`GRANT SELECT ON items TO ${ident(f.roles.analytics as string)} WITH GRANT OPTION`);
      await c.query(`REVOKE DELETE ON items FROM ${ident(f.roles.application)}`);
      await c.query(`GRANT TEMPORARY ON DATABASE ${ident(f.db)} TO ${ident(f.roles.analytics as string)}`);
      await c.query(`ALTER ROLE ${ident(f.roles.application)} CREATEDB`);
      await c.query(`ALTER DEFAULT PRIVILEGES FOR ROLE ${ident(f.roles.owner)} GRANT INSERT ON TABLES TO ${ident(f.roles.analytics as string)}`);
    }, f.db);
    // Someone holding the administrator's credentials makes the application a member of the owner.
    await conns.withClient(serverTarget(), (c) => c.query(`GRANT ${ident(f.roles.owner)} TO ${ident(f.roles.application)}`));
    const repair = await fullSync(f);
    expect(repair.statements).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^REVOKE INSERT, TRUNCATE ON TABLE "public"."items" FROM/),
        expect.stringMatching(/^REVOKE GRANT OPTION FOR SELECT ON TABLE "public"."items" FROM/),
        expect.stringMatching(/^GRANT DELETE ON TABLE "public"."items" TO/),
        expect.stringMatching(/^REVOKE TEMPORARY ON DATABASE/),
        expect.stringMatching(/^ALTER ROLE .* NOCREATEDB/),
        expect.stringMatching(/^REVOKE ".*_owner" FROM/),
        expect.stringMatching(/^ALTER DEFAULT PRIVILEGES FOR ROLE .* REVOKE INSERT ON TABLES FROM/),
      ]),
    );
    expect((await fullSync(f)).statements).toEqual([]);
    await expect(query(as(f, f.roles.analytics as string), "INSERT INTO items (v) VALUES ('c')")).rejects.toThrow(/permission denied/);
  });

  test('a dropped role is created again with its password, a changed password set back', async () => {
    await asSuperuser((c) => c.query(`DROP ROLE ${ident(f.roles.analytics as string)}`), 'postgres').catch(async () => {
      // It holds privileges in the database: what a DBA would do first.
      await asSuperuser((c) => c.query(`DROP OWNED BY ${ident(f.roles.analytics as string)}`), f.db);
      await asSuperuser((c) => c.query(`DROP ROLE ${ident(f.roles.analytics as string)}`));
    });
    const r = await fullSync(f);
    expect(r.statements.some((s) => s.startsWith(`CREATE ROLE ${ident(f.roles.analytics as string)}`))).toBe(true);
    expect((await query(as(f, f.roles.analytics as string), 'SELECT count(*)::int AS n FROM items')).rows[0]).toEqual({ n: 1 });

    await asSuperuser((c) => c.query(`ALTER ROLE ${ident(f.roles.application)} PASSWORD 'someone-else-1234'`));
    expect(await canConnect(as(f, f.roles.application))).toMatchObject({ ok: false, code: '28P01' });
    const log = new StatementLog();
    await conns.withClient(serverTarget(), (c) => setPassword(c, f.roles.application, f.passwords.get(f.roles.application) as string, log));
    expect(log.statements).toEqual([`ALTER ROLE ${ident(f.roles.application)} WITH PASSWORD '<scram verifier>'`]);
    expect(await canConnect(as(f, f.roles.application))).toEqual({ ok: true });
  });

  test('an extension that cannot be created is reported with PostgreSQL\'s message; the rest are created', async () => {
    const r = await fullSync(f, ['no_such_extension_x', 'pg_trgm', 'pg_stat_statements']);
    expect(r.failed).toEqual([expect.stringMatching(/^no_such_extension_x: extension "no_such_extension_x" is not available/), expect.stringMatching(/^pg_stat_statements: permission denied to create extension/)]);
    expect(r.statements).toContain('CREATE EXTENSION IF NOT EXISTS "pg_trgm"');
  });

  test('Delete: sessions ended, the database and the roles dropped', async () => {
    const held = new pg.Client({ ...as(f, f.roles.application), ssl: { ca: as(f, f.roles.application).caPem, rejectUnauthorized: true } });
    held.on('error', () => undefined);
    await held.connect();
    const log = new StatementLog();
    await conns.forget({ host: serverTarget().host, port: serverTarget().port, database: f.db });
    await conns.withClient(serverTarget(), async (c) => {
      expect(await terminateSessions(c, f.db)).toBeGreaterThanOrEqual(1);
      await dropDatabase(c, f.db, log);
      await dropRoles(c, [f.roles.application, f.roles.analytics as string, f.roles.admin as string, f.roles.owner], log);
    });
    await held.end().catch(() => undefined);
    const left = await asSuperuser((c) => c.query(`SELECT (SELECT count(*)::int FROM pg_database WHERE datname = $1) AS d, (SELECT count(*)::int FROM pg_roles WHERE rolname = ANY($2)) AS r`, [f.db, Object.values(f.roles)]));
    expect(left.rows[0]).toEqual({ d: 0, r: 0 });
  });
});

describe('roles the operator must not take over', () => {
  test('the administrator itself, or a privileged role it did not create, is refused and left as it was', async () => {
    const asAdmin = fixture({ application: adminUser });
    await expect(fullSync(asAdmin)).rejects.toMatchObject({ reason: 'RoleConflict', message: expect.stringMatching(/server administrator/) });
    const other = uniq('dba');
    await asSuperuser((c) => c.query(`CREATE ROLE ${ident(other)} LOGIN CREATEDB`));
    const f = fixture({ analytics: other });
    await expect(fullSync(f)).rejects.toMatchObject({ reason: 'RoleConflict', message: expect.stringMatching(/already exists with CREATEDB and was not created by the operator/) });
    const attrs = async (role: string) => (await asSuperuser((c) => c.query('SELECT rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = $1', [role]))).rows[0];
    expect(await attrs(adminUser)).toEqual({ rolcreatedb: true, rolcreaterole: true });
    expect(await attrs(other)).toEqual({ rolcreatedb: true, rolcreaterole: false });
  });
});

describe('names that need quoting stay names', () => {
  test('hostile role and database names are created verbatim and inject nothing', async () => {
    const canary = uniq('canary');
    await asSuperuser((c) => c.query(`CREATE ROLE ${ident(canary)}`));
    const hostile = `${canary}"; DROP ROLE ${canary}; --`;
    const f = fixture({ owner: hostile.slice(0, 63), application: `a'); DROP ROLE ${canary}; --`, analytics: 'ro$1 "x"', admin: undefined }, `db "; DROP DATABASE postgres; --${Date.now() % 1000}`);
    const r = await fullSync(f, []);
    expect(r.failed).toEqual([]);
    expect((await fullSync(f)).statements).toEqual([]);
    const names = await asSuperuser((c) => c.query(`SELECT rolname FROM pg_roles WHERE rolname = ANY($1) ORDER BY 1`, [[...Object.values(f.roles), canary]]));
    expect(names.rows.map((x) => x.rolname).sort()).toEqual([f.roles.owner, f.roles.application, f.roles.analytics as string, canary].sort());
    const dbs = await asSuperuser((c) => c.query(`SELECT datname FROM pg_database WHERE datname = ANY($1)`, [[f.db, 'postgres']]));
    expect(dbs.rows).toHaveLength(2);
    expect(await canConnect(as(f, f.roles.application))).toEqual({ ok: true });
    // Cleanup as the operator would on Delete.
    await conns.forget({ host: serverTarget().host, port: serverTarget().port, database: f.db });
    await conns.withClient(serverTarget(), async (c) => {
      await terminateSessions(c, f.db);
      await dropDatabase(c, f.db, new StatementLog());
      await dropRoles(c, [f.roles.application, f.roles.analytics as string, f.roles.owner], new StatementLog());
    });
  });

  test('identifiers PostgreSQL cannot hold are refused, not truncated', () => {
    expect(() => ident('x'.repeat(64))).toThrow(/longer than 63 bytes/);
    expect(() => ident('é'.repeat(32))).toThrow(/longer than 63 bytes/);
    expect(() => ident('a\u0000b')).toThrow(/NUL/);
    expect(() => ident('')).toThrow(/non-empty/);
    expect(ident('a"b')).toBe('"a""b"');
  });
});
