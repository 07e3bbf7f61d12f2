// A passwordless TenantDatabase on Azure: the server has password authentication off and Microsoft Entra on,
// the operator's identity (the namespace's credentials Secret, a service principal of the emulator's Entra)
// is its Entra administrator, and the operator manages the database, roles and grants logging in with
// tokens: no administrator password exists anywhere. The emulated server (Debian's PostgreSQL) checks every
// token itself and refuses passwords. Tokens live 20 s here, so the operator's expire during the run.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import pg from 'pg';
import { credentialFromSecretData } from '../../src/azure/credentials.js';
import { databaseTokenStats } from '../../src/azure/database-token.js';
import { postgresConnections } from '../../src/postgres/connections.js';
import type { Manager } from '../../src/runtime/manager.js';
import { createTestNamespace } from '../../dev/env/testenv.js';
import { eventually, getJson, installCrds, run } from '../runtime/helpers.js';
import { azureTenantDatabase, CLIENT_ID, CLIENT_SECRET, credentialsSecret, serverPath, startAzureHarness, startOperatorInProcess, TENANT, type AzureHarness } from './azure-harness.js';
import { waitReady, type TdObject } from './db-harness.js';

const AUDIENCE = 'https://ossrdbms-aad.database.windows.net';
const OPERATOR_ROLE = 'tenantdb-operator';
const NAME = 'pwless';
const SERVER = `pwless-${Date.now().toString(36)}`;
const TOKEN_LIFETIME_S = 20;

let h: AzureHarness;
let ns: string;
let mgr: Manager;

function passwordlessTd(extraSpec: Record<string, unknown> = {}) {
  const td = azureTenantDatabase(
    ns,
    NAME,
    SERVER,
    {
      administratorLogin: undefined,
      administratorPasswordSecretRef: undefined,
      authentication: { passwordAuth: false, entraAuth: true, tenantId: TENANT },
      entraAdministrators: [{ objectId: h.spObjectId, principalName: OPERATOR_ROLE, principalType: 'ServicePrincipal' }],
    },
    { spec: { database: { name: 'app' }, roles: { owner: 'app_owner', application: 'app_user' }, ...extraSpec } },
  );
  return JSON.parse(JSON.stringify(td)) as typeof td;
}

/** A token login to the server as the operator's principal (what a workload with that identity does). */
async function asOperatorPrincipal<T>(database: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const { credential } = credentialFromSecretData({ tenantId: TENANT, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }, { authorityHost: h.emu.authorityHost, disableInstanceDiscovery: true, caCertPem: h.caPem });
  const token = (await credential.getToken(`${AUDIENCE}/.default`))!.token;
  const fqdn = `${SERVER}.postgres.database.azure.com`;
  const target = (await h.control.hosts())[fqdn]!;
  const c = new pg.Client({ host: target.host, port: target.port, user: OPERATOR_ROLE, password: token, database, ssl: { ca: h.caPem, servername: fqdn } });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

const dbTokensIssued = async () => (await h.control.entraStats()).byAudience[AUDIENCE] ?? 0;

/** The TenantDatabase's condition `type` True for its current generation. */
const tdConverged = (type: string, name = NAME) =>
  eventually(
    `${type} for the new generation`,
    async () => {
      const o = await getJson<TdObject & { metadata: { generation: number } }>(['get', 'tenantdatabases.tenantdb.io', name, '-n', ns]);
      const c = o?.status?.conditions?.find((x) => x.type === type);
      return c?.status === 'True' && o?.status?.observedGeneration === o?.metadata.generation ? o : undefined;
    },
    120_000,
    500,
  ).catch(async (err: Error) => {
    const cur = await getJson<TdObject>(['get', 'tenantdatabases.tenantdb.io', name, '-n', ns]);
    throw new Error(`${err.message}; conditions: ${JSON.stringify(cur?.status?.conditions?.map((x) => [x.type, x.status, x.reason, x.message]))}`);
  });

beforeAll(async () => {
  await installCrds();
  h = await startAzureHarness('entra-pwless');
  await h.control.entraSettings({ tokenLifetimeSeconds: TOKEN_LIFETIME_S });
  ns = await createTestNamespace('tdb-entra-pwless');
  await run(['apply', '-f', '-'], JSON.stringify(credentialsSecret(ns, 'azure-creds')));
  mgr = await startOperatorInProcess(h, ns, { parts: 'all', migrations: true, backups: true });
}, 120_000);

afterAll(async () => {
  await mgr?.stop();
  await postgresConnections(h.settings.postgres).close();
  if (ns) await run(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  await h?.stop();
});

test('an Entra-only server is managed end to end with no administrator password in the cluster', async () => {
  await run(['apply', '-f', '-'], JSON.stringify(passwordlessTd()));
  const o = await waitReady(ns, NAME, 240_000).catch(async (err: Error) => {
    const cur = await getJson<TdObject>(['get', 'tenantdatabases.tenantdb.io', NAME, '-n', ns]);
    throw new Error(`${err.message}; conditions: ${JSON.stringify(cur?.status?.conditions)}`);
  });
  const server = o.status?.conditions?.find((c) => c.type === 'ServerReady');
  expect(server?.message).toContain(`the operator logs in as Entra administrator ${OPERATOR_ROLE}`);
  expect(o.status?.conditions?.find((c) => c.type === 'DatabaseReady')).toMatchObject({ status: 'True' });

  // Azure's side: password authentication off, no administrator login at all.
  const srv = (await h.raw('GET', `${serverPath(SERVER)}?api-version=2025-08-01`)).body;
  expect(srv.properties.authConfig).toMatchObject({ passwordAuth: 'Disabled', activeDirectoryAuth: 'Enabled' });
  expect(srv.properties.administratorLogin).toBeUndefined();
  // The cluster's side: no Secret with an administrator password (only the Azure credentials and connection Secrets).
  const secrets = (await getJson<{ items: Array<{ metadata: { name: string } }> }>(['get', 'secrets', '-n', ns]))!.items.map((s) => s.metadata.name);
  expect(secrets.filter((s) => /admin/.test(s))).toEqual([]);

  // What the operator built, seen through a token login of its principal.
  const seen = await asOperatorPrincipal('app', async (c) => {
    const owner = await c.query<{ o: string }>(`SELECT pg_get_userbyid(datdba) AS o FROM pg_database WHERE datname = 'app'`);
    const roles = await c.query<{ r: string }>(`SELECT rolname AS r FROM pg_roles WHERE rolname IN ('app_owner', 'app_user') ORDER BY 1`);
    const connect = await c.query<{ ok: boolean }>(`SELECT has_database_privilege('app_user', 'app', 'CONNECT') AS ok`);
    return { owner: owner.rows[0]?.o, roles: roles.rows.map((r) => r.r), connect: connect.rows[0]?.ok };
  });
  expect(seen).toEqual({ owner: 'app_owner', roles: ['app_owner', 'app_user'], connect: true });
}, 300_000);

test("the operator's token expires mid-run and it carries on with a fresh one", async () => {
  const before = await dbTokensIssued();
  const fetchedBefore = databaseTokenStats.fetched;
  // Every token the operator holds has expired (and its idle pooled sessions are closed) by now.
  await new Promise((r) => setTimeout(r, (TOKEN_LIFETIME_S + 5) * 1000));
  await run(['apply', '-f', '-'], JSON.stringify(passwordlessTd({ roles: { owner: 'app_owner', application: 'app_user', analytics: 'app_ro' } })));
  await tdConverged('DatabaseReady');
  expect(await asOperatorPrincipal('app', async (c) => (await c.query(`SELECT 1 FROM pg_roles WHERE rolname = 'app_ro'`)).rowCount)).toBe(1);
  // New database tokens were fetched from Entra after the old ones expired.
  expect(databaseTokenStats.fetched).toBeGreaterThan(fetchedBefore);
  expect(await dbTokensIssued()).toBeGreaterThan(before);
}, 240_000);

test('an Entra principal from the spec logs in with its token, sees only its tenant, and is gone once taken out of the spec', async () => {
  const readerClient = '3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f';
  const reader = await h.control.registerServicePrincipal({ tenantId: TENANT, clientId: readerClient, clientSecret: 'reader-secret' });
  // A tenant table, as a migration (running as the owner role) would make it.
  await asOperatorPrincipal('app', async (c) => {
    await c.query('GRANT app_owner TO "tenantdb-operator"');
    await c.query('SET ROLE app_owner');
    await c.query("CREATE TABLE public.orders (tenant_id text NOT NULL, item text NOT NULL); INSERT INTO public.orders VALUES ('t1', 'apples'), ('t2', 'pears'), ('t1', 'plums')");
  });
  const principal = { name: 'orders-reader', objectId: reader.objectId, type: 'ServicePrincipal', access: 'application' };
  const roles = { owner: 'app_owner', application: 'app_user', analytics: 'app_ro' };
  await run(['apply', '-f', '-'], JSON.stringify(passwordlessTd({ roles, tenancy: { tables: [{ schema: 'public', name: 'orders' }] }, entraPrincipals: [principal] })));
  await tdConverged('DatabaseReady');
  await tdConverged('TenancyReady');

  // Its connection Secret: everything to connect but a password (the token is the password).
  const secret = await getJson<{ data: Record<string, string> }>(['get', 'secret', `${NAME}-entra-orders-reader`, '-n', ns]);
  const data = Object.fromEntries(Object.entries(secret!.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
  expect(data).toMatchObject({ host: `${SERVER}.postgres.database.azure.com`, port: '5432', dbname: 'app', username: 'orders-reader', sslmode: 'verify-full', tokenScope: `${AUDIENCE}/.default` });
  expect(data.uri).toBe(`postgresql://orders-reader@${SERVER}.postgres.database.azure.com:5432/app?sslmode=verify-full`);
  expect(data.password).toBeUndefined();

  // The workload: a token with its own identity, used as the password; it sees its tenant's rows only.
  const { credential } = credentialFromSecretData({ tenantId: TENANT, clientId: readerClient, clientSecret: 'reader-secret' }, { authorityHost: h.emu.authorityHost, disableInstanceDiscovery: true, caCertPem: h.caPem });
  const login = async () => {
    const token = (await credential.getToken(data.tokenScope!))!.token;
    const target = (await h.control.hosts())[data.host!]!;
    const c = new pg.Client({ host: target.host, port: target.port, user: data.username, password: token, database: data.dbname, ssl: { ca: h.caPem, servername: data.host } });
    await c.connect();
    return c;
  };
  const c = await login();
  try {
    // Like the application role: no tenant named, no rows (fails closed); its tenant named, its rows only.
    expect((await c.query('SELECT count(*)::int AS n FROM public.orders')).rows[0]).toEqual({ n: 0 });
    await c.query("SELECT set_config('app.current_tenant_id', 't1', false)");
    const rows = await c.query<{ tenant_id: string; item: string }>('SELECT tenant_id, item FROM public.orders ORDER BY item');
    expect(rows.rows).toEqual([
      { tenant_id: 't1', item: 'apples' },
      { tenant_id: 't1', item: 'plums' },
    ]);
    await expect(c.query("INSERT INTO public.orders VALUES ('t2', 'stolen')")).rejects.toThrow(/row-level security/);
  } finally {
    await c.end();
  }

  // Taken out of the spec: the role is dropped (it was created by this object), the login refused, the Secret gone.
  await run(['apply', '-f', '-'], JSON.stringify(passwordlessTd({ roles, tenancy: { tables: [{ schema: 'public', name: 'orders' }] } })));
  await tdConverged('DatabaseReady');
  await expect(login()).rejects.toThrow(/no pg_hba\.conf entry|authentication failed/);
  expect(await asOperatorPrincipal('app', async (x) => (await x.query(`SELECT 1 FROM pg_roles WHERE rolname = 'orders-reader'`)).rowCount)).toBe(0);
  await eventually('principal Secret deleted', async () => ((await run(['get', 'secret', `${NAME}-entra-orders-reader`, '-n', ns, '--ignore-not-found'])).trim() ? undefined : true), 30_000, 500);
}, 300_000);

test('an operator identity that is not an Entra administrator of a password-less server is told so (Stalled), not let in', async () => {
  const name = 'pwless-other';
  const server = `pwother-${Date.now().toString(36)}`;
  const td = azureTenantDatabase(
    ns,
    name,
    server,
    {
      administratorLogin: undefined,
      administratorPasswordSecretRef: undefined,
      authentication: { passwordAuth: false, entraAuth: true, tenantId: TENANT },
      entraAdministrators: [{ objectId: '4d5e6f7a-8b9c-4d0e-9f1a-2b3c4d5e6f7a', principalName: 'someone-else', principalType: 'User' }],
    },
    { spec: { database: { name: 'other' }, roles: { owner: 'other_owner', application: 'other_user' } } },
  );
  await run(['apply', '-f', '-'], JSON.stringify(JSON.parse(JSON.stringify(td))));
  const o = await eventually(
    'ServerReady=False OperatorNotEntraAdministrator',
    async () => {
      const cur = await getJson<TdObject>(['get', 'tenantdatabases.tenantdb.io', name, '-n', ns]);
      const c = cur?.status?.conditions?.find((x) => x.type === 'ServerReady');
      return c?.status === 'False' && c.reason === 'OperatorNotEntraAdministrator' ? cur : undefined;
    },
    180_000,
    500,
  );
  expect(o.status?.conditions?.find((x) => x.type === 'ServerReady')?.message).toContain(h.spObjectId);
  expect(o.status?.conditions?.find((x) => x.type === 'Stalled')).toMatchObject({ status: 'True' });
}, 240_000);

test('a Migration on the password-less server: runAs owner without a migrations principal is refused with the reason; runAs admin runs as the Entra administrator', async () => {
  const migration = (runAs: 'owner' | 'admin') => ({
    apiVersion: 'tenantdb.io/v1alpha1',
    kind: 'Migration',
    metadata: { name: 'pwless-schema', namespace: ns },
    spec: { databaseRef: { name: NAME }, runAs, migrations: [{ version: '001', name: 'widgets', up: 'CREATE TABLE widgets (id int PRIMARY KEY);' }] },
  });
  const conditionOf = async (type: string) => (await getJson<TdObject>(['get', 'migrations.tenantdb.io', 'pwless-schema', '-n', ns]))?.status?.conditions?.find((c) => c.type === type);
  await run(['apply', '-f', '-'], JSON.stringify(migration('owner')));
  const stalled = await eventually('Stalled OwnerLoginUnavailable', async () => {
    const c = await conditionOf('Stalled');
    return c?.status === 'True' && c.reason === 'OwnerLoginUnavailable' ? c : undefined;
  }, 120_000, 500);
  expect(stalled.message).toContain('refuses password logins');
  expect(await asOperatorPrincipal('app', async (c) => (await c.query(`SELECT to_regclass('public.widgets') AS t`)).rows[0]?.t)).toBeNull();

  await run(['apply', '-f', '-'], JSON.stringify(migration('admin')));
  await eventually('Ready', async () => (await conditionOf('Ready'))?.status === 'True', 120_000, 500);
  expect(await asOperatorPrincipal('app', async (c) => (await c.query(`SELECT to_regclass('public.widgets')::text AS t`)).rows[0]?.t)).toBe('widgets');
}, 300_000);

test('runAs owner on the password-less server logs in as the migrations principal (a member of the owner only): it cannot escape to the administrator', async () => {
  type Mig = { status?: { conditions?: Array<{ type: string; status: string; reason: string; message: string }>; databases?: Array<{ phase?: string; failure?: { version?: string; code?: string; message?: string } }> } };
  // The namespace's own service principal for migrations, and its credentials Secret.
  const migClient = '5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b';
  const mig = await h.control.registerServicePrincipal({ tenantId: TENANT, clientId: migClient, clientSecret: 'migrator-secret' });
  await run(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'migrator-creds', namespace: ns }, stringData: { AZURE_TENANT_ID: TENANT, AZURE_CLIENT_ID: migClient, AZURE_CLIENT_SECRET: 'migrator-secret' } }));
  const principal = { name: 'app-migrator', objectId: mig.objectId, type: 'ServicePrincipal', access: 'migrations', credentialsSecretRef: { name: 'migrator-creds' } };
  await run(['apply', '-f', '-'], JSON.stringify(passwordlessTd({ entraPrincipals: [principal] })));
  await tdConverged('DatabaseReady');
  // The principal: created the way Azure does, a member of the owner role and of no other role of this object; no Secret for it.
  const shape = await asOperatorPrincipal('app', async (c) => {
    const r = await c.query<{ g: string }>(`SELECT g.rolname AS g FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = 'app-migrator' AND g.rolname LIKE 'app\\_%' ORDER BY 1`);
    const p = await c.query<{ objectid: string }>(`SELECT objectid FROM pg_catalog.pgaadauth_list_principals(false) WHERE rolname = 'app-migrator'`);
    return { memberOf: r.rows.map((x) => x.g), objectId: p.rows[0]?.objectid };
  });
  expect(shape).toEqual({ memberOf: ['app_owner'], objectId: mig.objectId });
  expect((await run(['get', 'secret', `${NAME}-entra-app-migrator`, '-n', ns, '--ignore-not-found'])).trim()).toBe('');

  const migration = (steps: Array<{ version: string; name: string; up: string }>) => ({
    apiVersion: 'tenantdb.io/v1alpha1',
    kind: 'Migration',
    metadata: { name: 'pwless-owned', namespace: ns },
    spec: { databaseRef: { name: NAME }, runAs: 'owner', migrations: steps },
  });
  const first = { version: '001', name: 'gadgets', up: 'CREATE TABLE gadgets (id int PRIMARY KEY); CREATE TABLE whoami AS SELECT session_user::text AS login, current_user::text AS acting;' };
  await run(['apply', '-f', '-'], JSON.stringify(migration([first])));
  const get = () => getJson<Mig>(['get', 'migrations.tenantdb.io', 'pwless-owned', '-n', ns]);
  await eventually('owned migration Ready', async () => ((await get())?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? true : undefined), 120_000, 500).catch(async (err: Error) => {
    throw new Error(`${err.message}; status: ${JSON.stringify((await get())?.status)}`);
  });
  const made = await asOperatorPrincipal('app', async (c) => ({
    owner: (await c.query<{ o: string }>(`SELECT tableowner AS o FROM pg_tables WHERE tablename = 'gadgets'`)).rows[0]?.o,
    who: (await c.query<{ login: string; acting: string }>('SELECT login, acting FROM whoami')).rows[0],
  }));
  expect(made).toEqual({ owner: 'app_owner', who: { login: 'app-migrator', acting: 'app_owner' } });

  // The escape: RESET ROLE returns to the owner (the role set at login); no role past the owner's rights is open to the principal.
  await run(['apply', '-f', '-'], JSON.stringify(migration([first, { version: '002', name: 'escape', up: 'RESET ROLE; CREATE ROLE pwless_escaped LOGIN CREATEROLE;' }])));
  const failed = await eventually('escape step failed', async () => {
    const d = (await get())?.status?.databases?.[0];
    return d?.phase === 'Failed' && d.failure?.version === '002' ? d : undefined;
  }, 120_000, 500);
  expect(failed.failure?.code).toBe('42501');
  expect(await asOperatorPrincipal('app', async (c) => (await c.query(`SELECT 1 FROM pg_roles WHERE rolname = 'pwless_escaped'`)).rowCount)).toBe(0);
  await run(['delete', 'migrations.tenantdb.io', 'pwless-owned', '-n', ns, '--wait=false']);
}, 300_000);

test('a restore drill of the password-less server logs in with the operator token, on the source and on the restored copy', async () => {
  await asOperatorPrincipal('app', async (c) => {
    // The application's schema belongs to the owner role, as a Migration would make it (the checks run as the owner).
    await c.query('SET ROLE app_owner');
    await c.query('CREATE TABLE IF NOT EXISTS drill_rows (id int PRIMARY KEY)');
    await c.query('INSERT INTO drill_rows VALUES (1), (2) ON CONFLICT DO NOTHING');
  });
  type Policy = { status?: { lastDrill?: { trigger?: string; phase?: string; result?: string; message?: string; rtoSeconds?: number } } };
  await run(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'tenantdb.io/v1alpha1',
    kind: 'BackupPolicy',
    metadata: { name: 'pwless-backup', namespace: ns },
    spec: { databaseRef: { name: NAME }, retentionDays: 7, restoreDrill: { schedule: '30 4 1 * *', timeout: 'PT10M', checks: [{ name: 'rows', sql: 'SELECT id FROM drill_rows', expectRowsAtLeast: 2 }] } },
  }));
  await run(['annotate', '--overwrite', 'backuppolicies.tenantdb.io', 'pwless-backup', '-n', ns, 'tenantdb.io/run-drill=now-1']);
  const drill = await eventually('drill finished', async () => {
    const d = (await getJson<Policy>(['get', 'backuppolicies.tenantdb.io', 'pwless-backup', '-n', ns]))?.status?.lastDrill;
    return d?.trigger?.endsWith('=now-1') && d.phase === 'Done' ? d : undefined;
  }, 240_000, 1_000);
  expect(drill).toMatchObject({ result: 'Passed' });
  expect(drill.rtoSeconds).toBeGreaterThan(0);
}, 300_000);
