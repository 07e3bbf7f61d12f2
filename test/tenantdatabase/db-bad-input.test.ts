// Bad input at run time, each on its own TenantDatabase: a missing admin Secret, a wrong password, a wrong
// CA, an unreachable server, an administrator without CREATEROLE, an extension that is not available. Each
// gives a clear condition and an Event, leaves nothing half-made, and the fix alone brings it to Ready.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ensureCertificateAuthority } from '../../dev/env/pki.js';
import { eventually, run } from '../runtime/helpers.js';
import { asSuperuser, uniq } from '../postgres/helpers.js';
import { generatePassword } from '../../src/postgres/database/scram.js';
import { applyJson, cond, events, externalTd, getTd, readSecret, startDbHarness, waitCondition, waitReady, type DbHarness } from './db-harness.js';

let h: DbHarness;
const stamp = Date.now().toString(36);
const n = (s: string) => `bad-${s}-${stamp}`;

async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

async function nothingCreated(name: string): Promise<void> {
  const p = name.replace(/-/g, '_');
  const r = await asSuperuser((c) =>
    c.query(`SELECT (SELECT count(*)::int FROM pg_database WHERE datname = $1) AS d, (SELECT count(*)::int FROM pg_roles WHERE rolname LIKE $2) AS r`, [`${p}_db`, `${p}\\_%`]),
  );
  expect(r.rows[0]).toEqual({ d: 0, r: 0 });
  expect(await readSecret(h.ns, `${name}-connection`)).toBeUndefined();
}

async function warned(name: string, reason: string): Promise<void> {
  await eventually(`Event ${reason} on ${name}`, async () => (await events(h.ns, name)).some((e) => e.reason === reason && e.type === 'Warning'));
}

beforeAll(async () => {
  h = await startDbHarness('db-bad');
  const otherCa = await ensureCertificateAuthority(fs.mkdtempSync(path.join(os.tmpdir(), 'other-ca-')));
  const weak = uniq('weakadm');
  await asSuperuser((c) => c.query(`CREATE ROLE "${weak}" LOGIN CREATEDB PASSWORD 'weak-admin-password-1'`));
  await applyJson({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'pg-admin-wrong', namespace: h.ns }, stringData: { username: h.admin.user, password: generatePassword() } });
  await applyJson({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'pg-admin-weak', namespace: h.ns }, stringData: { username: weak, password: 'weak-admin-password-1' } });
  await applyJson({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'other-ca', namespace: h.ns }, stringData: { 'ca.crt': fs.readFileSync(otherCa.certFile, 'utf8') } });
  const port = await closedPort();
  await applyJson({
    apiVersion: 'v1',
    kind: 'List',
    items: [
      externalTd(h.ns, n('nosecret'), { adminSecret: 'not-there-yet' }),
      externalTd(h.ns, n('password'), { adminSecret: 'pg-admin-wrong' }),
      externalTd(h.ns, n('ca'), { caSecret: 'other-ca' }),
      externalTd(h.ns, n('noca'), { caSecret: null }),
      externalTd(h.ns, n('unreachable'), { host: '127.0.0.1', port }),
      externalTd(h.ns, n('weak'), { adminSecret: 'pg-admin-weak' }),
      externalTd(h.ns, n('ext'), { extensions: ['pgcrypto', 'no_such_extension', 'citext'] }),
    ],
  });
});

afterAll(async () => {
  await h?.stop();
});

describe('bad input', () => {
  test('missing admin Secret: Stalled AdminSecretMissing with an Event; creating the Secret is enough', async () => {
    const name = n('nosecret');
    const o = await waitCondition(h.ns, name, 'ServerReady', (c) => c.reason === 'AdminSecretMissing');
    expect(cond(o, 'Stalled')).toMatchObject({ status: 'True', reason: 'AdminSecretMissing' });
    expect(cond(o, 'Ready')?.message).toMatch(/not-there-yet/);
    await warned(name, 'AdminSecretMissing');
    await nothingCreated(name);
    await applyJson({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'not-there-yet', namespace: h.ns }, stringData: { username: h.admin.user, password: h.admin.password } });
    await waitReady(h.ns, name);
  });

  test('wrong password: ConnectionFailed naming the authentication failure, nothing created', async () => {
    const name = n('password');
    const o = await waitCondition(h.ns, name, 'ServerReady', (c) => c.reason === 'ConnectionFailed');
    expect(cond(o, 'ServerReady')?.message).toMatch(/authentication failed/);
    expect(cond(o, 'Stalled')?.status).toBe('True');
    await warned(name, 'ConnectionFailed');
    await nothingCreated(name);
    // The fix: the right password in the Secret.
    await applyJson({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'pg-admin-wrong', namespace: h.ns }, stringData: { username: h.admin.user, password: h.admin.password } });
    await waitReady(h.ns, name);
  });

  test('wrong CA, and no CA at all: ConnectionFailed naming TLS verification', async () => {
    for (const name of [n('ca'), n('noca')]) {
      const o = await waitCondition(h.ns, name, 'ServerReady', (c) => c.reason === 'ConnectionFailed');
      expect(cond(o, 'ServerReady')?.message).toMatch(/TLS verification failed/);
      await nothingCreated(name);
    }
    await warned(n('ca'), 'ConnectionFailed');
  });

  test('unreachable server: ConnectionFailed, Reconciling (retried with backoff), never Stalled', async () => {
    const name = n('unreachable');
    const o = await waitCondition(h.ns, name, 'ServerReady', (c) => c.reason === 'ConnectionFailed');
    expect(cond(o, 'ServerReady')?.message).toMatch(/cannot reach the server/);
    expect(cond(o, 'Reconciling')?.status).toBe('True');
    expect(cond(o, 'Stalled')?.status).toBe('False');
    expect(o.status?.serverState).toBe('Unreachable');
  });

  test('an administrator without CREATEROLE is reported as such', async () => {
    const name = n('weak');
    const o = await waitCondition(h.ns, name, 'ServerReady', (c) => c.reason === 'InsufficientPrivilege');
    expect(cond(o, 'ServerReady')?.message).toMatch(/lacks CREATEROLE/);
    await warned(name, 'InsufficientPrivilege');
    await nothingCreated(name);
  });

  test('an extension that is not available: ExtensionUnavailable with PostgreSQL\'s message, the rest made; removing it is enough', async () => {
    const name = n('ext');
    const o = await waitCondition(h.ns, name, 'DatabaseReady', (c) => c.reason === 'ExtensionUnavailable');
    expect(cond(o, 'DatabaseReady')?.message).toMatch(/no_such_extension: extension "no_such_extension" is not available/);
    expect(cond(o, 'Ready')?.reason).toBe('ExtensionUnavailable');
    expect(o.status?.database?.extensions).toEqual(['pgcrypto', 'citext']);
    await warned(name, 'ExtensionUnavailable');
    // Everything else is in place: the Secret works.
    expect((await readSecret(h.ns, `${name}-connection`))?.data.username).toBe(`${name.replace(/-/g, '_')}_app`);
    const p = name.replace(/-/g, '_');
    const ext = await asSuperuser((c) => c.query(`SELECT extname FROM pg_extension WHERE extname IN ('pgcrypto', 'citext') ORDER BY 1`), `${p}_db`);
    expect(ext.rows.map((r) => r.extname)).toEqual(['citext', 'pgcrypto']);
    await run(['patch', 'tenantdatabase', name, '-n', h.ns, '--type=merge', '-p', JSON.stringify({ spec: { database: { extensions: ['pgcrypto', 'citext'] } } })]);
    const ready = await waitReady(h.ns, name);
    expect(ready.status?.observedGeneration).toBe(2);
    expect((await getTd(h.ns, name))?.status?.conditions?.find((c) => c.type === 'DatabaseReady')?.status).toBe('True');
  });
});
