// Deletion: Retain keeps the database, the roles and the Secrets (owner references taken off first, so
// garbage collection leaves them); Delete ends the sessions, drops the database and the roles the operator
// created (a role that existed before is left), and removes the Secrets.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { ident } from '../../src/postgres/ident.js';
import { eventually, run } from '../runtime/helpers.js';
import pg from 'pg';
import { asSuperuser, caPem, superuserConfig } from '../postgres/helpers.js';
import { applyJson, connectWithUri, events, externalTd, getTd, readSecret, startDbHarness, tryConnect, waitReady, type DbHarness } from './db-harness.js';

let h: DbHarness;
const stamp = Date.now().toString(36);

beforeAll(async () => {
  h = await startDbHarness('db-del');
});

afterAll(async () => {
  await h?.stop();
});

async function catalog(p: string): Promise<{ d: number; roles: string[] }> {
  const r = await asSuperuser((c) =>
    c.query(`SELECT (SELECT count(*)::int FROM pg_database WHERE datname = $1) AS d, (SELECT coalesce(array_agg(rolname::text ORDER BY rolname), '{}') FROM pg_roles WHERE rolname LIKE $2) AS roles`, [`${p}_db`, `${p}\\_%`]),
  );
  return r.rows[0];
}

describe('deletion', () => {
  test('Retain keeps database, roles and Secrets, released from the object', async () => {
    const name = `keep-${stamp}`;
    const p = name.replace(/-/g, '_');
    await applyJson(externalTd(h.ns, name, { deletionPolicy: 'Retain' }));
    await waitReady(h.ns, name);
    await run(['delete', 'tenantdatabase', name, '-n', h.ns, '--wait=false']);
    await eventually('object gone', async () => (await getTd(h.ns, name)) === undefined);
    expect(await catalog(p)).toEqual({ d: 1, roles: [`${p}_app`, `${p}_owner`, `${p}_ro`] });
    for (const s of [`${name}-connection`, `${name}-analytics-connection`]) {
      const secret = await readSecret(h.ns, s);
      expect(secret).toBeDefined();
      expect(secret?.metadata.ownerReferences ?? []).toEqual([]);
    }
    // The application keeps working after the object is gone.
    expect(await tryConnect((await readSecret(h.ns, `${name}-connection`))?.data.uri as string, caPem())).toEqual({ ok: true });
  });

  test('Delete ends sessions, drops the database and the roles it created, keeps a role that was there before, removes the Secrets', async () => {
    const name = `drop-${stamp}`;
    const p = name.replace(/-/g, '_');
    // The analytics role exists before the object (made by hand with the administrator's credentials):
    // adopted explicitly (spec.roles.adopt), so not the operator's to drop.
    const adm = new pg.Client({ ...superuserConfig(), user: h.admin.user, password: h.admin.password });
    await adm.connect();
    await adm.query(`CREATE ROLE ${ident(`${p}_ro`)} LOGIN`);
    await adm.end();
    const td = externalTd(h.ns, name, { deletionPolicy: 'Delete', admin: true });
    await applyJson({ ...td, spec: { ...td.spec, roles: { ...td.spec.roles, adopt: ['analytics'] } } });
    await waitReady(h.ns, name);
    const held = await connectWithUri((await readSecret(h.ns, `${name}-connection`))?.data.uri as string, caPem());
    const ended = new Promise<void>((resolve) => held.once('end', () => resolve()));
    await run(['delete', 'tenantdatabase', name, '-n', h.ns, '--wait=false']);
    await eventually('object gone', async () => (await getTd(h.ns, name)) === undefined);
    await ended;
    expect(await catalog(p)).toEqual({ d: 0, roles: [`${p}_ro`] });
    for (const s of [`${name}-connection`, `${name}-analytics-connection`, `${name}-admin-connection`]) expect(await readSecret(h.ns, s)).toBeUndefined();
    expect((await events(h.ns, name)).map((e) => e.reason)).toContain('DatabaseDeleted');
  });

  test('Delete whose admin Secret went first (a namespace being deleted): the database stays, an Event says so, deletion is not blocked', async () => {
    const name = `orphan-${stamp}`;
    const p = name.replace(/-/g, '_');
    await applyJson({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'pg-admin-orphan', namespace: h.ns }, stringData: { username: h.admin.user, password: h.admin.password } });
    await applyJson(externalTd(h.ns, name, { deletionPolicy: 'Delete', adminSecret: 'pg-admin-orphan' }));
    await waitReady(h.ns, name);
    await run(['delete', 'secret', 'pg-admin-orphan', '-n', h.ns]);
    await run(['delete', 'tenantdatabase', name, '-n', h.ns, '--wait=false']);
    await eventually('object gone', async () => (await getTd(h.ns, name)) === undefined);
    expect((await catalog(p)).d).toBe(1);
    expect((await events(h.ns, name)).find((e) => e.reason === 'DatabaseRetained')).toMatchObject({ type: 'Warning' });
  });
});
