// Issue 18: spec.server.azure.virtualEndpoint, against the real apiserver, the ARM emulator and its
// PostgreSQL servers. The operator creates Azure's read-write virtual endpoint over the primary and its
// replica and writes the connection Secret with the writer host name; after a Switchover promotion the
// same Secret (its host unchanged) reaches the new primary and finds every committed row. Only an
// endpoint is released (never deleted) when it leaves the spec; one made by someone else is used and kept.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { PostgresConnections, type DbTarget } from '../../src/postgres/connections.js';
import { generatePassword } from '../../src/postgres/database/scram.js';
import type { Manager } from '../../src/runtime/manager.js';
import { createTestNamespace } from '../../dev/env/testenv.js';
import { eventually, getJson, installCrds, run } from '../runtime/helpers.js';
import { azureTenantDatabase, credentialsSecret, RG, startAzureHarness, startOperatorInProcess, type AzureHarness } from './azure-harness.js';
import { nudge, readSecret, waitReady } from './db-harness.js';

let h: AzureHarness;
let ns: string;
let mgr: Manager;
let conns: PostgresConnections;

beforeAll(async () => {
  await installCrds();
  h = await startAzureHarness('vendpoint');
  ns = await createTestNamespace('vendpoint');
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

type Obj = { status?: { serverName?: string; promotion?: { requestId: string; completedAt?: string }; azure?: { virtualEndpoint?: { name: string; server: string } } } };

const fqdn = (server: string) => `${server}.postgres.database.azure.com`;
const writer = (endpoint: string) => `${endpoint}.writer.postgres.database.azure.com`;
const get = (name: string) => getJson<Obj>(['get', 'tenantdatabases.tenantdb.io', name, '-n', ns]);

async function appTarget(name: string): Promise<DbTarget> {
  const d = (await readSecret(ns, `${name}-connection`))!.data;
  return { host: d.host!, port: Number(d.port), sslMode: 'verify-full', user: d.username!, password: d.password!, database: d.dbname ?? name };
}

async function secretHost(name: string, host: string) {
  return eventually(`Secret ${name}-connection points at ${host}`, async () => ((await readSecret(ns, `${name}-connection`))?.data.host === host ? true : undefined), 180_000, 200);
}

const count = async (t: DbTarget) => Number((await conns.query<{ n: string }>(t, 'SELECT count(*) AS n FROM orders')).rows[0]!.n);

test('the Secret uses the writer name; after a Switchover the same Secret reaches the new primary with every row; removed from the spec, the endpoint is released, not deleted', async () => {
  const name = 'vshop';
  const stamp = Date.now().toString(36);
  const [primary, replica, endpoint] = [`vep-a-${stamp}`, `vep-b-${stamp}`, `vep-${stamp}`];
  const adminPassword = generatePassword();
  await run(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: `${name}-admin`, namespace: ns }, stringData: { password: adminPassword } }));
  const td = azureTenantDatabase(ns, name, primary, { readReplicas: [{ name: replica }], virtualEndpoint: { name: endpoint } }, { spec: { database: { name }, roles: { owner: `${name}_owner`, application: `${name}_app` } } });
  await run(['apply', '-f', '-'], JSON.stringify(td));
  await waitReady(ns, name, 300_000);
  await secretHost(name, writer(endpoint));
  const ep = await h.client.virtualEndpoints.get(RG, primary, endpoint);
  expect(ep).toMatchObject({ endpointType: 'ReadWrite', members: [primary, replica] });
  expect((await get(name))?.status?.azure?.virtualEndpoint).toEqual({ name: endpoint, server: primary });

  // The administrator makes the table (through the writer name as well: its certificate names it).
  const admin: DbTarget = { host: writer(endpoint), port: 5432, sslMode: 'verify-full', user: 'tdbadmin', password: adminPassword, database: name };
  await conns.query(admin, 'CREATE TABLE orders (id int PRIMARY KEY, what text NOT NULL)');
  await conns.query(admin, `GRANT SELECT, INSERT ON orders TO ${name}_app`);
  const app = await appTarget(name);
  expect(app.host).toBe(writer(endpoint));
  for (let i = 1; i <= 150; i++) await conns.query(app, 'INSERT INTO orders VALUES ($1, $2)', [i, `order ${i}`]);

  const spec = td.spec as { server: { azure: Record<string, unknown> } };
  spec.server.azure.promotion = { replica, mode: 'Switchover', option: 'Planned', requestId: 'vsw-1' };
  const requested = Date.now();
  await run(['apply', '-f', '-'], JSON.stringify(td));
  // The application keeps the target it read before the switchover: the same host name, now the new primary.
  const back = await eventually('the unchanged target reaches the new primary', async () => {
    // Errors (the old primary fenced, restarting) are retried; the last one is reported on a timeout.
    const r = await conns.query<{ r: boolean }>(app, 'SELECT pg_is_in_recovery() AS r');
    const moved = (await h.client.servers.get(RG, replica)).replicationRole === 'Primary';
    return moved && r.rows[0]!.r === false ? Date.now() : undefined;
  }, 240_000, 200);
  expect(await count(app)).toBe(150);
  await conns.query(app, 'INSERT INTO orders VALUES (1000, $1)', ['after the switchover']);
  expect(Number((await conns.query<{ n: string }>({ ...admin, host: fqdn(replica) }, 'SELECT count(*) AS n FROM orders WHERE id = 1000')).rows[0]!.n)).toBe(1);
  await eventually('promotion vsw-1 completed', async () => ((await get(name))?.status?.promotion?.completedAt ? true : undefined), 240_000, 200);
  await waitReady(ns, name, 120_000);
  expect((await get(name))?.status?.serverName).toBe(replica);
  expect((await appTarget(name)).host).toBe(writer(endpoint));
  // Converged with the endpoint: a reconcile sends no write to Azure.
  const since = new Date().toISOString();
  await nudge(ns, name);
  await new Promise((r) => setTimeout(r, 3_000));
  expect((await h.control.requests(since)).entries.filter((e) => e.method !== 'GET')).toEqual([]);
  console.log(`virtual endpoint: application back through the unchanged Secret ${((back - requested) / 1000).toFixed(1)} s after the switchover request`);

  // Out of the spec: the Secret falls back to the server's FQDN and the endpoint is released, not deleted
  // (it carries no tags, and what status says this object created never decides a delete).
  const beforeRelease = new Date().toISOString();
  delete spec.server.azure.virtualEndpoint;
  await run(['apply', '-f', '-'], JSON.stringify(td));
  await secretHost(name, fqdn(replica));
  await eventually('record dropped', async () => ((await get(name))?.status?.azure?.virtualEndpoint === undefined ? true : undefined), 60_000, 200);
  expect(await h.client.virtualEndpoints.get(RG, replica, endpoint)).toMatchObject({ name: endpoint });
  expect((await h.control.requests(beforeRelease)).entries.filter((e) => e.method === 'DELETE')).toEqual([]);
  const events = await getJson<{ items: Array<{ reason: string; note?: string }> }>(['get', 'events.events.k8s.io', '-n', ns, '-o', 'json']);
  expect(events?.items.some((e) => e.reason === 'VirtualEndpointReleased' && e.note?.includes(endpoint))).toBe(true);
  await h.client.virtualEndpoints.beginDeleteAndWait(RG, replica, endpoint, { updateIntervalInMs: 50 });

  // An endpoint someone else made: used for the Secret, never recorded, and kept when it leaves the spec.
  const theirs = `their-${stamp}`;
  await h.client.virtualEndpoints.beginCreateAndWait(RG, replica, theirs, { endpointType: 'ReadWrite', members: [replica, primary] }, { updateIntervalInMs: 50 });
  spec.server.azure.virtualEndpoint = { name: theirs };
  await run(['apply', '-f', '-'], JSON.stringify(td));
  await secretHost(name, writer(theirs));
  expect(await count(await appTarget(name))).toBe(151);
  expect((await get(name))?.status?.azure?.virtualEndpoint).toBeUndefined();
  delete spec.server.azure.virtualEndpoint;
  await run(['apply', '-f', '-'], JSON.stringify(td));
  await secretHost(name, fqdn(replica));
  await waitReady(ns, name, 60_000);
  expect(await h.client.virtualEndpoints.get(RG, replica, theirs)).toMatchObject({ name: theirs });
}, 900_000);

test('after a Standalone promotion (the old primary stays a primary and may keep the writer name) the Secret uses the promoted server\'s FQDN', async () => {
  const name = 'vsolo';
  const stamp = Date.now().toString(36);
  const [primary, replica, endpoint] = [`ves-a-${stamp}`, `ves-b-${stamp}`, `ves-${stamp}`];
  await run(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: `${name}-admin`, namespace: ns }, stringData: { password: generatePassword() } }));
  const td = azureTenantDatabase(ns, name, primary, { readReplicas: [{ name: replica }], virtualEndpoint: { name: endpoint } }, { spec: { database: { name }, roles: { owner: `${name}_owner`, application: `${name}_app` } } });
  await run(['apply', '-f', '-'], JSON.stringify(td));
  await waitReady(ns, name, 300_000);
  await secretHost(name, writer(endpoint));
  const spec = td.spec as { server: { azure: Record<string, unknown> } };
  spec.server.azure.promotion = { replica, mode: 'Standalone', option: 'Planned', requestId: 'vsolo-1' };
  await run(['apply', '-f', '-'], JSON.stringify(td));
  await secretHost(name, fqdn(replica));
  const app = await appTarget(name);
  expect((await conns.query<{ r: boolean }>(app, 'SELECT pg_is_in_recovery() AS r')).rows[0]!.r).toBe(false);
  // The endpoint (this object's) stays while in the spec; its writer name is on the old primary.
  expect((await get(name))?.status?.azure?.virtualEndpoint).toEqual({ name: endpoint, server: primary });
}, 600_000);
