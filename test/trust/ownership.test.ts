// Attack (issue 16, point 1): team B names team A's Azure server. B's TenantDatabase (namespace b)
// points at the server A's TenantDatabase (namespace a) created; B adds a BackupPolicy (retention 7,
// on-demand backups every minute and one on request) and an AlertRuleSet whose diagnostic setting
// ships the server's logs to B's workspace. Nothing may be written to A's server or its children, B's
// objects end Stalled with a reason a person can act on and a Warning Event, and B's TenantDatabase
// publishes nothing Azure reports about A's server (its id, FQDN, state).
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { registerAlertRuleSetController } from '../../controllers/alertruleset/index.js';
import { registerBackupPolicyController } from '../../controllers/backuppolicy/index.js';
import { defaultParts, registerTenantDatabaseController } from '../../controllers/tenantdatabase/index.js';
import type { Manager } from '../../src/runtime/manager.js';
import { createTestNamespace } from '../../dev/env/testenv.js';
import { eventually, installCrds, run } from '../runtime/helpers.js';
import { azureTenantDatabase, credentialsSecret, serverPath, startAzureHarness, SUB, type AzureHarness } from '../tenantdatabase/azure-harness.js';
import { applyJson, armWritesSince, cond, eventsOf, getObj, startManager, type Obj } from './harness.js';

const SERVER = 'team-a-pg';
const B_WORKSPACE = `/subscriptions/${SUB}/resourceGroups/team-b-rg/providers/Microsoft.OperationalInsights/workspaces/team-b-logs`;

let h: AzureHarness;
let nsA: string;
let nsB: string;
let mgr: Manager;

const td = (ns: string, name: string) => getObj('tenantdatabases.tenantdb.io', ns, name);

beforeAll(async () => {
  await installCrds();
  h = await startAzureHarness('trust-own');
  nsA = await createTestNamespace('team-a');
  nsB = await createTestNamespace('team-b');
  await applyJson(credentialsSecret(nsA, 'azure-creds'));
  await applyJson(credentialsSecret(nsB, 'azure-creds'));
  mgr = await startManager([nsA, nsB], h.settings, (m, settings) => {
    registerTenantDatabaseController(m, settings, { ...defaultParts(), inside: [] });
    registerBackupPolicyController(m, settings);
    registerAlertRuleSetController(m, settings);
  });
}, 180_000);

afterAll(async () => {
  await mgr?.stop();
  for (const ns of [nsA, nsB]) if (ns) await run(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  await h?.stop();
});

test("team B naming team A's server: zero ARM writes to it, B's objects Stalled with a Warning Event, nothing of A's server in B's status", async () => {
  await applyJson(azureTenantDatabase(nsA, 'orders', SERVER));
  await eventually('A holds its server', async () => cond(await td(nsA, 'orders'), 'ServerReady')?.status === 'True', 120_000, 300);
  const aServerId = (await td(nsA, 'orders'))!.status!.azureResourceId as string;
  expect(aServerId.toLowerCase()).toBe(serverPath(SERVER).toLowerCase());

  const since = new Date().toISOString();
  await applyJson(azureTenantDatabase(nsB, 'orders', SERVER));
  await applyJson({
    apiVersion: 'tenantdb.io/v1alpha1',
    kind: 'BackupPolicy',
    metadata: { name: 'steal-backups', namespace: nsB, annotations: { 'tenantdb.io/run-backup': 'now' } },
    spec: { databaseRef: { name: 'orders' }, retentionDays: 7, geoRedundant: false, onDemand: { schedule: '* * * * *', keep: 1 } },
  });
  await applyJson({
    apiVersion: 'tenantdb.io/v1alpha1',
    kind: 'AlertRuleSet',
    metadata: { name: 'steal-logs', namespace: nsB },
    spec: {
      databaseRef: { name: 'orders' },
      defaults: false,
      rules: [{ name: 'cpu', metric: 'cpu_percent', operator: 'GreaterThan', threshold: 80, aggregation: 'Average', windowSize: 'PT5M', severity: 'Warning' }],
      diagnostics: { workspaceResourceId: B_WORKSPACE, logCategories: ['PostgreSQLLogs'], allMetrics: true },
    },
  });

  const settled = async (resource: string, name: string) =>
    eventually(`${resource} ${name} reconciled`, async () => {
      const o = await getObj(resource, nsB, name);
      return o?.status?.observedGeneration === o?.metadata.generation && cond(o, 'Ready') ? o : undefined;
    }, 60_000, 300);
  /** The Stalled condition once it is True (or, after the wait, whatever the object reports). */
  const stalledOf = async (resource: string, name: string) =>
    eventually(`${resource} ${name} Stalled`, async () => (cond(await getObj(resource, nsB, name), 'Stalled')?.status === 'True' ? cond(await getObj(resource, nsB, name), 'Stalled') : undefined), 30_000, 300).catch(
      async () => cond(await getObj(resource, nsB, name), 'Ready'),
    );

  await eventually("B's TenantDatabase Stalled", async () => cond(await td(nsB, 'orders'), 'Stalled')?.status === 'True', 60_000, 300);
  expect(cond(await td(nsB, 'orders'), 'Stalled')).toMatchObject({ reason: 'OwnedByAnother' });
  // B's status publishes nothing Azure reports about A's server.
  const bTd = (await td(nsB, 'orders')) as Obj;
  expect({ azureResourceId: bTd.status?.azureResourceId, serverFQDN: bTd.status?.serverFQDN, serverState: bTd.status?.serverState }).toEqual({
    azureResourceId: undefined,
    serverFQDN: undefined,
    serverState: undefined,
  });

  await settled('backuppolicies.tenantdb.io', 'steal-backups');
  await settled('alertrulesets.tenantdb.io', 'steal-logs');
  // Long enough for passes of every object, resyncs and the on-demand schedule's next minute.
  await new Promise((r) => setTimeout(r, 65_000));
  const writes = await armWritesSince(h, since);
  const toA = writes.filter((w) => w.toLowerCase().includes(`/flexibleservers/${SERVER}`) || /metricalerts|actiongroups|diagnosticsettings/i.test(w));
  expect(toA).toEqual([]);
  expect(writes).toEqual([]);

  for (const [resource, kind, name] of [['backuppolicies.tenantdb.io', 'BackupPolicy', 'steal-backups'], ['alertrulesets.tenantdb.io', 'AlertRuleSet', 'steal-logs']] as const) {
    const c = await stalledOf(resource, name);
    expect(c).toMatchObject({ type: 'Stalled', status: 'True', reason: 'ServerNotHeld' });
    // Actionable: it names the TenantDatabase, the server's owner and why.
    expect(c!.message).toContain(`${nsA}/orders`);
    expect(c!.message).toMatch(/does not hold its server/);
    await eventually(`Warning Event on ${kind} ${name}`, async () => (await eventsOf(nsB, kind, name)).some((e) => e.type === 'Warning' && e.reason === 'ServerNotHeld'), 30_000);
  }

  // A's server is as A left it: no diagnostic setting of B's, the retention A's.
  const ds = await h.raw('GET', `${serverPath(SERVER)}/providers/Microsoft.Insights/diagnosticSettings?api-version=2021-05-01-preview`);
  expect(ds.body?.value ?? []).toEqual([]);
  const a = await h.raw('GET', `${serverPath(SERVER)}?api-version=2025-08-01`);
  expect(a.body.tags['tenantdb-owner']).toBe(`${nsA}/orders`);
}, 300_000);
