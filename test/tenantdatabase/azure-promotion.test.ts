// Issue 18: promotion of a read replica declared in spec.server.azure.promotion, against the real
// apiserver, the ARM emulator and its PostgreSQL servers (a replica is a streaming standby there). The
// application writes through its connection Secret, the spec asks for the promotion, and the same
// Secret (rewritten: same keys, the new host) finds every committed row on the new primary; a Forced
// promotion of a replica cut off from its primary reports the lost window; the same request applied
// again sends nothing to Azure.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { PostgresConnections, type DbTarget } from '../../src/postgres/connections.js';
import { generatePassword } from '../../src/postgres/database/scram.js';
import type { Manager } from '../../src/runtime/manager.js';
import { createTestNamespace } from '../../dev/env/testenv.js';
import { eventually, getJson, run } from '../runtime/helpers.js';
import { installCrds } from '../runtime/helpers.js';
import { azureTenantDatabase, credentialsSecret, RG, startAzureHarness, startOperatorInProcess, type AzureHarness } from './azure-harness.js';
import { nudge, readSecret, waitReady } from './db-harness.js';
import { lookupAzureServer } from '../../src/tenantdatabase/server.js';

let h: AzureHarness;
let ns: string;
let mgr: Manager;
let conns: PostgresConnections;

beforeAll(async () => {
  await installCrds();
  h = await startAzureHarness('promotion');
  ns = await createTestNamespace('promotion');
  conns = new PostgresConnections(h.settings.postgres);
  await run(['apply', '-f', '-'], JSON.stringify(credentialsSecret(ns, 'azure-creds')));
  mgr = await startOperatorInProcess(h, ns, { parts: 'all' });
}, 120_000);

afterAll(async () => {
  await conns?.close();
  await mgr?.stop();
  if (ns) await run(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  await h?.stop();
});

type Promotion = { requestId: string; replica: string; phase: string; fromServer?: string; requestedAt?: string; completedAt?: string; rtoSeconds?: number; lostWindowBytes?: number; replayLagBytes?: number; lastReplayedAt?: string; message?: string };
type Obj = { status?: { serverName?: string; serverFQDN?: string; promotion?: Promotion; conditions?: Array<{ type: string; status: string; reason: string; message: string }> } };

const fqdn = (server: string) => `${server}.postgres.database.azure.com`;

/** A TenantDatabase with one read replica, Ready, and its application table (made by the administrator). */
async function databaseWithReplica(name: string, primary: string, replica: string, adminPassword: string, promotion?: Record<string, unknown>) {
  const td = azureTenantDatabase(ns, name, primary, { readReplicas: [{ name: replica }], ...(promotion ? { promotion } : {}) }, { spec: { database: { name }, roles: { owner: `${name}_owner`, application: `${name}_app` } } });
  await run(['apply', '-f', '-'], JSON.stringify(td));
  return td;
}

async function setUp(name: string, primary: string, replica: string) {
  const adminPassword = generatePassword();
  await run(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: `${name}-admin`, namespace: ns }, stringData: { password: adminPassword } }));
  const td = await databaseWithReplica(name, primary, replica, adminPassword);
  await waitReady(ns, name, 240_000);
  await eventually(`replica ${replica} Ready`, async () => {
    const o = await getJson<{ status?: { replicas?: Array<{ name: string; state?: string }> } }>(['get', 'tenantdatabases.tenantdb.io', name, '-n', ns]);
    return o?.status?.replicas?.some((r) => r.name === replica && r.state === 'Ready') ? true : undefined;
  }, 120_000, 500);
  const admin: DbTarget = { host: fqdn(primary), port: 5432, sslMode: 'verify-full', user: 'tdbadmin', password: adminPassword, database: name };
  await conns.query(admin, 'CREATE TABLE orders (id int PRIMARY KEY, what text NOT NULL)');
  await conns.query(admin, `GRANT SELECT, INSERT ON orders TO ${name}_app`);
  return { td, admin };
}

/** The application's target as its connection Secret says now. */
async function appTarget(name: string): Promise<DbTarget> {
  const s = await readSecret(ns, `${name}-connection`);
  const d = s!.data;
  return { host: d.host!, port: Number(d.port), sslMode: 'verify-full', user: d.username!, password: d.password!, database: d.dbname ?? name };
}

async function insertRows(t: DbTarget, from: number, count: number) {
  for (let i = from; i < from + count; i++) await conns.query(t, 'INSERT INTO orders VALUES ($1, $2)', [i, `order ${i}`]);
}

async function promotionDone(name: string, requestId: string): Promise<Obj> {
  return eventually(`promotion ${requestId} completed`, async () => {
    const o = await getJson<Obj>(['get', 'tenantdatabases.tenantdb.io', name, '-n', ns]);
    return o?.status?.promotion?.requestId === requestId && o.status.promotion.completedAt ? o : undefined;
  }, 240_000, 200);
}

async function secretHost(name: string, host: string) {
  return eventually(`Secret ${name}-connection points at ${host}`, async () => ((await readSecret(ns, `${name}-connection`))?.data.host === host ? true : undefined), 120_000, 200);
}

test('Planned promotion: the application reconnects through its rewritten Secret and finds every committed row; the same request again sends nothing', async () => {
  const name = 'shop';
  const stamp = Date.now().toString(36);
  const primary = `prom-a-${stamp}`;
  const replica = `prom-b-${stamp}`;
  const { td } = await setUp(name, primary, replica);
  const before = await appTarget(name);
  expect(before.host).toBe(fqdn(primary));
  await insertRows(before, 1, 200);

  const requested = Date.now();
  const spec = td.spec as { server: { azure: Record<string, unknown> } };
  spec.server.azure.promotion = { replica, mode: 'Standalone', option: 'Planned', requestId: 'dr-1' };
  await run(['apply', '-f', '-'], JSON.stringify(td));
  const o = await promotionDone(name, 'dr-1');
  await secretHost(name, fqdn(replica));
  const after = await appTarget(name);
  // The application's first connection through the rewritten Secret: every committed row is there.
  const rows = await conns.query<{ n: string }>(after, 'SELECT count(*) AS n FROM orders');
  const appRto = (Date.now() - requested) / 1000;
  expect(Number(rows.rows[0]!.n)).toBe(200);
  await insertRows(after, 1000, 1); // the new primary takes writes
  const p = o.status!.promotion!;
  expect(p).toMatchObject({ replica, phase: 'Promoted', fromServer: primary });
  expect(p.rtoSeconds).toBeGreaterThan(0);
  expect(p.lostWindowBytes).toBeUndefined();
  expect(o.status?.serverName).toBe(replica);
  const ready = await waitReady(ns, name, 120_000);
  expect(ready.status?.conditions?.find((c) => c.type === 'ServerReady')).toMatchObject({ status: 'True' });
  // Every other controller (Migration, BackupPolicy, AlertRuleSet, drills) reaches the new primary.
  const looked = await lookupAzureServer(mgr, ns, name, 'Migration', h.settings.azure!);
  expect(looked).toMatchObject({ ok: true, server: { serverName: replica, fqdn: fqdn(replica) } });
  // The old primary is left as it is: a standalone server with its data; the new one is no replica.
  expect(await h.client.servers.get(RG, primary)).toMatchObject({ state: 'Ready', replicationRole: 'Primary' });
  expect(await h.client.servers.get(RG, replica)).toMatchObject({ state: 'Ready', replicationRole: 'Primary' });
  console.log(`planned promotion: operator RTO ${p.rtoSeconds} s (request to first connection to the new primary); application back after ${appRto.toFixed(1)} s; ${p.replayLagBytes ?? 'unknown'} bytes to replay at request`);

  // The same request applied again (and a reconcile nudged): no write reaches Azure, status unchanged.
  const since = new Date().toISOString();
  await run(['apply', '-f', '-'], JSON.stringify(td));
  await nudge(ns, name);
  await new Promise((r) => setTimeout(r, 3_000));
  const writes = (await h.control.requests(since)).entries.filter((e) => e.method !== 'GET');
  expect(writes).toEqual([]);
  const again = await getJson<Obj>(['get', 'tenantdatabases.tenantdb.io', name, '-n', ns]);
  expect(again?.status?.promotion).toEqual(p);
}, 600_000);

test('Forced promotion of a replica cut off from its primary reports the lost window; the rows it never received are gone', async () => {
  const name = 'ledger';
  const stamp = Date.now().toString(36);
  const primary = `forc-a-${stamp}`;
  const replica = `forc-b-${stamp}`;
  const { td, admin } = await setUp(name, primary, replica);
  const app = await appTarget(name);
  await insertRows(app, 1, 50);
  // Wait until the replica has the first 50 rows, then cut it off and write 30 more on the primary.
  const replicaAdmin = { ...admin, host: fqdn(replica) };
  await eventually('replica caught up', async () => (Number((await conns.query<{ n: string }>(replicaAdmin, 'SELECT count(*) AS n FROM orders')).rows[0]!.n) === 50 ? true : undefined), 60_000, 200);
  await h.control.replicaStreaming(replica, 'stop');
  await insertRows(app, 100, 30);

  const spec = td.spec as { server: { azure: Record<string, unknown> } };
  spec.server.azure.promotion = { replica, mode: 'Standalone', option: 'Forced', requestId: 'forced-1' };
  await run(['apply', '-f', '-'], JSON.stringify(td));
  const o = await promotionDone(name, 'forced-1');
  const p = o.status!.promotion!;
  expect(p.lostWindowBytes).toBeGreaterThan(0);
  expect(p.lastReplayedAt).toBeDefined();
  expect(p.message).toMatch(/lost window \d+ bytes/);
  await secretHost(name, fqdn(replica));
  const after = await appTarget(name);
  const n = await conns.query<{ n: string }>(after, 'SELECT count(*) AS n FROM orders');
  expect(Number(n.rows[0]!.n)).toBe(50);
  // The old primary keeps what the new one lost (left as it is, for the user to recover rows from).
  expect(Number((await conns.query<{ n: string }>(admin, 'SELECT count(*) AS n FROM orders')).rows[0]!.n)).toBe(80);
  console.log(`forced promotion: operator RTO ${p.rtoSeconds} s; lost window ${p.lostWindowBytes} bytes of WAL (30 rows), last replayed ${p.lastReplayedAt}`);
}, 600_000);

test('Switchover: the Secrets follow the new primary, the old one streams from it; deletionPolicy Delete removes both, the replica first', async () => {
  const name = 'books';
  const stamp = Date.now().toString(36);
  const primary = `swit-a-${stamp}`;
  const replica = `swit-b-${stamp}`;
  const { td, admin } = await setUp(name, primary, replica);
  await insertRows(await appTarget(name), 1, 100);
  const spec = td.spec as { server: { azure: Record<string, unknown> }; deletionPolicy?: string };
  spec.server.azure.promotion = { replica, mode: 'Switchover', option: 'Planned', requestId: 'switch-1' };
  spec.deletionPolicy = 'Delete';
  await run(['apply', '-f', '-'], JSON.stringify(td));
  const o = await promotionDone(name, 'switch-1');
  expect(o.status!.promotion!.message).toContain(`the old primary ${primary} is now its replica`);
  await secretHost(name, fqdn(replica));
  const after = await appTarget(name);
  expect(Number((await conns.query<{ n: string }>(after, 'SELECT count(*) AS n FROM orders')).rows[0]!.n)).toBe(100);
  await insertRows(after, 500, 1);
  // The old primary is a replica of the new one (ARM and PostgreSQL agree) and receives its writes.
  expect(await h.client.servers.get(RG, primary)).toMatchObject({ state: 'Ready', replicationRole: 'AsyncReplica', sourceServerResourceId: expect.stringMatching(new RegExp(`/flexibleServers/${replica}$`)) });
  await eventually('row 500 on the old primary', async () => (Number((await conns.query<{ n: string }>(admin, 'SELECT count(*) AS n FROM orders WHERE id = 500')).rows[0]!.n) === 1 ? true : undefined), 60_000, 200);
  await waitReady(ns, name, 120_000);
  expect((await getJson<Obj>(['get', 'tenantdatabases.tenantdb.io', name, '-n', ns]))?.status?.serverName).toBe(replica);
  console.log(`planned switchover: operator RTO ${o.status!.promotion!.rtoSeconds} s`);

  await run(['delete', 'tenantdatabases.tenantdb.io', name, '-n', ns, '--wait=false']);
  await eventually('both servers deleted', async () => {
    const names: string[] = [];
    for await (const s of h.client.servers.listByResourceGroup(RG)) names.push(s.name!);
    return names.includes(primary) || names.includes(replica) ? undefined : true;
  }, 180_000, 1_000);
}, 600_000);
