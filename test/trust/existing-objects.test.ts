// Issue 16 point 4: what existed before stays as it was. A database or role that was there before a
// TenantDatabase names it is never changed unless the spec adopts it, and never dropped, adopted or not.
// Each attack is performed against the real apiserver and PostgreSQL: the pre-existing objects are made
// with the very administrator credentials the operator uses (as another team, or a person, would), then
// a TenantDatabase with deletionPolicy Delete names them and is deleted.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import pg from 'pg';
import { ident, literal } from '../../src/postgres/ident.js';
import { asSuperuser, caPem, superuserConfig } from '../postgres/helpers.js';
import { eventually, run } from '../runtime/helpers.js';
import { applyJson, cond, events, externalTd, getTd, nudge, readSecret, startDbHarness, tryConnect, waitCondition, waitReady, type DbHarness } from '../tenantdatabase/db-harness.js';

let h: DbHarness;
const stamp = Date.now().toString(36);

beforeAll(async () => {
  h = await startDbHarness('trust-exist');
});

afterAll(async () => {
  await h?.stop();
});

/** Runs statements with the operator's own administrator credentials. */
async function asAdmin(statements: string[], database = 'postgres'): Promise<void> {
  const c = new pg.Client({ ...superuserConfig(database), user: h.admin.user, password: h.admin.password });
  await c.connect();
  try {
    for (const s of statements) await c.query(s);
  } finally {
    await c.end();
  }
}

/** Everything about a database a takeover could change: owner, comment, ACL, and its rows. */
async function databaseSnapshot(db: string): Promise<unknown> {
  const d = await asSuperuser((c) =>
    c.query(`SELECT pg_get_userbyid(datdba) AS owner, shobj_description(oid, 'pg_database') AS comment, datacl::text AS acl FROM pg_database WHERE datname = $1`, [db]),
  );
  if (!d.rows[0]) return { exists: false };
  const inside = await asSuperuser(
    (c) => c.query(`SELECT (SELECT count(*)::int FROM data) AS rows, (SELECT relacl::text FROM pg_class WHERE relname = 'data') AS tableacl, (SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'public') AS publicowner`),
    db,
  );
  return { exists: true, ...d.rows[0], ...inside.rows[0] };
}

/** Everything about a role a takeover could change: LOGIN and other attributes, password hash, comment, memberships. */
async function roleSnapshot(role: string): Promise<unknown> {
  const r = await asSuperuser((c) =>
    c.query(
      `SELECT a.rolcanlogin, a.rolinherit, a.rolpassword, shobj_description(a.oid, 'pg_authid') AS comment,
              (SELECT coalesce(array_agg(g.rolname::text ORDER BY g.rolname), '{}') FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = a.oid) AS member_of
         FROM pg_authid a WHERE a.rolname = $1`,
      [role],
    ),
  );
  return r.rows[0] ?? { exists: false };
}

async function roleExists(role: string): Promise<boolean> {
  return (await asSuperuser((c) => c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]))).rowCount === 1;
}

async function deleteTd(name: string): Promise<void> {
  await run(['delete', 'tenantdatabase', name, '-n', h.ns, '--wait=false']);
  await eventually('object gone', async () => (await getTd(h.ns, name)) === undefined, 60_000);
}

/** A database of someone else, with its own owner, comment, ACL and rows, made with the admin's credentials. */
async function foreignDatabase(p: string): Promise<void> {
  await asAdmin([`CREATE ROLE ${ident(`${p}_team`)} LOGIN PASSWORD 'team-password-12345'`, `CREATE DATABASE ${ident(`${p}_db`)}`, `COMMENT ON DATABASE ${ident(`${p}_db`)} IS 'billing data of team x'`, `GRANT CONNECT ON DATABASE ${ident(`${p}_db`)} TO ${ident(`${p}_team`)}`]);
  await asAdmin(['CREATE TABLE data (id int PRIMARY KEY, v text)', "INSERT INTO data SELECT g, 'row ' || g FROM generate_series(1, 25) g", `GRANT SELECT ON data TO ${ident(`${p}_team`)}`], `${p}_db`);
}

describe('a database that existed before', () => {
  test('not adopted: Stalled DatabaseExists with a Warning Event, nothing changed, and Delete leaves database, rows, owner, comment and ACL as they were', async () => {
    const name = `olddb-${stamp}`;
    const p = name.replace(/-/g, '_');
    await foreignDatabase(p);
    const before = await databaseSnapshot(`${p}_db`);
    await applyJson(externalTd(h.ns, name, { deletionPolicy: 'Delete' }));
    const o = await waitCondition(h.ns, name, 'DatabaseReady', () => true);
    // Give a takeover every chance: a second pass (the old code marked the database on the second).
    await nudge(h.ns, name);
    await new Promise((r) => setTimeout(r, 2000));
    expect(await databaseSnapshot(`${p}_db`)).toEqual(before);
    expect(cond(await getTd(h.ns, name), 'DatabaseReady')).toMatchObject({ status: 'False', reason: 'DatabaseExists', message: expect.stringMatching(/exists and was not created by this object; set spec.database.adopt/) });
    expect(cond(o, 'Ready')?.status).not.toBe('True');
    expect(cond(await getTd(h.ns, name), 'Ready')).toMatchObject({ status: 'False', reason: 'DatabaseExists' });
    expect((await events(h.ns, name)).find((e) => e.reason === 'DatabaseExists')).toMatchObject({ type: 'Warning' });
    // Nothing at all was made for it: no roles, no Secret.
    expect(await roleExists(`${p}_owner`)).toBe(false);
    expect(await roleExists(`${p}_app`)).toBe(false);
    expect(await readSecret(h.ns, `${name}-connection`)).toBeUndefined();
    await deleteTd(name);
    expect(await databaseSnapshot(`${p}_db`)).toEqual(before);
  });

  test('adopted: managed (owner, grants), and on Delete kept with its rows; the deletion event says so', async () => {
    const name = `adoptdb-${stamp}`;
    const p = name.replace(/-/g, '_');
    await foreignDatabase(p);
    const td = externalTd(h.ns, name, { deletionPolicy: 'Delete', analytics: false });
    await applyJson({ ...td, spec: { ...td.spec, database: { ...td.spec.database, adopt: true } } });
    await waitReady(h.ns, name);
    const owner = await asSuperuser((c) => c.query(`SELECT pg_get_userbyid(datdba) AS owner, has_database_privilege($2, datname, 'CONNECT') AS app FROM pg_database WHERE datname = $1`, [`${p}_db`, `${p}_app`]));
    expect(owner.rows[0]).toEqual({ owner: `${p}_owner`, app: true });
    expect(await tryConnect((await readSecret(h.ns, `${name}-connection`))?.data.uri as string, caPem())).toEqual({ ok: true });
    await deleteTd(name);
    const left = (await databaseSnapshot(`${p}_db`)) as { exists: boolean; rows: number; comment: string };
    expect(left).toMatchObject({ exists: true, rows: 25, comment: 'billing data of team x' });
    // The application role this object created is gone; the owner stays (it owns the kept database).
    expect(await roleExists(`${p}_app`)).toBe(false);
    const ev = (await events(h.ns, name)).find((e) => e.reason === 'DatabaseKept');
    expect(ev?.note ?? ev?.message).toMatch(new RegExp(`database ${p}_db was not created by this object .* is kept`));
    expect((await events(h.ns, name)).map((e) => e.reason)).not.toContain('DatabaseDeleted');
  });
});

describe('an object of the same name later', () => {
  test('is another object: what a deleted object left behind (Retain) is not its to change or drop', async () => {
    const name = `again-${stamp}`;
    const p = name.replace(/-/g, '_');
    await applyJson(externalTd(h.ns, name, { deletionPolicy: 'Retain' }));
    await waitReady(h.ns, name);
    await deleteTd(name);
    const before = { db: await asSuperuser((c) => c.query(`SELECT datdba, shobj_description(oid, 'pg_database') AS comment, datacl::text FROM pg_database WHERE datname = $1`, [`${p}_db`])).then((r) => r.rows), app: await roleSnapshot(`${p}_app`) };
    await applyJson(externalTd(h.ns, name, { deletionPolicy: 'Delete' }));
    // The marker names the first object's UID: this one is refused as another object's database.
    const o = await waitCondition(h.ns, name, 'DatabaseReady', (c) => c.status === 'False');
    expect(cond(o, 'DatabaseReady')).toMatchObject({ reason: 'DatabaseConflict', message: expect.stringMatching(/belongs to another object \(managed by tenantdb-operator for TenantDatabase .*\(uid /) });
    await deleteTd(name);
    const after = { db: await asSuperuser((c) => c.query(`SELECT datdba, shobj_description(oid, 'pg_database') AS comment, datacl::text FROM pg_database WHERE datname = $1`, [`${p}_db`])).then((r) => r.rows), app: await roleSnapshot(`${p}_app`) };
    expect(after).toEqual(before);
    expect(before.db).toHaveLength(1);
  });
});

describe('a role that existed before', () => {
  test('not adopted: Stalled RoleExists, its LOGIN, password hash, comment and memberships unchanged, before and after Delete', async () => {
    const name = `oldrole-${stamp}`;
    const p = name.replace(/-/g, '_');
    const role = `${p}_app`;
    await asAdmin([`CREATE ROLE ${ident(`${p}_grp`)}`, `CREATE ROLE ${ident(role)} LOGIN PASSWORD ${literal('their-own-password-1')}`, `COMMENT ON ROLE ${ident(role)} IS 'service account of team y'`, `GRANT ${ident(`${p}_grp`)} TO ${ident(role)}`]);
    const before = await roleSnapshot(role);
    await applyJson(externalTd(h.ns, name, { deletionPolicy: 'Delete' }));
    await waitCondition(h.ns, name, 'DatabaseReady', () => true);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await roleSnapshot(role)).toEqual(before);
    expect(cond(await getTd(h.ns, name), 'DatabaseReady')).toMatchObject({ status: 'False', reason: 'RoleExists', message: expect.stringMatching(/exists and was not created by this object; set spec.roles.adopt/) });
    expect((await events(h.ns, name)).find((e) => e.reason === 'RoleExists')).toMatchObject({ type: 'Warning' });
    // Refused before anything was written: no database, no other role.
    expect((await asSuperuser((c) => c.query('SELECT 1 FROM pg_database WHERE datname = $1', [`${p}_db`]))).rowCount).toBe(0);
    expect(await roleExists(`${p}_owner`)).toBe(false);
    await deleteTd(name);
    expect(await roleSnapshot(role)).toEqual(before);
  });

  test('adopted: managed (login with the Secret works) and never dropped on Delete, while the roles it created are', async () => {
    const name = `adoptrole-${stamp}`;
    const p = name.replace(/-/g, '_');
    const role = `${p}_app`;
    await asAdmin([`CREATE ROLE ${ident(role)} LOGIN PASSWORD ${literal('their-own-password-1')}`]);
    const td = externalTd(h.ns, name, { deletionPolicy: 'Delete' });
    await applyJson({ ...td, spec: { ...td.spec, roles: { ...td.spec.roles, adopt: ['application'] } } });
    await waitReady(h.ns, name);
    expect(await tryConnect((await readSecret(h.ns, `${name}-connection`))?.data.uri as string, caPem())).toEqual({ ok: true });
    await deleteTd(name);
    expect(await roleExists(role)).toBe(true);
    expect(await roleExists(`${p}_owner`)).toBe(false);
    expect(await roleExists(`${p}_ro`)).toBe(false);
    expect((await asSuperuser((c) => c.query('SELECT 1 FROM pg_database WHERE datname = $1', [`${p}_db`]))).rowCount).toBe(0);
  });
});
