// crds/examples/tenantdatabase-azure.yaml as `npm run dev` applies it (after the azure dev fixture made the
// resource group, the service principal and its credentials Secret): the server in the emulator has every
// property of the spec (raw ARM GETs), its firewall rules, parameters, Entra administrator and replica;
// ServerReady; then 60 s of syncs (sync period 2 s) make 0 ARM writes.
import fs from 'node:fs';
import YAML from 'yaml';
import { postgresConnections } from '../../src/postgres/connections.js';
import type { Manager } from '../../src/runtime/manager.js';
import { EXAMPLE_FILE, prepareAzureExample } from '../../dev/env/dev-fixtures/azure.js';
import { createTestNamespace } from '../../dev/env/testenv.js';
import { eventually, getJson, installCrds, run } from '../runtime/helpers.js';
import { startAzureHarness, startOperatorInProcess, type AzureHarness } from './azure-harness.js';

let h: AzureHarness;
let ns: string;
let mgr: Manager;
let principal: string;
const API = '?api-version=2025-08-01';
const example = YAML.parse(fs.readFileSync(EXAMPLE_FILE, 'utf8'));
const az = example.spec.server.azure;
// The example's window (Sunday 02:00) moved three days from today, so no run of this file falls inside it
// (a run on Sunday 02:00-03:00 UTC would see the restart happen at once instead of being scheduled).
const WINDOW_DAY = (new Date().getUTCDay() + 3) % 7;
az.maintenanceWindow.dayOfWeek = WINDOW_DAY;
const base = `/subscriptions/${az.subscriptionId}/resourceGroups/${az.resourceGroup}/providers/Microsoft.DBforPostgreSQL/flexibleServers/${az.name}`;

beforeAll(async () => {
  await installCrds();
  h = await startAzureHarness('example');
  ns = await createTestNamespace('tdb-azure-example');
  const sp = await prepareAzureExample({ arm: h.emu, namespace: ns, apply: (m) => run(['apply', '-f', '-'], JSON.stringify(m)).then(() => undefined) });
  principal = sp.objectId;
  mgr = await startOperatorInProcess(h, ns, { syncPeriodMs: 2_000, parts: 'all' });
});

afterAll(async () => {
  await mgr?.stop();
  await postgresConnections(h.settings.postgres).close(); // the database part's pools
  if (ns) await run(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  await h?.stop();
});

test('the Azure example: every property in ARM, ServerReady, then 60 s of syncs without a write', async () => {
  await run(['apply', '-n', ns, '-f', '-'], JSON.stringify(example));
  const o = await eventually(
    'example ServerReady',
    async () => {
      const cur = await getJson<any>(['get', 'tenantdatabases.tenantdb.io', example.metadata.name, '-n', ns]);
      return cur?.status?.conditions?.find((c: any) => c.type === 'ServerReady')?.status === 'True' ? cur : undefined;
    },
    180_000,
    500,
  );

  const srv = (await h.raw('GET', base + API)).body;
  expect(srv.location).toBe(az.location);
  expect(srv.sku).toEqual(az.sku);
  expect(srv.tags).toMatchObject({ ...az.tags, 'tenantdb-owner': `${ns}/${example.metadata.name}`, 'tenantdb-origin': 'created' });
  expect(srv.properties).toMatchObject({
    state: 'Ready',
    version: az.version,
    administratorLogin: az.administratorLogin,
    availabilityZone: az.availabilityZone,
    storage: { storageSizeGB: az.storage.sizeGB, autoGrow: 'Enabled' },
    highAvailability: { mode: az.highAvailability.mode, standbyAvailabilityZone: az.highAvailability.standbyAvailabilityZone },
    backup: { backupRetentionDays: az.backup.retentionDays, geoRedundantBackup: 'Enabled' },
    network: { publicNetworkAccess: 'Enabled' },
    maintenanceWindow: { customWindow: 'Enabled', ...az.maintenanceWindow },
    authConfig: { passwordAuth: 'Enabled', activeDirectoryAuth: 'Enabled', tenantId: az.authentication.tenantId },
  });
  const rules = (await h.raw('GET', base + '/firewallRules' + API)).body.value;
  expect(rules.map((r: any) => ({ name: r.name, startIpAddress: r.properties.startIpAddress, endIpAddress: r.properties.endIpAddress })).sort((a: any, b: any) => a.name.localeCompare(b.name))).toEqual(az.network.firewallRules);
  const configs = new Map<string, any>((await h.raw('GET', base + '/configurations' + API)).body.value.map((c: any) => [c.name, c.properties]));
  for (const [k, v] of Object.entries<string>(az.parameters)) {
    const have = String(configs.get(k)?.value ?? '').toLowerCase();
    if (k === 'azure.extensions') {
      for (const e of [...v.split(','), ...example.spec.database.extensions]) expect(have.split(',')).toContain(e.toLowerCase());
    } else expect([v.toLowerCase(), v === 'on' ? 'on' : v]).toContain(have);
  }
  const admins = (await h.raw('GET', base + '/administrators' + API)).body.value;
  expect(admins.map((a: any) => ({ objectId: a.properties.objectId ?? a.name, principalName: a.properties.principalName, principalType: a.properties.principalType }))).toEqual(az.entraAdministrators);
  const replica = (await h.raw('GET', base.replace(az.name, az.readReplicas[0].name) + API)).body;
  expect(replica.location).toBe(az.readReplicas[0].location);
  expect(replica.properties).toMatchObject({ state: 'Ready', replicationRole: 'AsyncReplica' });

  expect(o.status).toMatchObject({
    serverFQDN: `${az.name}.postgres.database.azure.com`,
    serverState: 'Ready',
    replicas: [{ name: az.readReplicas[0].name, state: 'Ready' }],
  });
  // Static parameters (max_connections, shared_preload_libraries) wait for the 02:00 window.
  expect(o.status.pendingRestart).toBe(true);
  expect(o.status.parametersPendingRestart).toEqual(expect.arrayContaining(['max_connections']));
  expect(o.status.azure.restartDueAt).toMatch(/T02:00:00/);
  expect(new Date(o.status.azure.restartDueAt).getUTCDay()).toBe(WINDOW_DAY);

  const since = new Date().toISOString();
  await new Promise((r) => setTimeout(r, 60_000));
  const log = await h.control.requests(since);
  const mine = log.entries.filter((e) => e.principal === principal);
  // ~30 syncs looked, but the 10 s read cache bounds the reads: about 6 looks at 6 resources, whatever the syncs.
  // (The database part's GET of the databases child resource is its own, one per reconcile: not counted.)
  const reads = mine.filter((e) => e.kind === 'read' && !/\/databases\//.test(e.path)).length;
  expect(reads).toBeGreaterThanOrEqual(6);
  expect(reads).toBeLessThanOrEqual(7 * 7);
  expect(mine.filter((e) => e.kind === 'write' || e.kind === 'delete')).toEqual([]);
}, 300_000);
