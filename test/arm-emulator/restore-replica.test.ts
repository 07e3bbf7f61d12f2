// PointInTimeRestore and Replica through the real SDK: the restored server is a new PostgreSQL holding the
// source's rows; the replica is a streaming standby that refuses writes and follows the source.
import fs from 'node:fs';
import pg from 'pg';
import type { Server } from '@azure/arm-postgresql-flexible';
import { FAST, LOCATION, SUB, createResourceGroup, rawCall, requireSpecs, responseSchemaProblems, startHarness, type Harness } from './fixtures.js';

const RG = 'rg-restore';
const ADMIN = 'owneradmin';
const PASSWORD = 'Rest0re-Passw0rd!';

let h: Harness;
let source: Server;

async function connect(server: Server, database = 'postgres'): Promise<pg.Client> {
  const fqdn = server.fullyQualifiedDomainName!;
  const target = (JSON.parse(fs.readFileSync(h.emu.hostsFile, 'utf8')) as Record<string, { host: string; port: number }>)[fqdn]!;
  const c = new pg.Client({ host: target.host, port: target.port, user: ADMIN, password: PASSWORD, database, ssl: { ca: h.caPem, servername: fqdn } });
  await c.connect();
  return c;
}

async function waitForRow(server: Server, id: number, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = await connect(server);
    try {
      const r = await c.query<{ body: string }>('SELECT body FROM items WHERE id = $1', [id]);
      if (r.rowCount === 1) return r.rows[0]!.body;
    } finally {
      await c.end();
    }
    if (Date.now() > deadline) throw new Error(`row ${id} did not reach ${server.name}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  h = await startHarness('restore');
  await createResourceGroup(h, RG);
  source = await h.client.servers.beginCreateOrUpdateAndWait(
    RG,
    'source-pg',
    { location: LOCATION, sku: { name: 'Standard_D2ds_v5', tier: 'GeneralPurpose' }, administratorLogin: ADMIN, administratorLoginPassword: PASSWORD, version: '17' },
    FAST,
  );
  const c = await connect(source);
  try {
    await c.query('CREATE TABLE items (id int PRIMARY KEY, body text)');
    await c.query("INSERT INTO items SELECT g, 'row ' || g FROM generate_series(1, 1000) g");
  } finally {
    await c.end();
  }
});

afterAll(async () => {
  await h?.stop();
});

test('PointInTimeRestore creates a new server holding the source rows', async () => {
  const restored = await h.client.servers.beginCreateOrUpdateAndWait(
    RG,
    'restored-pg',
    {
      location: LOCATION,
      createMode: 'PointInTimeRestore',
      sourceServerResourceId: source.id!,
      pointInTimeUTC: new Date(),
    },
    FAST,
  );
  expect(restored).toMatchObject({ state: 'Ready', fullyQualifiedDomainName: 'restored-pg.postgres.database.azure.com', administratorLogin: ADMIN });
  const c = await connect(restored);
  try {
    const n = await c.query<{ n: string }>('SELECT count(*) AS n FROM items');
    expect(Number(n.rows[0]!.n)).toBe(1000);
    // The restore is an independent, writable server.
    await c.query("INSERT INTO items VALUES (5000, 'only on the restored server')");
  } finally {
    await c.end();
  }
  const s = await connect(source);
  try {
    expect((await s.query('SELECT 1 FROM items WHERE id = 5000')).rowCount).toBe(0);
  } finally {
    await s.end();
  }
});

test('PointInTimeRestore outside the retention window is refused', async () => {
  await expect(
    h.client.servers.beginCreateOrUpdate(
      RG,
      'too-early-pg',
      { location: LOCATION, createMode: 'PointInTimeRestore', sourceServerResourceId: source.id!, pointInTimeUTC: new Date(Date.now() - 40 * 86_400_000) },
      FAST,
    ),
  ).rejects.toMatchObject({ statusCode: 400, code: 'InvalidParameterValue' });
});

test('a Replica is read-only, follows the source and is listed as its replica', async () => {
  const replica = await h.client.servers.beginCreateOrUpdateAndWait(
    RG,
    'replica-pg',
    { location: LOCATION, createMode: 'Replica', sourceServerResourceId: source.id! },
    FAST,
  );
  expect(replica).toMatchObject({ state: 'Ready', replicationRole: 'AsyncReplica', sourceServerResourceId: source.id });
  const c = await connect(replica);
  try {
    expect((await c.query('SELECT pg_is_in_recovery() AS r')).rows[0].r).toBe(true);
    await expect(c.query("INSERT INTO items VALUES (7000, 'nope')")).rejects.toThrow(/read-only transaction/);
  } finally {
    await c.end();
  }
  const s = await connect(source);
  try {
    await s.query("INSERT INTO items VALUES (6000, 'streamed')");
  } finally {
    await s.end();
  }
  expect(await waitForRow(replica, 6000)).toBe('streamed');

  const replicas: Server[] = [];
  for await (const r of h.client.replicas.listByServer(RG, 'source-pg')) replicas.push(r);
  expect(replicas.map((r) => r.name)).toEqual(['replica-pg']);
});

test('promoting a replica (replica.promoteMode) makes it an independent, writable primary', async () => {
  await h.client.servers.beginDeleteAndWait(RG, 'restored-pg', FAST);
  const replica = await h.client.servers.beginCreateOrUpdateAndWait(RG, 'replica2-pg', { location: LOCATION, createMode: 'Replica', sourceServerResourceId: source.id! }, FAST);
  const promoted = await h.client.servers.beginUpdateAndWait(RG, 'replica2-pg', { replica: { promoteMode: 'Standalone', promoteOption: 'Planned' } }, FAST);
  expect(promoted).toMatchObject({ state: 'Ready', replicationRole: 'Primary' });
  expect(promoted.sourceServerResourceId).toBeUndefined();
  const c = await connect(replica);
  try {
    expect((await c.query('SELECT pg_is_in_recovery() AS r')).rows[0].r).toBe(false);
    await c.query("INSERT INTO items VALUES (8000, 'written on the promoted server')");
  } finally {
    await c.end();
  }
  const names: string[] = [];
  for await (const r of h.client.replicas.listByServer(RG, 'source-pg')) names.push(r.name!);
  expect(names).toEqual(['replica-pg']);
  await expect(h.client.servers.beginUpdate(RG, 'source-pg', { replica: { promoteMode: 'Standalone' } }, FAST)).rejects.toMatchObject({ statusCode: 400 });
  await h.client.servers.beginDeleteAndWait(RG, 'replica2-pg', FAST);
});

async function insertOnSource(id: number, body: string): Promise<void> {
  const s = await connect(source);
  try {
    await s.query('INSERT INTO items VALUES ($1, $2)', [id, body]);
  } finally {
    await s.end();
  }
}

async function rowOn(server: Server, id: number): Promise<number> {
  const c = await connect(server);
  try {
    return (await c.query('SELECT 1 FROM items WHERE id = $1', [id])).rowCount ?? 0;
  } finally {
    await c.end();
  }
}

test('a Planned promotion waits until the replica replayed what the primary had written; Forced does not wait', async () => {
  const create = (name: string) => h.client.servers.beginCreateOrUpdateAndWait(RG, name, { location: LOCATION, createMode: 'Replica', sourceServerResourceId: source.id! }, FAST);
  const planned = await create('replica3-pg');
  await h.control.replicaReplay('replica3-pg', 'pause');
  await insertOnSource(9000, 'committed before the planned promotion');
  const poller = await h.client.servers.beginUpdate(RG, 'replica3-pg', { replica: { promoteMode: 'Standalone', promoteOption: 'Planned' } }, FAST);
  await new Promise((r) => setTimeout(r, 1500));
  // Replay is paused: the promotion waits (ARM shows the replica Updating, still a replica).
  const during = await h.client.servers.get(RG, 'replica3-pg');
  expect(during).toMatchObject({ state: 'Updating', replicationRole: 'AsyncReplica', replica: { replicationState: 'Updating' } });
  await h.control.replicaReplay('replica3-pg', 'resume');
  const promoted = await poller.pollUntilDone();
  expect(promoted).toMatchObject({ state: 'Ready', replicationRole: 'Primary' });
  expect(await rowOn(planned, 9000)).toBe(1);

  // Forced with the replica cut off from its primary: promoted at once, without what it never received
  // (the lost window); the old primary is left as it is and keeps the row.
  const forced = await create('replica4-pg');
  await h.control.replicaStreaming('replica4-pg', 'stop');
  await insertOnSource(9100, 'never reached the forced replica');
  const done = await h.client.servers.beginUpdateAndWait(RG, 'replica4-pg', { replica: { promoteMode: 'Standalone', promoteOption: 'Forced' } }, FAST);
  expect(done).toMatchObject({ state: 'Ready', replicationRole: 'Primary' });
  expect(await rowOn(forced, 9100)).toBe(0);
  expect(await rowOn(source, 9100)).toBe(1);
  expect(await rowOn(forced, 9000)).toBe(1);
  expect(await h.client.servers.get(RG, 'source-pg')).toMatchObject({ state: 'Ready', replicationRole: 'Primary' });
  for (const name of ['replica3-pg', 'replica4-pg']) await h.client.servers.beginDeleteAndWait(RG, name, FAST);
});

test('an unknown promoteMode or promoteOption is refused', async () => {
  await h.client.servers.beginCreateOrUpdateAndWait(RG, 'replica5-pg', { location: LOCATION, createMode: 'Replica', sourceServerResourceId: source.id! }, FAST);
  await expect(h.client.servers.beginUpdate(RG, 'replica5-pg', { replica: { promoteMode: 'Sideways' as never, promoteOption: 'Planned' } }, FAST)).rejects.toMatchObject({ statusCode: 400 });
  await expect(h.client.servers.beginUpdate(RG, 'replica5-pg', { replica: { promoteMode: 'Standalone', promoteOption: 'Soon' } }, FAST)).rejects.toMatchObject({ statusCode: 400 });
  // A switchover would demote a primary that has another replica (replica-pg): not modelled, refused.
  await expect(h.client.servers.beginUpdate(RG, 'replica5-pg', { replica: { promoteMode: 'Switchover', promoteOption: 'Planned' } }, FAST)).rejects.toMatchObject({ statusCode: 400 });
  expect(await h.client.servers.get(RG, 'replica5-pg')).toMatchObject({ state: 'Ready', replicationRole: 'AsyncReplica' });
  await h.client.servers.beginDeleteAndWait(RG, 'replica5-pg', FAST);
});

test('Switchover swaps the roles: the replica becomes the primary, the old primary streams from it; Planned loses no committed row', async () => {
  const primary = await h.client.servers.beginCreateOrUpdateAndWait(
    RG,
    'swprimary-pg',
    { location: LOCATION, sku: { name: 'Standard_D2ds_v5', tier: 'GeneralPurpose' }, administratorLogin: ADMIN, administratorLoginPassword: PASSWORD, version: '17' },
    FAST,
  );
  const c = await connect(primary);
  try {
    await c.query('CREATE TABLE items (id int PRIMARY KEY, body text)');
  } finally {
    await c.end();
  }
  const replica = await h.client.servers.beginCreateOrUpdateAndWait(RG, 'swreplica-pg', { location: LOCATION, createMode: 'Replica', sourceServerResourceId: primary.id! }, FAST);
  // Replay paused: whatever the primary committed must still reach the new primary (Planned).
  await h.control.replicaReplay('swreplica-pg', 'pause');
  const w = await connect(primary);
  try {
    await w.query("INSERT INTO items SELECT g, 'before the switchover' FROM generate_series(1, 500) g");
  } finally {
    await w.end();
  }
  const poller = await h.client.servers.beginUpdate(RG, 'swreplica-pg', { replica: { promoteMode: 'Switchover', promoteOption: 'Planned' } }, FAST);
  await new Promise((r) => setTimeout(r, 1000));
  expect(await h.client.servers.get(RG, 'swprimary-pg')).toMatchObject({ state: 'Updating' });
  await h.control.replicaReplay('swreplica-pg', 'resume');
  const promoted = await poller.pollUntilDone();
  expect(promoted).toMatchObject({ state: 'Ready', replicationRole: 'Primary' });
  expect(promoted.sourceServerResourceId).toBeUndefined();
  const demoted = await h.client.servers.get(RG, 'swprimary-pg');
  expect(demoted).toMatchObject({ state: 'Ready', replicationRole: 'AsyncReplica', sourceServerResourceId: replica.id, replica: { role: 'AsyncReplica', replicationState: 'Active' } });
  const names: string[] = [];
  for await (const r of h.client.replicas.listByServer(RG, 'swreplica-pg')) names.push(r.name!);
  expect(names).toEqual(['swprimary-pg']);
  // Every committed row on the new primary; it takes writes, and they stream to the old primary.
  expect(await rowOn(replica, 500)).toBe(1);
  const n = await connect(replica);
  try {
    await n.query("INSERT INTO items VALUES (9500, 'written after the switchover')");
  } finally {
    await n.end();
  }
  expect(await waitForRow(demoted, 9500)).toBe('written after the switchover');
  const r = await connect(demoted);
  try {
    expect((await r.query('SELECT pg_is_in_recovery() AS r')).rows[0].r).toBe(true);
    await expect(r.query("INSERT INTO items VALUES (9501, 'no')")).rejects.toThrow(/read-only/);
  } finally {
    await r.end();
  }
  // The replica (the old primary) goes first: a primary with replicas cannot be deleted.
  await h.client.servers.beginDeleteAndWait(RG, 'swprimary-pg', FAST);
  await h.client.servers.beginDeleteAndWait(RG, 'swreplica-pg', FAST);
});

test('a replica of a replica is refused', async () => {
  const replicaId = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.DBforPostgreSQL/flexibleServers/replica-pg`;
  await expect(
    h.client.servers.beginCreateOrUpdate(RG, 'cascade-pg', { location: LOCATION, createMode: 'Replica', sourceServerResourceId: replicaId }, FAST),
  ).rejects.toMatchObject({ statusCode: 400 });
});

test('deleting a replica drops its slot on the source; deleting the resource group stops every server in it', async () => {
  const slots = async () => {
    const c = await connect(source);
    try {
      return (await c.query('SELECT slot_name FROM pg_replication_slots')).rowCount;
    } finally {
      await c.end();
    }
  };
  expect(await slots()).toBe(1);
  await h.client.servers.beginDeleteAndWait(RG, 'replica-pg', FAST);
  expect(await slots()).toBe(0);

  const res = await rawCall(h, 'DELETE', `/subscriptions/${SUB}/resourcegroups/${RG}?api-version=2024-11-01`);
  expect(res.status).toBe(202);
  const location = new URL(String(res.headers.location));
  let status = 202;
  for (let i = 0; i < 200 && status === 202; i++) {
    await new Promise((r) => setTimeout(r, 50));
    status = (await rawCall(h, 'GET', location.pathname + location.search)).status;
  }
  expect(status).toBe(204);
  expect(await h.control.hosts()).toEqual({});
  await expect(connect(source)).rejects.toThrow();
  await expect(h.client.servers.get(RG, 'source-pg')).rejects.toMatchObject({ statusCode: 404, code: 'ResourceGroupNotFound' });
});

test('every response body validates against the 2025-08-01 swagger', () => {
  if (!requireSpecs(h.emu.ctx.specs)) return;
  const { problems, operations } = responseSchemaProblems(h.emu.ctx.specs, h.captured);
  expect(problems).toEqual([]);
  expect([...operations]).toContain('Replicas_ListByServer 200');
});
