// The database part end to end on an external server (the environment's PostgreSQL): the TenantDatabase
// becomes Ready, its connection Secrets work with exactly their uri (verify-full), the roles can do what
// they should and no more, a converged sync runs no DDL/GRANT, drift is repaired and passwords rotate.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import pg from 'pg';
import { ident } from '../../src/postgres/ident.js';
import { eventually, run } from '../runtime/helpers.js';
import { asSuperuser, caPem, uniq } from '../postgres/helpers.js';
import {
  applyJson,
  connectWithUri,
  DDL,
  EXAMPLE_HOST,
  events,
  externalTd,
  getTd,
  nudge,
  readSecret,
  resetStatements,
  startDbHarness,
  statementsBy,
  tryConnect,
  waitReady,
  type DbHarness,
} from './db-harness.js';

let h: DbHarness;
const name = `ext-${Date.now().toString(36)}`;
const p = name.replace(/-/g, '_');
const db = `${p}_db`;
const roles = { owner: `${p}_owner`, app: `${p}_app`, ro: `${p}_ro`, adm: `${p}_adm` };

beforeAll(async () => {
  h = await startDbHarness('db-ext');
  await applyJson(externalTd(h.ns, name, { extensions: ['pgcrypto'], admin: true }));
});

afterAll(async () => {
  await h?.stop();
});

const secret = (suffix = 'connection') => readSecret(h.ns, `${name}-${suffix}`);

async function query(uri: string, sql: string): Promise<pg.QueryResult> {
  const c = await connectWithUri(uri, caPem());
  try {
    return await c.query(sql);
  } finally {
    await c.end();
  }
}

describe('external server', () => {
  test('Ready, with one connection Secret per login role holding the documented keys', async () => {
    const o = await waitReady(h.ns, name);
    expect(o.status?.conditions?.filter((c) => ['ServerReady', 'DatabaseReady'].includes(c.type)).map((c) => [c.type, c.status])).toEqual([
      ['ServerReady', 'True'],
      ['DatabaseReady', 'True'],
    ]);
    expect(o.status).toMatchObject({ serverState: 'Reachable', connectionSecret: `${name}-connection`, database: { name: db, owner: roles.owner, extensions: ['pgcrypto'] } });
    expect(o.status?.serverVersion).toMatch(/^\d+/);
    const s = await secret();
    expect(Object.keys(s?.data ?? {}).sort()).toEqual(['ca.crt', 'dbname', 'host', 'jdbc-uri', 'password', 'pgpass', 'port', 'sslmode', 'uri', 'username'].sort());
    expect(s?.data).toMatchObject({ host: 'localhost', dbname: db, username: roles.app, sslmode: 'verify-full', 'ca.crt': caPem() });
    expect(s?.data.uri).toBe(`postgresql://${roles.app}:${encodeURIComponent(s?.data.password as string)}@localhost:${s?.data.port}/${db}?sslmode=verify-full`);
    expect(s?.metadata.labels).toMatchObject({ 'tenantdb.io/tenantdatabase': name, 'tenantdb.io/role': 'application' });
    expect(s?.metadata.ownerReferences?.map((r) => [r.kind, r.uid])).toEqual([['TenantDatabase', o.metadata.uid]]);
    expect((await secret('analytics-connection'))?.data.username).toBe(roles.ro);
    expect((await secret('admin-connection'))?.data.username).toBe(roles.adm);
    // The password is in no status field and no Event.
    const pw = s?.data.password as string;
    expect(JSON.stringify(await getTd(h.ns, name))).not.toContain(pw);
    expect(JSON.stringify(await events(h.ns, name))).not.toContain(pw);
  });

  test('the application reads and writes with exactly its uri, analytics only reads, a role outside the set cannot connect', async () => {
    const app = (await secret())?.data.uri as string;
    const ro = (await secret('analytics-connection'))?.data.uri as string;
    // A migration: the administrator as the owner creates a table.
    await asSuperuser(async (c) => {
      await c.query(`SET ROLE ${ident(roles.owner)}`);
      await c.query('CREATE TABLE notes (id bigserial PRIMARY KEY, body text NOT NULL)');
    }, db);
    await query(app, "INSERT INTO notes (body) VALUES ('hello')");
    expect((await query(app, 'SELECT body FROM notes')).rows).toEqual([{ body: 'hello' }]);
    await query(app, "UPDATE notes SET body = 'hi'");
    expect((await query(ro, 'SELECT body FROM notes')).rows).toEqual([{ body: 'hi' }]);
    await expect(query(ro, "INSERT INTO notes (body) VALUES ('x')")).rejects.toThrow(/permission denied/);
    await expect(query(ro, 'DELETE FROM notes')).rejects.toThrow(/permission denied/);
    await expect(query(app, 'CREATE TABLE t2 (i int)')).rejects.toThrow(/permission denied/);
    // pgcrypto is there.
    expect((await query(app, "SELECT length(gen_random_bytes(4)) AS n")).rows).toEqual([{ n: 4 }]);

    const outsider = uniq('outsider');
    await asSuperuser((c) => c.query(`CREATE ROLE ${ident(outsider)} LOGIN PASSWORD 'outsider-password-1'`));
    const r = await tryConnect(app.replace(`${roles.app}:${encodeURIComponent((await secret())?.data.password as string)}`, `${outsider}:outsider-password-1`), caPem());
    expect(r).toMatchObject({ ok: false, code: '42501' });
    // verify-full: the uri refuses a server whose certificate the client does not trust.
    expect(await tryConnect(app, '')).toMatchObject({ ok: false });
  });

  test('a converged sync runs no DDL, no GRANT and writes nothing to Kubernetes', async () => {
    const before = await getTd(h.ns, name);
    const secretRv = (await secret())?.metadata.resourceVersion;
    await resetStatements(h.admin.user);
    await nudge(h.ns, name);
    // The sync ran: its catalog reads show up.
    const ran = await eventually('catalog reads of the sync', async () => {
      const s = await statementsBy(h.admin.user);
      return s.some((x) => /pg_default_acl/.test(x.query)) ? s : undefined;
    });
    // Let the rest of the pass (login checks, status) finish before looking, and before the next test.
    await new Promise((r) => setTimeout(r, 1000));
    expect(ran.filter((x) => DDL.test(x.query))).toEqual([]);
    expect((await statementsBy(h.admin.user)).filter((x) => DDL.test(x.query))).toEqual([]);
    expect((await secret())?.metadata.resourceVersion).toBe(secretRv);
    const after = await getTd(h.ns, name);
    expect(after?.status).toEqual(before?.status);
  });

  test('drift: an extra GRANT to analytics, a deleted Secret, a changed password and a dropped role are repaired', async () => {
    await asSuperuser((c) => c.query(`GRANT INSERT, DELETE ON notes TO ${ident(roles.ro)}`), db);
    await resetStatements(h.admin.user);
    await asSuperuser((c) => c.query(`ALTER ROLE ${ident(roles.app)} PASSWORD 'changed-by-hand-123'`));
    const appUri = (await secret())?.data.uri as string;
    await nudge(h.ns, name);
    await eventually('extra grant revoked', async () => {
      const r = await asSuperuser((c) => c.query(`SELECT has_table_privilege($1, 'notes', 'INSERT') AS i, has_table_privilege($1, 'notes', 'DELETE') AS d`, [roles.ro]), db);
      return r.rows[0].i === false && r.rows[0].d === false;
    });
    await eventually('password set back', async () => (await tryConnect(appUri, caPem())).ok);
    // It was the operator that set it back (as a verifier: the statement holds no password).
    const set = (await statementsBy(h.admin.user)).filter((x) => x.query.startsWith(`ALTER ROLE ${ident(roles.app)} WITH PASSWORD`));
    expect(set.length).toBeGreaterThan(0);
    expect(JSON.stringify(set)).not.toContain((await secret())?.data.password as string);

    // A deleted Secret comes back through the owned-object watch (with a new password that works).
    const oldRo = await secret('analytics-connection');
    await run(['delete', 'secret', `${name}-analytics-connection`, '-n', h.ns]);
    const back = await eventually('analytics Secret recreated', async () => {
      const s = await secret('analytics-connection');
      return s && s.metadata.resourceVersion !== oldRo?.metadata.resourceVersion ? s : undefined;
    });
    await eventually('recreated Secret works', async () => (await tryConnect(back.data.uri as string, caPem())).ok);

    // An edited Secret is put back (keys the operator writes restored, stray keys removed).
    await run(['patch', 'secret', `${name}-connection`, '-n', h.ns, '--type=merge', '-p', JSON.stringify({ stringData: { host: 'elsewhere.example.com', extra: 'x' } })]);
    await eventually('edited Secret restored', async () => {
      const s = await secret();
      return s?.data.host === 'localhost' && s.data.extra === undefined;
    });

    // A dropped role is created again and its Secret's password works.
    // In one transaction, retried: a sync still running from the Secret edit may grant to the role
    // between a separate DROP OWNED and DROP ROLE.
    await eventually('admin role dropped', async () =>
      asSuperuser(async (c) => {
        try {
          await c.query('BEGIN');
          await c.query(`DROP OWNED BY ${ident(roles.adm)}`);
          await c.query(`DROP ROLE ${ident(roles.adm)}`);
          await c.query('COMMIT');
          return true;
        } catch (err) {
          await c.query('ROLLBACK');
          throw err;
        }
      }, db),
    );
    await nudge(h.ns, name);
    const adm = (await secret('admin-connection'))?.data.uri as string;
    await eventually('dropped role back', async () => (await tryConnect(adm, caPem())).ok);
    expect((await query(adm, 'SELECT count(*)::int AS n FROM notes')).rows).toEqual([{ n: 1 }]);
    await waitReady(h.ns, name);
    expect((await events(h.ns, name)).map((e) => e.reason)).toContain('DriftRepaired');
  });

  test('rotation: after the annotation the old password fails and the new one in the Secret works', async () => {
    const old = await secret();
    await run(['annotate', 'tenantdatabase', name, '-n', h.ns, 'tenantdb.io/rotate-credentials=r1', '--overwrite']);
    const rotated = await eventually('new password in the Secret', async () => {
      const s = await secret();
      return s && s.data.password !== old?.data.password ? s : undefined;
    });
    expect(rotated.metadata.annotations?.['tenantdb.io/credentials-rotation']).toBe('r1');
    await eventually('new password works', async () => (await tryConnect(rotated.data.uri as string, caPem())).ok);
    expect(await tryConnect(old?.data.uri as string, caPem())).toMatchObject({ ok: false, code: '28P01' });
    const o = await waitReady(h.ns, name);
    expect(o.status?.database?.credentialsRotation).toBe('r1');
    // Once done, later syncs keep the rotated password.
    await nudge(h.ns, name);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await secret())?.data.password).toBe(rotated.data.password);
  });

  test('verify-full through a hosts-file mapping: the example host name reaches the server', async () => {
    const n2 = `${name}-h`;
    await applyJson(externalTd(h.ns, n2, { host: EXAMPLE_HOST, analytics: false }));
    const o = await waitReady(h.ns, n2);
    expect((await readSecret(h.ns, `${n2}-connection`))?.data.host).toBe(EXAMPLE_HOST);
    expect(o.status?.serverState).toBe('Reachable');
  });
});
