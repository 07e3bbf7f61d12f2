// The database part on a Flexible Server the operator provisions (the ARM emulator, every server a real
// PostgreSQL whose administrator is not superuser, as on Azure): Ready only once the database, roles and
// Secrets are in shape, and the application's Secret connects to the FQDN with verify-full.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { PostgresConnections } from '../../src/postgres/connections.js';
import { generatePassword } from '../../src/postgres/database/scram.js';
import type { Manager } from '../../src/runtime/manager.js';
import { createTestNamespace } from '../../dev/env/testenv.js';
import { eventually, getJson, installCrds, run } from '../runtime/helpers.js';
import { azureTenantDatabase, credentialsSecret, RG, startAzureHarness, startOperatorInProcess, type AzureHarness } from './azure-harness.js';
import { readSecret, waitReady } from './db-harness.js';

let h: AzureHarness;
let ns: string;
let mgr: Manager;
let conns: PostgresConnections;

beforeAll(async () => {
  await installCrds();
  h = await startAzureHarness('db-azure');
  ns = await createTestNamespace('db-azure');
  conns = new PostgresConnections(h.settings.postgres);
  await run(['apply', '-f', '-'], JSON.stringify(credentialsSecret(ns, 'azure-creds')));
  mgr = await startOperatorInProcess(h, ns, { parts: 'all' });
});

afterAll(async () => {
  await conns?.close();
  await mgr?.stop();
  if (ns) await run(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  await h?.stop();
});

test('on Azure: Ready with the database in shape; the connection Secret reaches the FQDN as the application', async () => {
  const name = 'orders';
  const server = `dbpart-${Date.now().toString(36)}`;
  await run(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: `${name}-admin`, namespace: ns }, stringData: { password: generatePassword() } }));
  const td = azureTenantDatabase(ns, name, server, {}, { spec: { database: { name: 'orders', extensions: ['pgcrypto'] }, roles: { owner: 'orders_owner', application: 'orders_app', analytics: 'orders_ro' } } });
  await run(['apply', '-f', '-'], JSON.stringify(td));
  const o = await waitReady(ns, name, 150_000);
  expect(o.status?.conditions?.find((c) => c.type === 'DatabaseReady')).toMatchObject({ status: 'True' });
  // The database is a child resource Azure knows (created through ARM), owned by the owner role.
  expect((await h.client.databases.get(RG, server, 'orders')).name).toBe('orders');
  const s = await readSecret(ns, `${name}-connection`);
  expect(s?.data.host).toBe(`${server}.postgres.database.azure.com`);
  expect(s?.data.sslmode).toBe('verify-full');
  const t = { host: s?.data.host as string, port: Number(s?.data.port), sslMode: 'verify-full' as const, user: s?.data.username as string, password: s?.data.password as string, database: 'orders' };
  const r = await conns.query<{ u: string; owner: string; pc: boolean }>(t, `SELECT current_user AS u, pg_get_userbyid(d.datdba) AS owner, has_database_privilege('public', d.datname, 'CONNECT') AS pc FROM pg_database d WHERE d.datname = current_database()`);
  expect(r.rows).toEqual([{ u: 'orders_app', owner: 'orders_owner', pc: false }]);
  const ro = await readSecret(ns, `${name}-analytics-connection`);
  await expect(conns.query({ ...t, user: ro?.data.username as string, password: ro?.data.password as string }, 'CREATE TABLE x (i int)')).rejects.toThrow(/permission denied/);
});

test('a database create in Azure holds no worker: while it runs the object says CreatingDatabase, then becomes Ready', async () => {
  const name = 'slowdb';
  const server = `dbslow-${Date.now().toString(36)}`;
  const adminPassword = generatePassword();
  await run(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: `${name}-admin`, namespace: ns }, stringData: { password: adminPassword } }));
  // The database's create operation starts paused: a reconcile waiting for it would sit there until resumed.
  await h.control.pauseOperations({ method: 'PUT', path: `flexibleServers/${server}/databases/slow$`, count: 1 });
  await run(['apply', '-f', '-'], JSON.stringify(azureTenantDatabase(ns, name, server, {}, { spec: { database: { name: 'slow' }, roles: { owner: 'slow_owner', application: 'slow_app' } } })));
  type Obj = { status?: { conditions?: Array<{ type: string; status: string; reason: string }> } };
  await eventually('DatabaseReady reason CreatingDatabase', async () => {
    const o = await getJson<Obj>(['get', 'tenantdatabases.tenantdb.io', name, '-n', ns]);
    return o?.status?.conditions?.some((c) => c.type === 'DatabaseReady' && c.status === 'False' && c.reason === 'CreatingDatabase') ? o : undefined;
  }, 120_000, 300);
  const op = (await h.control.operations()).find((x) => x.paused && /databases\/slow/i.test(`${x.resourceId} ${x.path}`));
  expect(op).toBeDefined();
  await h.control.resumeOperation(op!.id);
  const o = await waitReady(ns, name, 60_000);
  expect(o.status?.conditions?.find((c) => c.type === 'DatabaseReady')).toMatchObject({ status: 'True' });
  // Created by this object (it started the create and saw it finish), so marked as its own.
  const admin = { host: `${server}.postgres.database.azure.com`, port: 5432, sslMode: 'verify-full' as const, user: 'tdbadmin', password: adminPassword, database: 'postgres' };
  const marked = await conns.query<{ c: string | null }>(admin, `SELECT shobj_description(oid, 'pg_database') AS c FROM pg_database WHERE datname = 'slow'`);
  expect(marked.rows[0]?.c).toMatch(/managed by tenantdb-operator for TenantDatabase/);
}, 240_000);
