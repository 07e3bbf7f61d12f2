// Virtual endpoints (flexibleServers/virtualEndpoints, 2025-08-01) through the real SDK: the writer host
// name resolves (hosts file + certificate SAN, verify-full) to the current primary and the reader name to
// the replica; a switchover moves the writer name to the new primary, which holds every row.
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { Server } from '@azure/arm-postgresql-flexible';
import { repoRoot } from '../../dev/env/paths.js';
import { ensureCertificateAuthority } from '../../dev/env/pki.js';
import { startArmEmulator } from '../../dev/arm-emulator/emulator.js';
import { createAzureClients } from '../../src/azure/clients.js';
import { staticTokenCredential } from '../../src/azure/credentials.js';
import { FAST, LOCATION, SUB, createResourceGroup, rawCall, requireSpecs, responseSchemaProblems, startHarness, type Harness } from './fixtures.js';

const RG = 'rg-vep';
const ADMIN = 'vepadmin';
const PASSWORD = 'Virtual-Endp0int!';
const WRITER = 'vep-app.writer.postgres.database.azure.com';
const READER = 'vep-app.reader.postgres.database.azure.com';

let h: Harness;
let primary: Server;
let replica: Server;

const hosts = () => JSON.parse(fs.readFileSync(h.emu.hostsFile, 'utf8')) as Record<string, { host: string; port: number }>;

/** A verify-full connection to `name` as the emulator's DNS (its hosts file) resolves it. */
async function connect(name: string): Promise<pg.Client> {
  const target = hosts()[name];
  if (!target) throw new Error(`${name} does not resolve`);
  const c = new pg.Client({ host: target.host, port: target.port, user: ADMIN, password: PASSWORD, database: 'postgres', ssl: { ca: h.caPem, servername: name } });
  await c.connect();
  return c;
}

async function query<T extends pg.QueryResultRow>(name: string, sql: string): Promise<T[]> {
  const c = await connect(name);
  try {
    return (await c.query<T>(sql)).rows;
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  h = await startHarness('vep');
  await createResourceGroup(h, RG);
  primary = await h.client.servers.beginCreateOrUpdateAndWait(
    RG,
    'vep-primary',
    { location: LOCATION, sku: { name: 'Standard_D2ds_v5', tier: 'GeneralPurpose' }, administratorLogin: ADMIN, administratorLoginPassword: PASSWORD, version: '17' },
    FAST,
  );
  const c = await connect(primary.fullyQualifiedDomainName!);
  try {
    await c.query('CREATE TABLE items (id int PRIMARY KEY, body text)');
    await c.query("INSERT INTO items SELECT g, 'row ' || g FROM generate_series(1, 300) g");
  } finally {
    await c.end();
  }
  replica = await h.client.servers.beginCreateOrUpdateAndWait(RG, 'vep-replica', { location: LOCATION, createMode: 'Replica', sourceServerResourceId: primary.id! }, FAST);
});

afterAll(async () => {
  await h?.stop();
});

test('bad requests are refused: a name outside the pattern, an unknown member, no members, an update of an absent endpoint', async () => {
  // Raw requests: the SDK checks the name pattern itself before sending.
  for (const bad of ['ab', 'bad-', '-bad']) {
    const r = await rawCall(h, 'PUT', `${primary.id}/virtualendpoints/${bad}?api-version=2025-08-01`, { body: { properties: { endpointType: 'ReadWrite', members: ['vep-replica'] } } });
    expect(r.status).toBe(400);
  }
  await expect(h.client.virtualEndpoints.beginCreate(RG, 'vep-primary', 'vep-x', { endpointType: 'ReadWrite', members: ['no-such-pg'] }, FAST)).rejects.toMatchObject({ statusCode: 400 });
  await expect(h.client.virtualEndpoints.beginCreate(RG, 'vep-primary', 'vep-x', { endpointType: 'ReadWrite', members: [] }, FAST)).rejects.toMatchObject({ statusCode: 400 });
  // The swagger's enum: only ReadWrite.
  const res = await rawCall(h, 'PUT', `${primary.id}/virtualendpoints/vep-x?api-version=2025-08-01`, { body: { properties: { endpointType: 'ReadOnly', members: ['vep-replica'] } } });
  expect(res.status).toBe(400);
  await expect(h.client.virtualEndpoints.beginUpdate(RG, 'vep-primary', 'vep-x', { members: ['vep-replica'] }, FAST)).rejects.toMatchObject({ statusCode: 404 });
  await expect(h.client.virtualEndpoints.get(RG, 'vep-primary', 'vep-x')).rejects.toMatchObject({ statusCode: 404 });
});

test('create: the writer name reaches the primary, the reader name the replica, both over verify-full', async () => {
  const ep = await h.client.virtualEndpoints.beginCreateAndWait(RG, 'vep-primary', 'vep-app', { endpointType: 'ReadWrite', members: ['vep-replica'] }, FAST);
  expect(ep).toMatchObject({ name: 'vep-app', type: 'Microsoft.DBforPostgreSQL/flexibleServers/virtualEndpoints', endpointType: 'ReadWrite', members: ['vep-replica'] });
  expect([...ep.virtualEndpoints!].sort()).toEqual([READER, WRITER]);
  const map = hosts();
  expect(map[WRITER]).toEqual(map[primary.fullyQualifiedDomainName!]);
  expect(map[READER]).toEqual(map[replica.fullyQualifiedDomainName!]);
  expect((await query<{ r: boolean }>(WRITER, 'SELECT pg_is_in_recovery() AS r'))[0]!.r).toBe(false);
  expect((await query<{ r: boolean }>(READER, 'SELECT pg_is_in_recovery() AS r'))[0]!.r).toBe(true);
  // Seen from both servers of the set; the host names are global, so the name is taken.
  expect((await h.client.virtualEndpoints.get(RG, 'vep-replica', 'vep-app')).members).toEqual(['vep-replica']);
  for (const s of ['vep-primary', 'vep-replica']) {
    const names: string[] = [];
    for await (const e of h.client.virtualEndpoints.listByServer(RG, s)) names.push(e.name!);
    expect(names).toEqual(['vep-app']);
  }
  const other = await h.client.servers.beginCreateOrUpdateAndWait(
    RG,
    'vep-other',
    { location: LOCATION, sku: { name: 'Standard_D2ds_v5', tier: 'GeneralPurpose' }, administratorLogin: ADMIN, administratorLoginPassword: PASSWORD, version: '17' },
    FAST,
  );
  await expect(h.client.virtualEndpoints.beginCreate(RG, 'vep-other', 'vep-app', { endpointType: 'ReadWrite', members: ['vep-other'] }, FAST)).rejects.toMatchObject({ statusCode: 409 });
  // A server outside the replication set is no member.
  await expect(h.client.virtualEndpoints.beginCreate(RG, 'vep-primary', 'vep-y', { endpointType: 'ReadWrite', members: [other.name!] }, FAST)).rejects.toMatchObject({ statusCode: 400 });
  await h.client.servers.beginDeleteAndWait(RG, 'vep-other', FAST);
});

test('a switchover moves the writer name to the new primary (every row there) and the reader name to the old one', async () => {
  const before = hosts();
  await h.client.servers.beginUpdateAndWait(RG, 'vep-replica', { replica: { promoteMode: 'Switchover', promoteOption: 'Planned' } }, FAST);
  const map = hosts();
  expect(map[WRITER]).toEqual(before[replica.fullyQualifiedDomainName!]);
  expect(map[READER]).toEqual(before[primary.fullyQualifiedDomainName!]);
  const c = await connect(WRITER);
  try {
    expect((await c.query('SELECT pg_is_in_recovery() AS r')).rows[0].r).toBe(false);
    expect(Number((await c.query('SELECT count(*) AS n FROM items')).rows[0].n)).toBe(300);
    await c.query("INSERT INTO items VALUES (1000, 'through the writer name after the switchover')");
  } finally {
    await c.end();
  }
  expect((await query<{ r: boolean }>(READER, 'SELECT pg_is_in_recovery() AS r'))[0]!.r).toBe(true);
  // The endpoint keeps its members; ARM reports it from both servers still.
  expect((await h.client.virtualEndpoints.get(RG, 'vep-primary', 'vep-app')).virtualEndpoints).toContain(WRITER);
});

test('update and delete: the names stop resolving once the endpoint is gone', async () => {
  const updated = await h.client.virtualEndpoints.beginUpdateAndWait(RG, 'vep-primary', 'vep-app', { members: ['vep-replica', 'vep-primary'] }, FAST);
  expect(updated.members).toEqual(['vep-replica', 'vep-primary']);
  await h.client.virtualEndpoints.beginDeleteAndWait(RG, 'vep-primary', 'vep-app', FAST);
  await expect(h.client.virtualEndpoints.get(RG, 'vep-primary', 'vep-app')).rejects.toMatchObject({ statusCode: 404 });
  const map = hosts();
  expect(map[WRITER]).toBeUndefined();
  expect(map[READER]).toBeUndefined();
  // Deleting what is not there is 204, as ARM answers.
  const res = await rawCall(h, 'DELETE', `${primary.id}/virtualendpoints/vep-app?api-version=2025-08-01`);
  expect(res.status).toBe(204);
});

test('deleting a member re-resolves (the reader name falls back to the primary); deleting the parent takes the endpoint with it', async () => {
  // After the switchover vep-replica is the primary and vep-primary its replica.
  await h.client.virtualEndpoints.beginCreateAndWait(RG, 'vep-replica', 'vep-two', { endpointType: 'ReadWrite', members: ['vep-primary'] }, FAST);
  const [w2, r2] = ['vep-two.writer.postgres.database.azure.com', 'vep-two.reader.postgres.database.azure.com'];
  expect(hosts()[r2]).toEqual(hosts()[primary.fullyQualifiedDomainName!]);
  await h.client.servers.beginDeleteAndWait(RG, 'vep-primary', FAST);
  expect(hosts()[r2]).toEqual(hosts()[replica.fullyQualifiedDomainName!]);
  expect((await query<{ r: boolean }>(r2, 'SELECT pg_is_in_recovery() AS r'))[0]!.r).toBe(false);
  await h.client.servers.beginDeleteAndWait(RG, 'vep-replica', FAST);
  expect(hosts()[w2]).toBeUndefined();
  expect(hosts()[r2]).toBeUndefined();
});

test('every response body validates against the 2025-08-01 swagger (VirtualEndpoints.json from dev/arm-emulator/specs)', () => {
  if (!requireSpecs(h.emu.ctx.specs)) return;
  const { problems, operations } = responseSchemaProblems(h.emu.ctx.specs, h.captured);
  expect(problems).toEqual([]);
  for (const op of ['VirtualEndpoints_Create 202', 'VirtualEndpoints_Get 200', 'VirtualEndpoints_ListByServer 200', 'VirtualEndpoints_Update 202', 'VirtualEndpoints_Delete 202']) {
    expect([...operations]).toContain(op);
  }
});

test('an emulator restarted on its state (persist) brings the endpoint back: the names resolve and verify again', async () => {
  const dir = path.join(repoRoot, '.local', 'test-arm', `vep-persist-${process.pid}-${Date.now().toString(36)}`);
  const ca = await ensureCertificateAuthority(path.join(dir, 'ca'));
  const start = () =>
    startArmEmulator({ stateDir: path.join(dir, 'arm'), caCertFile: ca.certFile, caKeyFile: path.join(dir, 'ca', 'ca.key'), lro: { defaultDurationMs: 50, retryAfterSeconds: 0 }, persist: true });
  const clientOf = (endpoint: string, caPem: string) =>
    createAzureClients({ subscriptionId: SUB, armEndpoint: endpoint, credential: staticTokenCredential('vep-persist', { armEndpoint: endpoint }), caCertPem: caPem }).postgres;
  let emu = await start();
  try {
    const caPem = fs.readFileSync(emu.caFile, 'utf8');
    let client = clientOf(emu.endpoint, caPem);
    const rg = await rawCall({ emu, caPem } as Harness, 'PUT', `/subscriptions/${SUB}/resourcegroups/rg-vep-persist?api-version=2024-11-01`, { body: { location: LOCATION } });
    expect(rg.status).toBe(201);
    const p = await client.servers.beginCreateOrUpdateAndWait('rg-vep-persist', 'vepp-a', { location: LOCATION, administratorLogin: ADMIN, administratorLoginPassword: PASSWORD, version: '17' }, FAST);
    await client.servers.beginCreateOrUpdateAndWait('rg-vep-persist', 'vepp-b', { location: LOCATION, createMode: 'Replica', sourceServerResourceId: p.id! }, FAST);
    await client.virtualEndpoints.beginCreateAndWait('rg-vep-persist', 'vepp-a', 'vepp-rw', { endpointType: 'ReadWrite', members: ['vepp-b'] }, FAST);
    await emu.stop();
    emu = await start();
    client = clientOf(emu.endpoint, caPem);
    expect(await client.virtualEndpoints.get('rg-vep-persist', 'vepp-b', 'vepp-rw')).toMatchObject({ name: 'vepp-rw', members: ['vepp-b'] });
    const map = JSON.parse(fs.readFileSync(emu.hostsFile, 'utf8')) as Record<string, { host: string; port: number }>;
    for (const [name, recovery] of [['vepp-rw.writer.postgres.database.azure.com', false], ['vepp-rw.reader.postgres.database.azure.com', true]] as const) {
      const t = map[name]!;
      const c = new pg.Client({ host: t.host, port: t.port, user: ADMIN, password: PASSWORD, database: 'postgres', ssl: { ca: caPem, servername: name } });
      await c.connect();
      try {
        expect((await c.query('SELECT pg_is_in_recovery() AS r')).rows[0].r).toBe(recovery);
      } finally {
        await c.end();
      }
    }
  } finally {
    await emu.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
