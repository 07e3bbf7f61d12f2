// The pooler-* keys of connection Secrets, proven through the emulated server's real PgBouncer (port 6432,
// transaction pooling, as Azure's built-in one): TLS verify-full against the FQDN, the application role,
// and tenant isolation with transaction pooling. The tenant set with set_config(..., true) inside each
// transaction holds per transaction; a session-level SET leaks to the next client that gets the same
// server connection (shown here, and said in README).
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import fs from 'node:fs';
import pg from 'pg';
import { generatePassword } from '../../src/postgres/database/scram.js';
import type { Manager } from '../../src/runtime/manager.js';
import { createTestNamespace } from '../../dev/env/testenv.js';
import { eventually, installCrds, run } from '../runtime/helpers.js';
import { azureTenantDatabase, credentialsSecret, startAzureHarness, startOperatorInProcess, type AzureHarness } from './azure-harness.js';
import { getTd, nudge, readSecret, waitReady } from './db-harness.js';

let h: AzureHarness;
let ns: string;
let mgr: Manager;
const NAME = 'pooled';
const SERVER = `pooled-${Date.now().toString(36)}`;
const ADMIN_PASSWORD = generatePassword();
let caPem: string;
const opened: pg.Client[] = [];

function mapped(fqdn: string): { host: string; port: number } {
  return (JSON.parse(fs.readFileSync(h.emu.hostsFile, 'utf8')) as Record<string, { host: string; port: number }>)[fqdn]!;
}

/** A client from a Secret's URI as an application would use it; the FQDN resolves through the emulator's map. */
async function fromUri(uri: string, servername?: string): Promise<pg.Client> {
  const u = new URL(uri);
  const c = new pg.Client({
    host: mapped(u.hostname).host,
    port: Number(u.port),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database: u.pathname.slice(1),
    ssl: { ca: caPem, servername: servername ?? u.hostname, rejectUnauthorized: true },
    connectionTimeoutMillis: 5000,
  });
  c.on('error', () => undefined);
  opened.push(c);
  await c.connect();
  return c;
}

const count = async (c: pg.Client) => Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM notes')).rows[0]!.n);
const pid = async (c: pg.Client) => (await c.query<{ p: number }>('SELECT pg_backend_pid() AS p')).rows[0]!.p;

beforeAll(async () => {
  await installCrds();
  h = await startAzureHarness('pooler');
  caPem = fs.readFileSync(h.settings.postgres.caFile!, 'utf8');
  ns = await createTestNamespace('pooler');
  await run(['apply', '-f', '-'], JSON.stringify(credentialsSecret(ns, 'azure-creds')));
  await run(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: `${NAME}-admin`, namespace: ns }, stringData: { password: ADMIN_PASSWORD } }));
  mgr = await startOperatorInProcess(h, ns, { parts: 'all' });
  const td = azureTenantDatabase(ns, NAME, SERVER, { parameters: { 'pgbouncer.enabled': 'true', 'pgbouncer.default_pool_size': '1' } }, { spec: { tenancy: { tables: [{ name: 'notes' }] } } });
  await run(['apply', '-f', '-'], JSON.stringify(td));
  await waitReady(ns, NAME, 150_000);
  // The application's table, made as a migration would (the owner's), with rows of two tenants.
  const fqdn = `${SERVER}.postgres.database.azure.com`;
  const admin = new pg.Client({ host: mapped(fqdn).host, port: mapped(fqdn).port, user: 'tdbadmin', password: ADMIN_PASSWORD, database: 'app', ssl: { ca: caPem, servername: fqdn } });
  await admin.connect();
  await admin.query(`SET ROLE app_owner; CREATE TABLE notes (tenant_id text NOT NULL, body text); INSERT INTO notes VALUES ('a', '1'), ('a', '2'), ('b', '1'), ('b', '2'), ('b', '3')`);
  await admin.end();
  await nudge(ns, NAME);
  await eventually('notes isolated', async () => ((await getTd(ns, NAME))?.status as { tenancy?: { tablesCovered?: number } } | undefined)?.tenancy?.tablesCovered === 1, 60_000);
}, 240_000);

afterAll(async () => {
  for (const c of opened) await c.end().catch(() => undefined);
  await mgr?.stop();
  if (ns) await run(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  await h?.stop();
});

test('the Secret names the pooler on 6432 at the server FQDN; it takes the application role over TLS verify-full', async () => {
  const s = (await readSecret(ns, `${NAME}-connection`))!.data;
  expect(s['pooler-host']).toBe(`${SERVER}.postgres.database.azure.com`);
  expect(s['pooler-port']).toBe('6432');
  expect(s['pooler-uri']).toMatch(/^postgresql:\/\/app_user:.+@pooled-[a-z0-9]+\.postgres\.database\.azure\.com:6432\/app\?sslmode=verify-full$/);
  const c = await fromUri(s['pooler-uri']!);
  expect((await c.query('SELECT current_user AS u')).rows[0]).toEqual({ u: 'app_user' });
  // The certificate is the server's: a client expecting another name refuses it.
  await expect(fromUri(s['pooler-uri']!, 'someone-else.postgres.database.azure.com')).rejects.toThrow(/altnames|Hostname|certificate/i);
});

test('transaction pooling: the tenant set with set_config(..., true) in each transaction isolates clients sharing one server connection', async () => {
  const uri = (await readSecret(ns, `${NAME}-connection`))!.data['pooler-uri']!;
  const a = await fromUri(uri);
  const b = await fromUri(uri);
  expect(await pid(a)).toBe(await pid(b)); // default_pool_size 1: both go through one server connection
  const inTenant = async (c: pg.Client, tenant: string) => {
    await c.query('BEGIN');
    await c.query(`SELECT set_config('app.current_tenant_id', $1, true)`, [tenant]);
    const n = await count(c);
    await c.query('COMMIT');
    return n;
  };
  expect(await inTenant(a, 'a')).toBe(2);
  expect(await inTenant(b, 'b')).toBe(3);
  // Outside a transaction that set it, no tenant: no rows, whoever used the connection before.
  expect(await count(a)).toBe(0);
  expect(await count(b)).toBe(0);
});

test('a session-level SET leaks through the pooler to the next client of the same server connection', async () => {
  const uri = (await readSecret(ns, `${NAME}-connection`))!.data['pooler-uri']!;
  const a = await fromUri(uri);
  const b = await fromUri(uri);
  await a.query(`SET app.current_tenant_id = 'a'`);
  // b never said which tenant it is, yet sees tenant a's rows: the setting stayed on the server connection.
  expect(await count(b)).toBe(2);
  await a.query('RESET app.current_tenant_id');
  expect(await count(b)).toBe(0);
});
