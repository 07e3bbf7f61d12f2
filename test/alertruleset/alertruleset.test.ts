// The AlertRuleSet controller against the real apiserver and the ARM emulator: the example's action
// group (e-mail + webhook from a Secret), metric alerts and diagnostic setting appear in Azure with the
// owner tag; a converged set costs 0 ARM writes; a changed rule is one PUT, a removed rule one DELETE,
// and an alert someone else made in the same resource group is never touched; `defaults: true` adds
// the curated set with spec rules replacing built-ins; an external TenantDatabase is Stalled; deleting
// the set deletes what it made; the webhook URI shows up nowhere but in Azure.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { registerAlertRuleSetController } from '../../controllers/alertruleset/index.js';
import { OWNER_TAG } from '../../controllers/alertruleset/desired.js';
import { EmulatorControl } from '../../dev/arm-emulator/control-client.js';
import { EXAMPLES_DIR, eventually, getJson, run } from '../runtime/helpers.js';
import { kubectl } from '../../dev/env/testenv.js';
import { serverAndDatabase, startControllerHarness, type ControllerHarness } from './fixtures.js';

const RG = 'alerts-rg';
const SERVER = 'alerts-pg-1';
const WEBHOOK = 'https://events.pagerduty.example/integration/s3cr3t-routing-key-4711/enqueue';

interface Cond {
  type: string;
  status: string;
  reason: string;
  message: string;
}
interface Ars {
  metadata: { generation: number; finalizers?: string[] };
  status?: { observedGeneration?: number; conditions?: Cond[]; ruleCount?: number; rules?: Array<{ name: string; resourceId?: string }>; diagnosticSettingId?: string };
}

let h: ControllerHarness;
let control: EmulatorControl;
let serverId: string;

const ready = (o: Ars | undefined) => o?.status?.observedGeneration === o?.metadata.generation && o?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
const getSet = (name: string) => getJson<Ars>(['get', 'alertrulesets.tenantdb.io', name, '-n', h.ns]);

function example(): Record<string, any> {
  const doc = YAML.parse(fs.readFileSync(path.join(EXAMPLES_DIR, 'alertruleset.yaml'), 'utf8'));
  doc.spec.databaseRef.name = 'alerts-db';
  return doc;
}

async function apply(doc: unknown): Promise<void> {
  await run(['apply', '-n', h.ns, '-f', '-'], JSON.stringify(doc));
}

/** ARM writes (PUT/PATCH/DELETE) since `since`, by method and path. */
async function writesSince(since: string): Promise<string[]> {
  const snap = await control.requests(since);
  return snap.entries.filter((e) => e.kind === 'write' || e.kind === 'delete').map((e) => `${e.method} ${e.path}`);
}

async function settle(name: string, gen?: number): Promise<Ars> {
  return eventually(`${name} Ready`, async () => {
    const o = await getSet(name);
    return ready(o) && (gen === undefined || o!.metadata.generation >= gen) ? o : undefined;
  }, 60_000);
}

/** Forces a reconcile (an annotation change) and waits until the controller has looked again. */
async function nudge(name: string, value: string): Promise<void> {
  await run(['annotate', '--overwrite', 'alertrulesets.tenantdb.io', name, '-n', h.ns, `test/nudge=${value}`]);
  await new Promise((r) => setTimeout(r, 1_500));
}

beforeAll(async () => {
  h = await startControllerHarness('ars');
  control = new EmulatorControl(h.arm.controlEndpoint, h.arm.emu.caFile);
  ({ serverId } = await serverAndDatabase(h, { rg: RG, server: SERVER, td: 'alerts-db' }));
  await apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'alert-webhooks' }, stringData: { pagerduty: WEBHOOK } });
  // An alert in the same resource group that the operator did not make.
  await h.clients.monitor.metricAlerts.createOrUpdate(RG, 'hand-made', {
    location: 'global',
    severity: 3,
    enabled: true,
    scopes: [serverId],
    evaluationFrequency: 'PT5M',
    windowSize: 'PT5M',
    criteria: {
      odataType: 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria',
      allOf: [{ criterionType: 'StaticThresholdCriterion', name: 'c', metricName: 'active_connections', operator: 'GreaterThan', threshold: 100, timeAggregation: 'Average' }],
    },
  } as never);
  await h.startManager(registerAlertRuleSetController);
}, 180_000);

afterAll(async () => {
  await kubectl(['delete', 'alertrulesets.tenantdb.io', '--all', '-n', h.ns, '--wait=true', '--timeout=30s']);
  await h?.stop();
});

test('the example becomes Ready with its action group, alerts and diagnostic setting in Azure, then costs 0 writes', async () => {
  const t0 = new Date().toISOString();
  await apply(example());
  const set = await settle('compliance-db-alerts');
  expect(set.status?.ruleCount).toBe(7);
  expect(set.status?.diagnosticSettingId).toMatch(/diagnosticSettings\/tenantdb-compliance-db-alerts$/);

  const ag = await h.clients.monitor.actionGroups.get(RG, 'llama-mapper-alerts');
  expect(ag.tags?.[OWNER_TAG]).toBe(`AlertRuleSet/${h.ns}/compliance-db-alerts`);
  expect(ag.emailReceivers?.map((r) => r.emailAddress)).toEqual(['dba-oncall@example.com']);
  expect(ag.webhookReceivers?.[0]?.serviceUri).toBe(WEBHOOK);

  const cpu = await h.clients.monitor.metricAlerts.get(RG, `${SERVER}-high-cpu`);
  expect(cpu.scopes).toEqual([serverId]);
  expect(cpu.severity).toBe(2);
  expect(cpu.actions?.[0]?.actionGroupId?.toLowerCase()).toBe(ag.id!.toLowerCase());
  const storage = await h.clients.monitor.metricAlerts.get(RG, `${SERVER}-storage-almost-full`);
  expect(storage.severity).toBe(0);
  const diag = await h.clients.monitor.diagnosticSettings.get(serverId.slice(1), 'tenantdb-compliance-db-alerts');
  expect(diag.logs?.map((l) => l.category).sort()).toEqual(['PostgreSQLFlexQueryStoreRuntime', 'PostgreSQLFlexQueryStoreWaitStats', 'PostgreSQLFlexSessions', 'PostgreSQLLogs']);
  expect(diag.metrics).toEqual([expect.objectContaining({ category: 'AllMetrics', enabled: true })]);
  // 1 action group + 7 alerts + 1 diagnostic setting.
  expect(await writesSince(t0)).toHaveLength(9);

  const t1 = new Date().toISOString();
  await nudge('compliance-db-alerts', '1');
  await nudge('compliance-db-alerts', '2');
  expect(await writesSince(t1)).toEqual([]);
  // It did look (3 reads per pass), it just had nothing to write.
  expect((await control.requests(t1)).counts.read).toBeGreaterThanOrEqual(6);
}, 120_000);

test('a changed rule is one PUT; a removed rule one DELETE; a hand-made alert is never touched', async () => {
  const doc = example();
  doc.spec.rules.find((r: { name: string }) => r.name === 'high-cpu').threshold = 90;
  const t0 = new Date().toISOString();
  await apply(doc);
  await settle('compliance-db-alerts', 2);
  await eventually('threshold 90', async () => ((await h.clients.monitor.metricAlerts.get(RG, `${SERVER}-high-cpu`)).criteria as any).allOf[0].threshold === 90);
  expect(await writesSince(t0)).toEqual([expect.stringMatching(/^PUT .*metricAlerts\/alerts-pg-1-high-cpu$/)]);

  doc.spec.rules = doc.spec.rules.filter((r: { name: string }) => r.name !== 'deadlocks');
  const t1 = new Date().toISOString();
  await apply(doc);
  const set = await settle('compliance-db-alerts', 3);
  expect(set.status?.ruleCount).toBe(6);
  expect(await writesSince(t1)).toEqual([expect.stringMatching(/^DELETE .*metricAlerts\/alerts-pg-1-deadlocks$/)]);
  await expect(h.clients.monitor.metricAlerts.get(RG, 'hand-made')).resolves.toMatchObject({ name: 'hand-made' });
}, 120_000);

test('defaults: the curated set, a spec rule of the same name replacing the built-in', async () => {
  await apply({
    apiVersion: 'tenantdb.io/v1alpha1',
    kind: 'AlertRuleSet',
    metadata: { name: 'curated' },
    spec: {
      databaseRef: { name: 'alerts-db' },
      defaults: true,
      rules: [{ name: 'high-cpu', metric: 'cpu_percent', operator: 'GreaterThan', threshold: 95, aggregation: 'Average', severity: 'Error' }],
    },
  });
  // The alert names are server-name + rule, so a second set on the same server with the same rule
  // names collides with the first: the controller refuses to take over the other set's alerts.
  const stalled = await eventually('curated Stalled on the other set\'s alerts', async () => {
    const o = await getSet('curated');
    const c = o?.status?.conditions?.find((x) => x.type === 'Stalled');
    return c?.status === 'True' ? c : undefined;
  }, 60_000);
  expect(stalled.message).toMatch(/already exists .* not made by this AlertRuleSet/);
  await kubectl(['delete', 'alertrulesets.tenantdb.io', 'compliance-db-alerts', '-n', h.ns, '--wait=true', '--timeout=60s']);
  // Deletion took the first set's alerts, action group and diagnostic setting; the hand-made alert stays.
  await expect(h.clients.monitor.actionGroups.get(RG, 'llama-mapper-alerts')).rejects.toMatchObject({ statusCode: 404 });
  await expect(h.clients.monitor.diagnosticSettings.get(serverId.slice(1), 'tenantdb-compliance-db-alerts')).rejects.toMatchObject({ statusCode: 404 });
  await expect(h.clients.monitor.metricAlerts.get(RG, 'hand-made')).resolves.toMatchObject({ name: 'hand-made' });

  await nudge('curated', '1');
  const set = await settle('curated');
  // 7 built-ins minus replica lag (no replicas) = 6, high-cpu being the spec's.
  expect(set.status?.rules?.map((r) => r.name).sort()).toEqual(['connection-failures', 'deadlocks', 'high-cpu', 'high-memory', 'server-down', 'storage-almost-full']);
  const cpu = await h.clients.monitor.metricAlerts.get(RG, `${SERVER}-high-cpu`);
  expect(cpu.severity).toBe(1);
  expect((cpu.criteria as any).allOf[0].threshold).toBe(95);
  const names: string[] = [];
  for await (const a of h.clients.monitor.metricAlerts.listByResourceGroup(RG)) names.push(a.name!);
  expect(names.sort()).toEqual([...set.status!.rules!.map((r) => `${SERVER}-${r.name}`), 'hand-made'].sort());
}, 180_000);

test('a TenantDatabase on an external server: Stalled, saying why', async () => {
  await apply({
    apiVersion: 'tenantdb.io/v1alpha1',
    kind: 'TenantDatabase',
    metadata: { name: 'ext-db' },
    spec: { server: { external: { host: 'pg.example.com', adminSecretRef: { name: 'pg-admin' } } }, database: { name: 'ext' }, roles: { owner: 'o', application: 'a' } },
  });
  await apply({ apiVersion: 'tenantdb.io/v1alpha1', kind: 'AlertRuleSet', metadata: { name: 'ext-alerts' }, spec: { databaseRef: { name: 'ext-db' } } });
  const c = await eventually('ext-alerts Stalled', async () => (await getSet('ext-alerts'))?.status?.conditions?.find((x) => x.type === 'Stalled' && x.status === 'True'));
  expect(c).toMatchObject({ reason: 'ExternalServer' });
  expect(c.message).toMatch(/external server.*only to servers on Azure/);
}, 60_000);

test('the webhook URI appears in no status, Event or log line', async () => {
  const sets = await run(['get', 'alertrulesets.tenantdb.io', '-n', h.ns, '-o', 'json']);
  const events = await run(['get', 'events', '-n', h.ns, '-o', 'json']);
  expect(h.logs.length).toBeGreaterThan(5);
  for (const text of [sets, events, h.logs.join('')]) {
    expect(text).not.toContain('s3cr3t-routing-key-4711');
    expect(text).not.toContain('pagerduty.example');
  }
});
