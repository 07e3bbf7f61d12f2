// Issue 16 point 10: removed roles lose access. A login role taken out of spec.roles can no longer log
// in, loses the privileges the operator granted (database, schemas, tables) and its connection Secret;
// it stays with deletionPolicy Retain, is dropped with Delete only when this object created it, and a
// role that existed before (adopted) is never dropped. Performed against the real apiserver and PostgreSQL.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import pg from 'pg';
import { ident, literal } from '../../src/postgres/ident.js';
import { asSuperuser, caPem, superuserConfig } from '../postgres/helpers.js';
import { eventually } from '../runtime/helpers.js';
import { applyJson, connectWithUri, DDL, externalTd, nudge, readSecret, resetStatements, startDbHarness, statementsBy, tryConnect, waitReady, type DbHarness } from '../tenantdatabase/db-harness.js';

let h: DbHarness;
const stamp = Date.now().toString(36);

beforeAll(async () => {
  h = await startDbHarness('trust-removed');
});

afterAll(async () => {
  await h?.stop();
});

async function asAdmin(statements: string[], database = 'postgres'): Promise<void> {
  const c = new pg.Client({ ...superuserConfig(database), user: h.admin.user, password: h.admin.password });
  await c.connect();
  try {
    for (const s of statements) await c.query(s);
  } finally {
    await c.end();
  }
}

/** A table made the way a migration makes it: as the owner (the administrator acting through SET ROLE). */
async function ownerTable(p: string): Promise<void> {
  await asAdmin([`SET ROLE ${ident(`${p}_owner`)}`, 'CREATE TABLE items (id int PRIMARY KEY)', 'INSERT INTO items VALUES (1)'], `${p}_db`);
}

/** What the role can do in the database; usage is its own grant on public (PUBLIC's USAGE there is PostgreSQL's default, not ours). */
async function access(p: string, role: string): Promise<{ exists: boolean; login?: boolean; connect?: boolean; usage?: boolean; select?: boolean }> {
  const r = await asSuperuser(
    (c) =>
      c.query(
        `SELECT r.rolcanlogin AS login, has_database_privilege(r.rolname, current_database(), 'CONNECT') AS connect,
                EXISTS (SELECT 1 FROM pg_namespace n, aclexplode(n.nspacl) a WHERE n.nspname = 'public' AND a.grantee = r.oid) AS usage, has_table_privilege(r.rolname, 'public.items', 'SELECT') AS select
           FROM pg_roles r WHERE r.rolname = $1`,
        [role],
      ),
    `${p}_db`,
  );
  return r.rows[0] ? { exists: true, ...r.rows[0] } : { exists: false };
}

describe('a login role taken out of the spec', () => {
  test('Retain: its login fails, its grants are gone, its Secret is gone, the role stays; the next pass writes nothing', async () => {
    const name = `rmret-${stamp}`;
    const p = name.replace(/-/g, '_');
    await applyJson(externalTd(h.ns, name, { deletionPolicy: 'Retain', admin: true }));
    await waitReady(h.ns, name);
    await ownerTable(p);
    const uri = (await readSecret(h.ns, `${name}-analytics-connection`))?.data.uri as string;
    const held = await connectWithUri(uri, caPem());
    expect((await held.query('SELECT count(*)::int AS n FROM items')).rows[0]).toEqual({ n: 1 });
    expect(await access(p, `${p}_ro`)).toEqual({ exists: true, login: true, connect: true, usage: true, select: true });

    await applyJson(externalTd(h.ns, name, { deletionPolicy: 'Retain', admin: true, analytics: false }));
    await eventually('analytics login refused', async () => (await tryConnect(uri, caPem())).ok === false, 30_000);
    expect(await tryConnect(uri, caPem())).toMatchObject({ ok: false });
    await eventually('grants gone', async () => (await access(p, `${p}_ro`)).select === false);
    expect(await access(p, `${p}_ro`)).toEqual({ exists: true, login: false, connect: false, usage: false, select: false });
    await eventually('Secret gone', async () => (await readSecret(h.ns, `${name}-analytics-connection`)) === undefined);
    // A session open before the removal is ended too.
    await expect(held.query('SELECT 1')).rejects.toThrow();
    await held.end().catch(() => undefined);
    // The roles still in the spec keep working.
    expect(await tryConnect((await readSecret(h.ns, `${name}-connection`))?.data.uri as string, caPem())).toEqual({ ok: true });
    expect(await access(p, `${p}_adm`)).toMatchObject({ login: true, select: true });
    // Converged: the retired role costs reads only.
    await waitReady(h.ns, name);
    await resetStatements(h.admin.user);
    await nudge(h.ns, name);
    await eventually('a pass ran', async () => (await statementsBy(h.admin.user)).some((s) => /pg_shdescription/.test(s.query)));
    await new Promise((r) => setTimeout(r, 1000));
    expect((await statementsBy(h.admin.user)).filter((s) => DDL.test(s.query)).map((s) => s.query)).toEqual([]);
  });

  test('Delete: a removed role this object created is dropped; an adopted one that existed before is retired but never dropped', async () => {
    const name = `rmdel-${stamp}`;
    const p = name.replace(/-/g, '_');
    await asAdmin([`CREATE ROLE ${ident(`${p}_adm`)} LOGIN PASSWORD ${literal('their-own-password-1')}`]);
    const td = externalTd(h.ns, name, { deletionPolicy: 'Delete', admin: true });
    await applyJson({ ...td, spec: { ...td.spec, roles: { ...td.spec.roles, adopt: ['admin'] } } });
    await waitReady(h.ns, name);
    await ownerTable(p);
    expect(await access(p, `${p}_adm`)).toMatchObject({ login: true, select: true });
    const adminUri = (await readSecret(h.ns, `${name}-admin-connection`))?.data.uri as string;
    expect(await tryConnect(adminUri, caPem())).toEqual({ ok: true });

    await applyJson(externalTd(h.ns, name, { deletionPolicy: 'Delete', analytics: false }));
    await eventually('created role dropped', async () => !(await access(p, `${p}_ro`)).exists, 30_000);
    await eventually('adopted role retired', async () => (await access(p, `${p}_adm`)).select === false);
    expect(await access(p, `${p}_adm`)).toEqual({ exists: true, login: false, connect: false, usage: false, select: false });
    expect(await tryConnect(adminUri, caPem())).toMatchObject({ ok: false });
    await eventually('Secrets gone', async () => (await readSecret(h.ns, `${name}-admin-connection`)) === undefined && (await readSecret(h.ns, `${name}-analytics-connection`)) === undefined);
    expect(await tryConnect((await readSecret(h.ns, `${name}-connection`))?.data.uri as string, caPem())).toEqual({ ok: true });
  });
});
