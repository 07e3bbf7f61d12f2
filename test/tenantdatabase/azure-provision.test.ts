// A TenantDatabase on Azure against the real apiserver and the ARM emulator, with credentials from a
// per-namespace Secret through the emulator's Entra: create (with a generated admin password), the server's
// properties by raw ARM GETs, firewall rules, parameters, Entra administrators; converged syncs cost no
// write; each spec change costs exactly the writes it needs; Delete removes only what was created.
import type { Manager } from '../../src/runtime/manager.js';
import { createTestNamespace } from '../../dev/env/testenv.js';
import { eventually, getJson, installCrds, run } from '../runtime/helpers.js';
import { azureTenantDatabase, credentialsSecret, serverPath, startAzureHarness, startOperatorInProcess, type AzureHarness } from './azure-harness.js';

interface Cond { type: string; status: string; reason: string; message: string }
interface Tdb {
  metadata: { generation: number; finalizers?: string[] };
  status?: Record<string, any> & { conditions?: Cond[]; observedGeneration?: number };
}

let h: AzureHarness;
let ns: string;
let mgr: Manager;

const API = '?api-version=2025-08-01';
const get = (name: string) => getJson<Tdb>(['get', 'tenantdatabases.tenantdb.io', name, '-n', ns]);
const cond = (o: Tdb | undefined, type: string) => o?.status?.conditions?.find((c) => c.type === type);
const apply = (obj: unknown) => run(['apply', '-f', '-'], JSON.stringify(obj));

async function serverReady(name: string, generation?: number): Promise<Tdb> {
  return eventually(
    `${name} ServerReady`,
    async () => {
      const o = await get(name);
      const c = cond(o, 'ServerReady');
      return c?.status === 'True' && (generation === undefined || o?.status?.observedGeneration === generation) ? o : undefined;
    },
    90_000,
    300,
  );
}

/** Writes (PUT/PATCH/POST) and deletes the operator's principal made since `since`. */
async function operatorWrites(since: string): Promise<{ method: string; path: string }[]> {
  const snap = await h.control.requests(since);
  return snap.entries.filter((e) => e.principal === h.spObjectId && (e.kind === 'write' || e.kind === 'delete')).map((e) => ({ method: e.method, path: e.path }));
}

beforeAll(async () => {
  await installCrds();
  h = await startAzureHarness('provision');
  ns = await createTestNamespace('tdb-azure');
  await apply(credentialsSecret(ns, 'azure-creds'));
  mgr = await startOperatorInProcess(h, ns, { syncPeriodMs: 2_000 });
});

afterAll(async () => {
  await mgr?.stop();
  if (ns) await run(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  await h?.stop();
});

// The maintenance window is three days from today, so no run of this file ever falls inside it (a test
// run on Sunday 02:00-03:00 UTC would otherwise see restarts happen at once instead of being scheduled).
const WINDOW_DAY = (new Date().getUTCDay() + 3) % 7;

const SPEC = {
  storage: { sizeGB: 64, autoGrow: true },
  availabilityZone: '1',
  highAvailability: { mode: 'ZoneRedundant', standbyAvailabilityZone: '2' },
  backup: { retentionDays: 14, geoRedundant: true },
  network: {
    publicNetworkAccess: 'Enabled',
    firewallRules: [
      { name: 'app', startIpAddress: '10.0.1.0', endIpAddress: '10.0.1.255' },
      { name: 'ops', startIpAddress: '20.62.134.17', endIpAddress: '20.62.134.17' },
    ],
  },
  parameters: { log_min_duration_statement: '1000', work_mem: '8192' },
  restartPolicy: 'Immediate',
  maintenanceWindow: { dayOfWeek: WINDOW_DAY, startHour: 2, startMinute: 0 },
  authentication: { passwordAuth: true, entraAuth: true, tenantId: '3b1e9f0a-7c42-4d8e-a6b5-0f9d2c8e71a3' },
  entraAdministrators: [{ objectId: '5a7d3c19-2e84-4f6b-b0c9-1d8e6f2a4b75', principalName: 'dba-group', principalType: 'Group' }],
  tags: { Environment: 'test' },
};

test('create: server with every property, children, generated password, ServerReady and status', async () => {
  const started = new Date().toISOString();
  await apply(azureTenantDatabase(ns, 'orders', 'tdb-orders-srv', SPEC, { spec: { database: { name: 'app', extensions: ['pgcrypto'] } } }));
  const o = await serverReady('orders');

  const srv = await h.raw('GET', serverPath('tdb-orders-srv') + API);
  expect(srv.status).toBe(200);
  expect(srv.body.sku).toEqual({ name: 'Standard_D2ds_v5', tier: 'GeneralPurpose' });
  expect(srv.body.tags).toMatchObject({ Environment: 'test', 'tenantdb-owner': `${ns}/orders`, 'tenantdb-origin': 'created' });
  expect(srv.body.properties).toMatchObject({
    state: 'Ready',
    version: '17',
    administratorLogin: 'tdbadmin',
    availabilityZone: '1',
    storage: { storageSizeGB: 64, autoGrow: 'Enabled' },
    backup: { backupRetentionDays: 14, geoRedundantBackup: 'Enabled' },
    highAvailability: { mode: 'ZoneRedundant', standbyAvailabilityZone: '2' },
    network: { publicNetworkAccess: 'Enabled' },
    maintenanceWindow: { customWindow: 'Enabled', dayOfWeek: WINDOW_DAY, startHour: 2, startMinute: 0 },
    authConfig: { passwordAuth: 'Enabled', activeDirectoryAuth: 'Enabled', tenantId: '3b1e9f0a-7c42-4d8e-a6b5-0f9d2c8e71a3' },
  });
  const rules = await h.raw('GET', serverPath('tdb-orders-srv') + '/firewallRules' + API);
  expect(rules.body.value.map((r: any) => [r.name, r.properties.startIpAddress, r.properties.endIpAddress]).sort()).toEqual([
    ['app', '10.0.1.0', '10.0.1.255'],
    ['ops', '20.62.134.17', '20.62.134.17'],
  ]);
  const p1 = await h.raw('GET', serverPath('tdb-orders-srv') + '/configurations/log_min_duration_statement' + API);
  expect(p1.body.properties.value).toBe('1000');
  // azure.extensions is widened by spec.database.extensions.
  const ext = await h.raw('GET', serverPath('tdb-orders-srv') + '/configurations/azure.extensions' + API);
  expect(ext.body.properties.value.toLowerCase()).toContain('pgcrypto');
  const admins = await h.raw('GET', serverPath('tdb-orders-srv') + '/administrators' + API);
  expect(admins.body.value.map((a: any) => a.properties.principalName)).toEqual(['dba-group']);

  // The operator generated the administrator password Secret; the password never reaches status.
  const secret = await getJson<{ data: Record<string, string>; metadata: { annotations?: Record<string, string> } }>(['get', 'secret', 'orders-admin', '-n', ns]);
  expect(secret?.metadata.annotations?.['tenantdb.io/generated-password']).toBe('true');
  const password = Buffer.from(secret!.data.password!, 'base64').toString('utf8');
  expect(password.length).toBeGreaterThanOrEqual(16);
  expect(JSON.stringify(o.status)).not.toContain(password);

  expect(o.status).toMatchObject({
    serverName: 'tdb-orders-srv',
    serverState: 'Ready',
    serverFQDN: 'tdb-orders-srv.postgres.database.azure.com',
    azureResourceId: expect.stringMatching(/flexibleServers\/tdb-orders-srv$/i),
    pendingRestart: false,
    azure: { origin: 'created' },
  });
  expect(o.status?.azure?.operation).toBeUndefined();

  // Writes: one create PUT, then one write per child that differed (2 rules, parameters, 1 admin), nothing else.
  const writes = await operatorWrites(started);
  const creates = writes.filter((w) => w.method === 'PUT' && /flexibleServers\/tdb-orders-srv$/i.test(w.path));
  expect(creates).toHaveLength(1);
  expect(writes.filter((w) => /firewallRules/.test(w.path))).toHaveLength(2);
  expect(writes.filter((w) => /administrators/.test(w.path))).toHaveLength(1);
  // The tokens came from the emulator's Entra for the Secret's service principal.
  expect((await h.control.entraStats()).byClient['1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f']).toBeGreaterThanOrEqual(1);
});

test('converged: syncs make no ARM write', async () => {
  const since = new Date().toISOString();
  await new Promise((r) => setTimeout(r, 12_000)); // 6 sync periods, longer than the 10 s read cache
  const snap = await h.control.requests(since);
  const mine = snap.entries.filter((e) => e.principal === h.spObjectId);
  const reads = mine.filter((e) => e.kind === 'read').length;
  expect(reads).toBeGreaterThan(0); // it did look again after the read cache's TTL
  expect(reads).toBeLessThanOrEqual(2 * 5); // at most 2 TTLs x (server, rules, parameters, admins, replicas)
  expect(mine.filter((e) => e.kind !== 'read' && e.kind !== 'poll')).toEqual([]);
});

test('spec changes: each makes exactly the writes it needs', async () => {
  const base = azureTenantDatabase(ns, 'orders', 'tdb-orders-srv', SPEC, { spec: { database: { name: 'app', extensions: ['pgcrypto'] } } });
  const change = async (azure: Record<string, unknown>) => {
    const since = new Date().toISOString();
    await apply(azureTenantDatabase(ns, 'orders', 'tdb-orders-srv', { ...SPEC, ...azure }, { spec: { database: base.spec.database } }));
    const gen = (await get('orders'))!.metadata.generation;
    await serverReady('orders', gen);
    return operatorWrites(since);
  };

  // Scale the SKU and grow storage: one PATCH of the server.
  let w = await change({ sku: { name: 'Standard_D4ds_v5', tier: 'GeneralPurpose' }, storage: { sizeGB: 128, autoGrow: true } });
  expect(w).toEqual([{ method: 'PATCH', path: expect.stringMatching(/flexibleServers\/tdb-orders-srv$/) }]);
  let srv = await h.raw('GET', serverPath('tdb-orders-srv') + API);
  expect(srv.body.sku.name).toBe('Standard_D4ds_v5');
  expect(srv.body.properties.storage.storageSizeGB).toBe(128);

  // Add a firewall rule: one PUT of that rule.
  const rules = [...SPEC.network.firewallRules, { name: 'extra', startIpAddress: '10.9.0.1', endIpAddress: '10.9.0.2' }];
  w = await change({ sku: { name: 'Standard_D4ds_v5', tier: 'GeneralPurpose' }, storage: { sizeGB: 128, autoGrow: true }, network: { publicNetworkAccess: 'Enabled', firewallRules: rules } });
  expect(w).toEqual([{ method: 'PUT', path: expect.stringMatching(/firewallRules\/extra$/) }]);

  // Remove two rules: two DELETEs.
  w = await change({ sku: { name: 'Standard_D4ds_v5', tier: 'GeneralPurpose' }, storage: { sizeGB: 128, autoGrow: true }, network: { publicNetworkAccess: 'Enabled', firewallRules: [rules[0]] } });
  expect(w.map((x) => x.method).sort()).toEqual(['DELETE', 'DELETE']);
  const left = await h.raw('GET', serverPath('tdb-orders-srv') + '/firewallRules' + API);
  expect(left.body.value.map((r: any) => r.name)).toEqual(['app']);

  // A dynamic parameter: one PUT/PATCH of it, no restart.
  const scaled = { sku: { name: 'Standard_D4ds_v5', tier: 'GeneralPurpose' }, storage: { sizeGB: 128, autoGrow: true }, network: { publicNetworkAccess: 'Enabled', firewallRules: [rules[0]] } };
  w = await change({ ...scaled, parameters: { ...SPEC.parameters, work_mem: '16384' } });
  expect(w).toHaveLength(1);
  expect(w[0]!.path).toMatch(/configurations\/work_mem$/);

  // A static parameter under restartPolicy Immediate: its write plus exactly one restart.
  w = await change({ ...scaled, parameters: { ...SPEC.parameters, work_mem: '16384', max_connections: '150' } });
  expect(w.map((x) => x.path.split('/').pop())).toEqual(['max_connections', 'restart']);
  const o = await get('orders');
  expect(o?.status?.pendingRestart).toBe(false);
  srv = await h.raw('GET', serverPath('tdb-orders-srv') + '/configurations/max_connections' + API);
  expect(srv.body.properties).toMatchObject({ value: '150', isConfigPendingRestart: false });

  // A static parameter under Manual: written, reported pending, no restart.
  w = await change({ ...scaled, restartPolicy: 'Manual', parameters: { ...SPEC.parameters, work_mem: '16384', max_connections: '175' } });
  expect(w.map((x) => x.path.split('/').pop())).toEqual(['max_connections']);
  const m = await get('orders');
  expect(m?.status).toMatchObject({ pendingRestart: true, parametersPendingRestart: ['max_connections'] });
  expect(cond(m, 'ServerReady')?.message).toMatch(/max_connections wait for a restart/);

  // The same under MaintenanceWindow: reported with the window's time.
  w = await change({ ...scaled, restartPolicy: 'MaintenanceWindow', parameters: { ...SPEC.parameters, work_mem: '16384', max_connections: '175' } });
  expect(w).toEqual([]);
  const mw = await get('orders');
  expect(mw?.status?.azure?.restartDueAt).toMatch(/T02:00:00/);
});

test('adoption: an untagged server is left alone without the annotation, adopted with it, and survives Delete', async () => {
  // A server someone made by hand.
  const put = await h.raw('PUT', serverPath('tdb-handmade') + API, {
    location: 'eastus',
    sku: { name: 'Standard_D2ds_v5', tier: 'GeneralPurpose' },
    properties: { administratorLogin: 'handadmin', administratorLoginPassword: 'Hand-made-Passw0rd', version: '17', storage: { storageSizeGB: 32 } },
  });
  expect(put.status).toBeLessThan(300);
  await eventually('handmade Ready', async () => (await h.raw('GET', serverPath('tdb-handmade') + API)).body?.properties?.state === 'Ready', 60_000, 300);
  await apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'hand-admin', namespace: ns }, stringData: { password: 'Hand-made-Passw0rd' } });

  const since = new Date().toISOString();
  const obj = azureTenantDatabase(ns, 'hand', 'tdb-handmade', { administratorLogin: 'handadmin', administratorPasswordSecretRef: { name: 'hand-admin', key: 'password' } }, { spec: { deletionPolicy: 'Delete' } });
  await apply(obj);
  const stalled = await eventually('hand Stalled', async () => {
    const o = await get('hand');
    return cond(o, 'ServerReady')?.reason === 'AdoptionRequired' ? o : undefined;
  });
  expect(cond(stalled, 'Stalled')?.status).toBe('True');
  expect(cond(stalled, 'ServerReady')?.message).toMatch(/tenantdb\.io\/adopt/);
  expect(await operatorWrites(since)).toEqual([]);

  // A second object naming the same server as "orders" is never written: Stalled naming the owner.
  await apply(azureTenantDatabase(ns, 'intruder', 'tdb-orders-srv', {}, {}));
  const intr = await eventually('intruder Stalled', async () => {
    const o = await get('intruder');
    return cond(o, 'ServerReady')?.reason === 'OwnedByAnother' ? o : undefined;
  });
  expect(cond(intr, 'ServerReady')?.message).toContain(`${ns}/orders`);

  await run(['annotate', 'tenantdatabases.tenantdb.io', 'hand', '-n', ns, 'tenantdb.io/adopt=true']);
  const adopted = await serverReady('hand');
  expect(adopted.status?.azure?.origin).toBe('adopted');
  const srv = await h.raw('GET', serverPath('tdb-handmade') + API);
  expect(srv.body.tags).toMatchObject({ 'tenantdb-owner': `${ns}/hand`, 'tenantdb-origin': 'adopted' });
  // Adoption wrote the tags (one PATCH) and nothing that would lose data; the password was not rotated.
  const w = (await operatorWrites(since)).filter((x) => /tdb-handmade/.test(x.path));
  expect(w).toEqual([{ method: 'PATCH', path: expect.stringMatching(/tdb-handmade$/) }]);

  // deletionPolicy Delete on an adopted server: the object goes, the server stays.
  await run(['delete', 'tenantdatabases.tenantdb.io', 'hand', '-n', ns, '--wait=true', '--timeout=60s']);
  expect((await h.raw('GET', serverPath('tdb-handmade') + API)).status).toBe(200);
  await run(['delete', 'tenantdatabases.tenantdb.io', 'intruder', '-n', ns, '--wait=true', '--timeout=60s']);
  expect((await h.raw('GET', serverPath('tdb-orders-srv') + API)).status).toBe(200);
});

test('deletion: Retain keeps the server, Delete removes a created one', async () => {
  await apply(azureTenantDatabase(ns, 'gone', 'tdb-gone-srv', {}, { spec: { deletionPolicy: 'Delete' } }));
  await serverReady('gone');
  await run(['delete', 'tenantdatabases.tenantdb.io', 'gone', '-n', ns, '--wait=true', '--timeout=90s']);
  expect((await h.raw('GET', serverPath('tdb-gone-srv') + API)).status).toBe(404);

  await run(['delete', 'tenantdatabases.tenantdb.io', 'orders', '-n', ns, '--wait=true', '--timeout=60s']);
  expect((await h.raw('GET', serverPath('tdb-orders-srv') + API)).status).toBe(200);
});
