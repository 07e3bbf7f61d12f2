// The emulated server's built-in PgBouncer is a real PgBouncer (Debian's package): off by default; on
// `pgbouncer.enabled = true` (no restart) it listens on the server's address, port 6432, with TLS that
// verify-full accepts for the FQDN, authenticates roles with their own passwords (SCRAM) and pools in
// transaction mode (two clients, one server connection with default_pool_size 1); stopping the server
// stops it, starting brings it back, disabling it closes the port.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import fs from 'node:fs';
import net from 'node:net';
import pg from 'pg';
import type { Server } from '@azure/arm-postgresql-flexible';
import { FAST, LOCATION, createResourceGroup, startHarness, type Harness } from './fixtures.js';

const RG = 'rg-pooler';
const NAME = 'pooled-pg';
const ADMIN = 'pooladmin';
const PASSWORD = 'S3cure-Passw0rd!';

let h: Harness;
let server: Server;

const address = () => (JSON.parse(fs.readFileSync(h.emu.hostsFile, 'utf8')) as Record<string, { host: string; port: number }>)[server.fullyQualifiedDomainName!]!;

async function viaPooler(opts: { servername?: string; password?: string } = {}): Promise<pg.Client> {
  const c = new pg.Client({
    host: address().host,
    port: 6432,
    user: ADMIN,
    password: opts.password ?? PASSWORD,
    database: 'postgres',
    ssl: { ca: h.caPem, servername: opts.servername ?? server.fullyQualifiedDomainName!, rejectUnauthorized: true },
    connectionTimeoutMillis: 5000,
  });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

const open = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

const setParam = (name: string, value: string) => h.client.configurations.beginUpdateAndWait(RG, NAME, name, { value, source: 'user-override' }, FAST);

beforeAll(async () => {
  h = await startHarness('pgbouncer');
  await createResourceGroup(h, RG);
  server = await h.client.servers.beginCreateOrUpdateAndWait(RG, NAME, { location: LOCATION, administratorLogin: ADMIN, administratorLoginPassword: PASSWORD, version: '17', sku: { name: 'Standard_D2ds_v5', tier: 'GeneralPurpose' }, storage: { storageSizeGB: 32 } }, FAST);
});

afterAll(async () => {
  await h?.stop();
});

test('off by default: nothing listens on 6432', async () => {
  expect((await h.client.configurations.get(RG, NAME, 'pgbouncer.enabled')).value).toBe('false');
  expect(await open(address().host, 6432)).toBe(false);
});

test('enabled: TLS verify-full for the FQDN, SCRAM with the role password, transaction pooling', async () => {
  await setParam('pgbouncer.default_pool_size', '1');
  await setParam('pgbouncer.enabled', 'true');
  expect((await h.client.configurations.get(RG, NAME, 'pgbouncer.pool_mode')).value).toBe('TRANSACTION');
  const a = await viaPooler();
  const b = await viaPooler();
  try {
    // One server connection serves both clients between their transactions.
    const pa = (await a.query<{ p: number }>('SELECT pg_backend_pid() AS p')).rows[0]!.p;
    const pb = (await b.query<{ p: number }>('SELECT pg_backend_pid() AS p')).rows[0]!.p;
    expect(pb).toBe(pa);
    expect((await a.query<{ u: string; port: number }>('SELECT current_user AS u, inet_server_port() AS port')).rows[0]).toEqual({ u: ADMIN, port: address().port });
  } finally {
    await a.end();
    await b.end();
  }
  await expect(viaPooler({ password: 'wrong-password' })).rejects.toThrow(/password authentication failed|SASL|authentication/i);
  await expect(viaPooler({ servername: 'other.postgres.database.azure.com' })).rejects.toThrow(/altnames|Hostname|certificate/i);
});

test('follows the server: stop closes it, start brings it back; disabling closes the port', async () => {
  await h.client.servers.beginStopAndWait(RG, NAME, FAST);
  expect(await open(address().host, 6432)).toBe(false);
  await h.client.servers.beginStartAndWait(RG, NAME, FAST);
  const c = await viaPooler();
  expect((await c.query('SELECT 1 AS one')).rows[0]).toEqual({ one: 1 });
  await c.end();
  await setParam('pgbouncer.enabled', 'false');
  expect(await open(address().host, 6432)).toBe(false);
});
