// HA failover in the emulator: a ZoneRedundant server has a real standby (a streaming replica its FQDN
// does not point at); `restart` with restartWithFailover + PlannedFailover promotes it behind the same FQDN
// and port, keeps every committed row, swaps the zones, and builds a new standby from the new primary, so a
// second failover works too; a point-in-time restore afterwards holds every row. A server without HA refuses a failover; a plain restart stays a restart.
import fs from 'node:fs';
import pg from 'pg';
import type { Server } from '@azure/arm-postgresql-flexible';
import { FAST, LOCATION, createResourceGroup, startHarness, type Harness } from './fixtures.js';

const RG = 'rg-ha';
const ADMIN = 'haadmin';
const PASSWORD = 'Ha-Passw0rd!';
let h: Harness;
let server: Server;

const hosts = () => JSON.parse(fs.readFileSync(h.emu.hostsFile, 'utf8')) as Record<string, { host: string; port: number }>;

async function connect(fqdn: string): Promise<pg.Client> {
  const target = hosts()[fqdn]!;
  const c = new pg.Client({ host: target.host, port: target.port, user: ADMIN, password: PASSWORD, database: 'postgres', ssl: { ca: h.caPem, servername: fqdn } });
  await c.connect();
  return c;
}

async function query<T extends pg.QueryResultRow>(sql: string): Promise<T[]> {
  const c = await connect(server.fullyQualifiedDomainName!);
  try {
    return (await c.query<T>(sql)).rows;
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  h = await startHarness('ha');
  await createResourceGroup(h, RG);
  server = await h.client.servers.beginCreateOrUpdateAndWait(
    RG,
    'ha-server',
    {
      location: LOCATION,
      sku: { name: 'Standard_D2ds_v5', tier: 'GeneralPurpose' },
      administratorLogin: ADMIN,
      administratorLoginPassword: PASSWORD,
      version: '17',
      availabilityZone: '1',
      highAvailability: { mode: 'ZoneRedundant', standbyAvailabilityZone: '2' },
    },
    FAST,
  );
}, 180_000);

afterAll(async () => {
  await h?.stop();
});

test('a ZoneRedundant server streams to a real standby the FQDN does not point at', async () => {
  expect(server.highAvailability).toMatchObject({ mode: 'ZoneRedundant', state: 'Healthy' });
  const standbys = await query<{ application_name: string; state: string }>('SELECT application_name, state FROM pg_stat_replication');
  expect(standbys).toHaveLength(1);
  expect(standbys[0]!.state).toBe('streaming');
  expect(await query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).toEqual([{ r: false }]);
});

test('a planned failover keeps every committed row behind the same FQDN and port, swaps the zones, and can be repeated', async () => {
  const before = hosts()[server.fullyQualifiedDomainName!]!;
  await query('CREATE TABLE ha_rows (id int PRIMARY KEY)');
  await query('INSERT INTO ha_rows SELECT generate_series(1, 1000)');
  const started = Date.now();
  await h.client.servers.beginRestartAndWait(RG, 'ha-server', { parameters: { restartWithFailover: true, failoverMode: 'PlannedFailover' }, ...FAST });
  console.log(`emulator planned HA failover: ${(Date.now() - started) / 1000} s until the operation (with the new standby) finished`);
  const after = hosts()[server.fullyQualifiedDomainName!]!;
  expect(after.host).not.toBe(before.host);
  expect(after.port).toBe(before.port);
  expect(await query<{ n: string }>('SELECT count(*) AS n FROM ha_rows')).toEqual([{ n: '1000' }]);
  await query('INSERT INTO ha_rows VALUES (1001)');
  const got = await h.client.servers.get(RG, 'ha-server');
  expect(got).toMatchObject({ state: 'Ready', availabilityZone: '2', highAvailability: { mode: 'ZoneRedundant', state: 'Healthy', standbyAvailabilityZone: '1' } });
  expect(await query<{ state: string }>('SELECT state FROM pg_stat_replication')).toEqual([{ state: 'streaming' }]);

  // Back again (the new standby was built from the new primary), forced this time.
  await h.client.servers.beginRestartAndWait(RG, 'ha-server', { parameters: { restartWithFailover: true, failoverMode: 'ForcedFailover' }, ...FAST });
  expect(await query<{ n: string }>('SELECT count(*) AS n FROM ha_rows')).toEqual([{ n: '1001' }]);
  expect(await h.client.servers.get(RG, 'ha-server')).toMatchObject({ availabilityZone: '1', highAvailability: { state: 'Healthy', standbyAvailabilityZone: '2' } });

  // Backups follow the server across failovers: a restore to now holds every row.
  const restored = await h.client.servers.beginCreateOrUpdateAndWait(
    RG,
    'ha-restored',
    { location: LOCATION, createMode: 'PointInTimeRestore', sourceServerResourceId: server.id!, pointInTimeUTC: new Date() },
    FAST,
  );
  const c = await connect(restored.fullyQualifiedDomainName!);
  try {
    expect((await c.query<{ n: string }>('SELECT count(*) AS n FROM ha_rows')).rows).toEqual([{ n: '1001' }]);
  } finally {
    await c.end();
  }
}, 240_000);

test('a server without HA refuses a failover', async () => {
  await h.client.servers.beginCreateOrUpdateAndWait(
    RG,
    'plain-server',
    { location: LOCATION, sku: { name: 'Standard_B1ms', tier: 'Burstable' }, administratorLogin: ADMIN, administratorLoginPassword: PASSWORD, version: '17' },
    FAST,
  );
  await expect(h.client.servers.beginRestart(RG, 'plain-server', { parameters: { restartWithFailover: true, failoverMode: 'PlannedFailover' } })).rejects.toMatchObject({ statusCode: 400, code: 'HANotEnabled' });
}, 120_000);
