// Microsoft.DBforPostgreSQL/flexibleServers through the real SDK client against a private emulator:
// every operation (LROs included) drives a real PostgreSQL, and every response body validates against
// the pinned 2025-08-01 swagger.
import fs from 'node:fs';
import pg from 'pg';
import type { Server } from '@azure/arm-postgresql-flexible';
import { FAST, LOCATION, SUB, createResourceGroup, rawCall, requireSpecs, responseSchemaProblems, startHarness, type Harness } from './fixtures.js';

const RG = 'rg-servers';
const NAME = 'tenant-a-pg';
const ADMIN = 'tenantadmin';
const PASSWORD = 'S3cure-Passw0rd!';

let h: Harness;

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** Connects as the administrator from the create body, to the mapped address, verifying the FQDN. */
async function connectAsAdmin(server: Server, database = 'postgres', password = PASSWORD): Promise<pg.Client> {
  const fqdn = server.fullyQualifiedDomainName!;
  const hosts = JSON.parse(fs.readFileSync(h.emu.hostsFile, 'utf8')) as Record<string, { host: string; port: number }>;
  const target = hosts[fqdn]!;
  const client = new pg.Client({ host: target.host, port: target.port, user: ADMIN, password, database, ssl: { ca: h.caPem, servername: fqdn, rejectUnauthorized: true } });
  await client.connect();
  return client;
}

beforeAll(async () => {
  h = await startHarness('servers');
  await createResourceGroup(h, RG);
});

afterAll(async () => {
  await h?.stop();
});

test('a missing resource group answers 404 ResourceGroupNotFound', async () => {
  await expect(h.client.servers.get('rg-does-not-exist', NAME)).rejects.toMatchObject({ statusCode: 404, code: 'ResourceGroupNotFound' });
});

test('a request without a bearer token answers 401 as ARM does', async () => {
  const res = await rawCall(h, 'GET', `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.DBforPostgreSQL/flexibleServers?api-version=2025-08-01`, { token: null });
  expect(res.status).toBe(401);
  expect(res.body).toMatchObject({ error: { code: 'AuthenticationFailed' } });
  expect(String(res.headers['www-authenticate'])).toMatch(/^Bearer /);
});

describe('server lifecycle', () => {
  let server: Server;

  test('create runs as an LRO and starts a real PostgreSQL reachable at the FQDN with the admin login', async () => {
    const poller = await h.client.servers.beginCreateOrUpdate(
      RG,
      NAME,
      {
        location: LOCATION,
        sku: { name: 'Standard_B1ms', tier: 'Burstable' },
        administratorLogin: ADMIN,
        administratorLoginPassword: PASSWORD,
        version: '17',
        storage: { storageSizeGB: 32 },
        backup: { backupRetentionDays: 7, geoRedundantBackup: 'Disabled' },
        tags: { tenant: 'a' },
      },
      FAST,
    );
    // While the operation runs the server is visible as Provisioning.
    const during = await h.client.servers.get(RG, NAME);
    expect(during.state).toBe('Provisioning');
    server = await poller.pollUntilDone();
    expect(server.state).toBe('Ready');
    expect(server.fullyQualifiedDomainName).toBe(`${NAME}.postgres.database.azure.com`);
    expect(server.administratorLogin).toBe(ADMIN);
    expect(server.backup?.earliestRestoreDate).toBeInstanceOf(Date);
    expect(JSON.stringify(h.captured)).not.toContain(PASSWORD);

    const hosts = await h.control.hosts();
    expect(hosts[server.fullyQualifiedDomainName!]).toMatchObject({ host: expect.stringMatching(/^127\.0\.\d+\.\d+$/) });

    const c = await connectAsAdmin(server);
    try {
      const who = await c.query<{ rolsuper: boolean; rolcreatedb: boolean; rolcreaterole: boolean; member: boolean }>(
        "SELECT rolsuper, rolcreatedb, rolcreaterole, pg_has_role(current_user, 'azure_pg_admin', 'MEMBER') AS member FROM pg_roles WHERE rolname = current_user",
      );
      expect(who.rows[0]).toEqual({ rolsuper: false, rolcreatedb: true, rolcreaterole: true, member: true });
      const ssl = await c.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
      expect(ssl.rows[0]!.ssl).toBe(true);
      await c.query('CREATE TABLE notes (id int PRIMARY KEY, body text)');
      await c.query("INSERT INTO notes VALUES (1, 'kept across stop/start')");
    } finally {
      await c.end();
    }
    // A wrong password is refused.
    await expect(connectAsAdmin(server, 'postgres', 'wrong-password')).rejects.toThrow(/password authentication failed/);
  });

  test('list by resource group and by subscription', async () => {
    const byRg = await collect(h.client.servers.listByResourceGroup(RG));
    expect(byRg.map((s) => s.name)).toEqual([NAME]);
    const bySub = await collect(h.client.servers.listBySubscription());
    expect(bySub.map((s) => s.name)).toContain(NAME);
  });

  test('re-PUTting the create body (as a declarative client does) is an update', async () => {
    const again = await h.client.servers.beginCreateOrUpdateAndWait(
      RG,
      NAME,
      { location: LOCATION, sku: { name: 'Standard_B1ms', tier: 'Burstable' }, administratorLogin: ADMIN, administratorLoginPassword: PASSWORD, version: '17', createMode: 'Create', storage: { storageSizeGB: 32 }, tags: { tenant: 'a' } },
      FAST,
    );
    expect(again).toMatchObject({ state: 'Ready', administratorLogin: ADMIN, tags: { tenant: 'a' } });
    expect((await h.control.hosts())[again.fullyQualifiedDomainName!]).toEqual((await h.control.hosts())[server.fullyQualifiedDomainName!]);
    await expect(
      h.client.servers.beginCreateOrUpdate(RG, NAME, { location: LOCATION, createMode: 'PointInTimeRestore', sourceServerResourceId: server.id!, pointInTimeUTC: new Date() }, FAST),
    ).rejects.toMatchObject({ statusCode: 400 });
  });

  test('a second write while an operation is in flight answers 409 ServerIsBusy', async () => {
    await h.control.pauseOperations({ method: 'PATCH', path: `/flexibleServers/${NAME}$` });
    const poller = await h.client.servers.beginUpdate(RG, NAME, { tags: { tenant: 'a', phase: 'busy' } }, FAST);
    await expect(h.client.servers.beginUpdate(RG, NAME, { tags: { other: 'x' } }, FAST)).rejects.toMatchObject({ statusCode: 409, code: 'ServerIsBusy' });
    expect((await h.client.servers.get(RG, NAME)).state).toBe('Updating');
    const op = (await h.control.operations()).find((o) => o.status === 'InProgress' && o.action === 'servers.update');
    expect(op?.paused).toBe(true);
    await h.control.resumeOperation(op!.id);
    const updated = await poller.pollUntilDone();
    expect(updated.tags).toEqual({ tenant: 'a', phase: 'busy' });
    expect(updated.state).toBe('Ready');
  });

  test('PATCH grows storage and changes the admin password on the instance', async () => {
    const newPassword = 'An0ther-Passw0rd!';
    const updated = await h.client.servers.beginUpdateAndWait(RG, NAME, { storage: { storageSizeGB: 64 }, administratorLoginPassword: newPassword, backup: { backupRetentionDays: 14 } }, FAST);
    expect(updated.storage?.storageSizeGB).toBe(64);
    expect(updated.backup?.backupRetentionDays).toBe(14);
    const c = await connectAsAdmin(server, 'postgres', newPassword);
    await c.end();
    await h.client.servers.beginUpdateAndWait(RG, NAME, { administratorLoginPassword: PASSWORD }, FAST);
  });

  test('properties Azure does not let you change are refused with ARM error codes', async () => {
    await expect(h.client.servers.beginUpdate(RG, NAME, { storage: { storageSizeGB: 32 } }, FAST)).rejects.toMatchObject({ statusCode: 400, code: 'PropertyChangeNotAllowed' });
    await expect(h.client.servers.beginUpdate(RG, NAME, { version: '16' }, FAST)).rejects.toMatchObject({ statusCode: 400, code: 'PropertyChangeNotAllowed' });
    await expect(
      h.client.servers.beginCreateOrUpdate(RG, NAME, { location: LOCATION, backup: { geoRedundantBackup: 'Enabled' } }, FAST),
    ).rejects.toMatchObject({ statusCode: 400, code: 'PropertyChangeNotAllowed' });
    await expect(h.client.servers.beginCreateOrUpdate(RG, NAME, { location: 'westeurope' }, FAST)).rejects.toMatchObject({ statusCode: 400, code: 'InvalidResourceLocation' });
    await expect(
      h.client.servers.beginCreateOrUpdate(RG, NAME, { location: LOCATION, administratorLogin: 'someoneelse' }, FAST),
    ).rejects.toMatchObject({ statusCode: 400, code: 'PropertyChangeNotAllowed' });
  });

  test('a request body that breaks the swagger is refused with 400 naming the property (and not retried)', async () => {
    if (!requireSpecs(h.emu.ctx.specs)) return;
    const before = (await h.control.requests()).counts.write;
    const res = await rawCall(h, 'PATCH', `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.DBforPostgreSQL/flexibleServers/${NAME}?api-version=2025-08-01`, {
      body: { properties: { highAvailability: { mode: 'Sideways' } } },
    });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: { code: 'InvalidParameterValue', target: 'properties.highAvailability.mode' } });
    await expect(h.client.servers.beginUpdate(RG, NAME, { storage: { autoGrow: 'Sometimes' as never } }, FAST)).rejects.toMatchObject({ statusCode: 400, code: 'InvalidParameterValue' });
    // One raw PATCH plus exactly one SDK attempt: the client does not retry a 400.
    expect((await h.control.requests()).counts.write - before).toBe(2);
  });

  test('databases are the real catalogue: create and delete run CREATE/DROP DATABASE', async () => {
    const db = await h.client.databases.beginCreateAndWait(RG, NAME, 'appdb', { charset: 'UTF8', collation: 'en_US.utf8' }, FAST);
    expect(db).toMatchObject({ name: 'appdb', charset: 'UTF8' });
    const c = await connectAsAdmin(server, 'appdb');
    try {
      const owner = await c.query<{ owner: string }>('SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = current_database()');
      expect(owner.rows[0]!.owner).toBe(ADMIN);
      await c.query('CREATE DATABASE made_by_sql');
    } finally {
      await c.end();
    }
    const names = (await collect(h.client.databases.listByServer(RG, NAME))).map((d) => d.name);
    expect(names).toEqual(expect.arrayContaining(['postgres', 'appdb', 'made_by_sql']));
    expect((await h.client.databases.get(RG, NAME, 'made_by_sql')).name).toBe('made_by_sql');
    await h.client.databases.beginDeleteAndWait(RG, NAME, 'made_by_sql', FAST);
    await expect(h.client.databases.get(RG, NAME, 'made_by_sql')).rejects.toMatchObject({ statusCode: 404 });
  });

  test('firewall rules: create, get, list, delete', async () => {
    const rule = await h.client.firewallRules.beginCreateOrUpdateAndWait(RG, NAME, 'office', { startIpAddress: '10.0.0.1', endIpAddress: '10.0.0.255' }, FAST);
    expect(rule).toMatchObject({ name: 'office', startIpAddress: '10.0.0.1', endIpAddress: '10.0.0.255' });
    expect((await h.client.firewallRules.get(RG, NAME, 'office')).endIpAddress).toBe('10.0.0.255');
    expect((await collect(h.client.firewallRules.listByServer(RG, NAME))).map((r) => r.name)).toEqual(['office']);
    await expect(
      h.client.firewallRules.beginCreateOrUpdate(RG, NAME, 'bad', { startIpAddress: '10.0.0.9', endIpAddress: '10.0.0.1' }, FAST),
    ).rejects.toMatchObject({ statusCode: 400, code: 'InvalidParameterValue' });
    await h.client.firewallRules.beginDeleteAndWait(RG, NAME, 'office', FAST);
    await expect(h.client.firewallRules.get(RG, NAME, 'office')).rejects.toMatchObject({ statusCode: 404, code: 'ResourceNotFound' });
  });

  test('dynamic configurations apply at once; static ones stay pending until a restart', async () => {
    const all = await collect(h.client.configurations.listByServer(RG, NAME));
    expect(all.map((c) => c.name)).toEqual(expect.arrayContaining(['max_connections', 'work_mem', 'azure.extensions']));

    const wm = await h.client.configurations.beginUpdateAndWait(RG, NAME, 'work_mem', { value: '8192', source: 'user-override' }, FAST);
    expect(wm).toMatchObject({ value: '8192', isDynamicConfig: true, isConfigPendingRestart: false, source: 'user-override' });
    const mc = await h.client.configurations.beginUpdateAndWait(RG, NAME, 'max_connections', { value: '120', source: 'user-override' }, FAST);
    expect(mc).toMatchObject({ value: '120', isDynamicConfig: false, isConfigPendingRestart: true });

    const c = await connectAsAdmin(server);
    try {
      expect((await c.query('SHOW work_mem')).rows[0].work_mem).toBe('8MB');
      expect((await c.query('SHOW max_connections')).rows[0].max_connections).toBe('100');
    } finally {
      await c.end();
    }
    await expect(h.client.configurations.beginUpdate(RG, NAME, 'max_connections', { value: '3' }, FAST)).rejects.toMatchObject({ statusCode: 400, code: 'InvalidParameterValue' });
    await expect(h.client.configurations.get(RG, NAME, 'no_such_parameter')).rejects.toMatchObject({ statusCode: 404 });

    const restarted = h.client.servers.beginRestartAndWait(RG, NAME, FAST);
    await restarted;
    expect((await h.client.configurations.get(RG, NAME, 'max_connections')).isConfigPendingRestart).toBe(false);
    const c2 = await connectAsAdmin(server);
    try {
      expect((await c2.query('SHOW max_connections')).rows[0].max_connections).toBe('120');
    } finally {
      await c2.end();
    }
  });

  test('CREATE EXTENSION is refused unless azure.extensions allows it', async () => {
    await h.client.configurations.beginUpdateAndWait(RG, NAME, 'azure.extensions', { value: 'citext,pg_trgm,pg_stat_statements', source: 'user-override' }, FAST);
    const c = await connectAsAdmin(server);
    try {
      await c.query('CREATE EXTENSION citext');
      // pg_stat_statements is untrusted in PostgreSQL (and preloaded): allowed, the admin can still create it.
      await c.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
      const ext = await c.query("SELECT extname FROM pg_extension WHERE extname IN ('citext', 'pg_stat_statements')");
      expect(ext.rowCount).toBe(2);
      expect((await c.query('SELECT count(*) FROM pg_stat_statements')).rowCount).toBe(1);
      // ...and is not left a superuser afterwards.
      expect((await c.query('SELECT rolsuper FROM pg_roles WHERE rolname = current_user')).rows[0].rolsuper).toBe(false);
      await expect(c.query('CREATE EXTENSION pg_buffercache')).rejects.toThrow(/not allow-listed|permission denied/);
      expect((await c.query('SELECT rolsuper FROM pg_roles WHERE rolname = current_user')).rows[0].rolsuper).toBe(false);
      await expect(c.query('CREATE EXTENSION hstore')).rejects.toThrow(/not allow-listed/);
      // A session cannot widen the list for itself.
      await c.query("SET azure.extensions = 'hstore'");
      await expect(c.query('CREATE EXTENSION hstore')).rejects.toThrow(/not allow-listed/);
    } finally {
      await c.end();
    }
  });

  test('Microsoft Entra administrators: add, get, list, delete', async () => {
    const objectId = '6b1f4c2e-0a3d-4e5f-8a9b-0c1d2e3f4a5b';
    const admin = await h.client.administratorsMicrosoftEntra.beginCreateOrUpdateAndWait(
      RG,
      NAME,
      objectId,
      { principalName: 'dba-group', principalType: 'Group', tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47' },
      FAST,
    );
    expect(admin).toMatchObject({ principalName: 'dba-group', principalType: 'Group', objectId });
    expect((await collect(h.client.administratorsMicrosoftEntra.listByServer(RG, NAME))).map((a) => a.objectId)).toEqual([objectId]);
    const c = await connectAsAdmin(server);
    try {
      expect((await c.query("SELECT 1 FROM pg_roles WHERE rolname = 'dba-group'")).rowCount).toBe(1);
    } finally {
      await c.end();
    }
    await h.client.administratorsMicrosoftEntra.beginDeleteAndWait(RG, NAME, objectId, FAST);
    await expect(h.client.administratorsMicrosoftEntra.get(RG, NAME, objectId)).rejects.toMatchObject({ statusCode: 404 });
  });

  test('backups: automatic entries, on-demand create and delete', async () => {
    const before = await collect(h.client.backupsAutomaticAndOnDemand.listByServer(RG, NAME));
    expect(before.length).toBeGreaterThanOrEqual(1);
    expect(before[0]).toMatchObject({ backupType: 'Full' });
    const made = await h.client.backupsAutomaticAndOnDemand.beginCreateAndWait(RG, NAME, 'before-upgrade', FAST);
    expect(made).toMatchObject({ name: 'before-upgrade', backupType: 'Customer On-Demand' });
    expect((await h.client.backupsAutomaticAndOnDemand.get(RG, NAME, 'before-upgrade')).completedTime).toBeInstanceOf(Date);
    await h.client.backupsAutomaticAndOnDemand.beginDeleteAndWait(RG, NAME, 'before-upgrade', FAST);
    await expect(h.client.backupsAutomaticAndOnDemand.get(RG, NAME, 'before-upgrade')).rejects.toMatchObject({ statusCode: 404 });
  });

  test('stop and start keep the data; a stopped server refuses restart', async () => {
    await h.client.servers.beginStopAndWait(RG, NAME, FAST);
    expect((await h.client.servers.get(RG, NAME)).state).toBe('Stopped');
    await expect(connectAsAdmin(server)).rejects.toThrow();
    await expect(h.client.servers.beginRestart(RG, NAME, FAST)).rejects.toMatchObject({ statusCode: 409, code: 'ServerIsNotReady' });
    await h.client.servers.beginStartAndWait(RG, NAME, FAST);
    expect((await h.client.servers.get(RG, NAME)).state).toBe('Ready');
    const c = await connectAsAdmin(server);
    try {
      expect((await c.query('SELECT body FROM notes WHERE id = 1')).rows[0].body).toBe('kept across stop/start');
    } finally {
      await c.end();
    }
  });

  test('a Failed LRO surfaces its error code and message', async () => {
    await h.control.failOperations({ method: 'PUT', path: '/firewallRules/doomed$', code: 'InternalServerError', message: 'Injected: the rule could not be stored.' });
    await expect(
      h.client.firewallRules.beginCreateOrUpdateAndWait(RG, NAME, 'doomed', { startIpAddress: '10.1.0.1', endIpAddress: '10.1.0.1' }, FAST),
    ).rejects.toThrow(/InternalServerError\. Injected: the rule could not be stored\./);
    await expect(h.client.firewallRules.get(RG, NAME, 'doomed')).rejects.toMatchObject({ statusCode: 404 });
  });

  test('delete drops the server and stops its PostgreSQL', async () => {
    const fqdn = server.fullyQualifiedDomainName!;
    await h.client.servers.beginDeleteAndWait(RG, NAME, FAST);
    await expect(h.client.servers.get(RG, NAME)).rejects.toMatchObject({ statusCode: 404, code: 'ResourceNotFound' });
    expect((await h.control.hosts())[fqdn]).toBeUndefined();
    await expect(connectAsAdmin(server)).rejects.toThrow();
  });
});

test('every response body validates against the 2025-08-01 swagger', () => {
  if (!requireSpecs(h.emu.ctx.specs)) return;
  const { problems, operations } = responseSchemaProblems(h.emu.ctx.specs, h.captured);
  expect(problems).toEqual([]);
  // The run covered the operations the operator uses (spot-check a few).
  for (const op of ['LRO status 200', 'Servers_Get 200', 'Servers_ListByResourceGroup 200', 'Databases_ListByServer 200', 'Configurations_Get 200', 'FirewallRules_Get 200', 'BackupsAutomaticAndOnDemand_ListByServer 200']) {
    expect([...operations]).toContain(op);
  }
});
