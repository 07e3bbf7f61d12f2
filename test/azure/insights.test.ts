// Microsoft.Insights through the real MonitorClient built by the operator's factory, against the
// emulator: metric alerts, action groups and diagnostic settings on a flexible server the real
// PostgreSQL client created (a long-running operation). Every response body the SDK received is
// validated against the swagger of the pinned api-version, and the spec's example request bodies are
// accepted.
import fs from 'node:fs';
import path from 'node:path';
import type { MetricAlertResource } from '@azure/arm-monitor';
import { FLEXIBLE_SERVER_METRICS } from '../../src/api/metrics.js';
import { classifyArmError } from '../../src/azure/errors.js';
import { extensionResourceUri } from '../../src/azure/resource-type.js';
import type { AzureClients } from '../../src/azure/clients.js';
import { INSIGHTS_API_VERSIONS } from '../../dev/arm-emulator/insights/index.js';
import { recordResponses, type CapturedResponse } from '../../dev/arm-emulator/response-recorder.js';
import {
  SUBSCRIPTION,
  burstableServer,
  clientsFor,
  createResourceGroup,
  rawArm,
  responseSchemaProblems,
  startPrivateArm,
  type PrivateArm,
} from './fixtures.js';

const RG = 'insights-rg';
const SERVER = 'insights-pg-1';
const serverId = `/subscriptions/${SUBSCRIPTION}/resourceGroups/${RG}/providers/Microsoft.DBforPostgreSQL/flexibleServers/${SERVER}`;
const resourceUri = extensionResourceUri(serverId);

let arm: PrivateArm & { emu: NonNullable<PrivateArm['emu']> };
let clients: AzureClients;
let captured: CapturedResponse[];

beforeAll(async () => {
  arm = await startPrivateArm('insights');
  clients = clientsFor(arm);
  captured = recordResponses(clients.monitor.pipeline, clients.postgres.pipeline);
  await createResourceGroup(clients, RG);
  await clients.postgres.servers.beginCreateOrUpdateAndWait(RG, SERVER, burstableServer('Insights-test-Pa55'), { updateIntervalInMs: 100 });
}, 120_000);

afterAll(async () => {
  await arm?.stop();
});

function cpuAlert(overrides: Partial<MetricAlertResource> = {}): MetricAlertResource {
  return {
    location: 'global',
    severity: 2,
    enabled: true,
    scopes: [serverId],
    evaluationFrequency: 'PT1M',
    windowSize: 'PT5M',
    criteria: {
      odataType: 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria',
      allOf: [{ criterionType: 'StaticThresholdCriterion', name: 'cpu', metricName: 'cpu_percent', operator: 'GreaterThan', threshold: 80, timeAggregation: 'Average' }],
    },
    ...overrides,
  } as MetricAlertResource;
}

describe('Microsoft.Insights through MonitorClient', () => {
  test('action groups: create, get, update tags, list, delete', async () => {
    const created = await clients.monitor.actionGroups.createOrUpdate(RG, 'oncall', {
      location: 'Global',
      groupShortName: 'oncall',
      enabled: true,
      emailReceivers: [{ name: 'dba', emailAddress: 'dba@example.com', useCommonAlertSchema: true }],
      webhookReceivers: [{ name: 'pager', serviceUri: 'https://pager.example.com/hook' }],
    });
    expect(created.id).toBe(`/subscriptions/${SUBSCRIPTION}/resourceGroups/${RG}/providers/Microsoft.Insights/actionGroups/oncall`);
    expect(created.emailReceivers?.[0]?.status).toBe('Enabled');

    const patched = await clients.monitor.actionGroups.update(RG, 'oncall', { tags: { team: 'dba' }, enabled: false });
    expect(patched.tags).toEqual({ team: 'dba' });
    expect(patched.enabled).toBe(false);
    expect((await clients.monitor.actionGroups.get(RG, 'oncall')).webhookReceivers?.[0]?.serviceUri).toBe('https://pager.example.com/hook');

    const names: string[] = [];
    for await (const g of clients.monitor.actionGroups.listByResourceGroup(RG)) names.push(g.name!);
    expect(names).toContain('oncall');
    const inSubscription: string[] = [];
    for await (const g of clients.monitor.actionGroups.listBySubscriptionId()) inSubscription.push(g.name!);
    expect(inSubscription).toContain('oncall');

    await clients.monitor.actionGroups.delete(RG, 'oncall');
    const gone = await clients.monitor.actionGroups.get(RG, 'oncall').catch((e: unknown) => e);
    expect(classifyArmError(gone)).toMatchObject({ statusCode: 404, retryable: false, kind: 'not-found' });
  });

  test('metric alerts on the server: create, get, patch, list, delete', async () => {
    const ag = await clients.monitor.actionGroups.createOrUpdate(RG, 'alerts-ag', { location: 'Global', groupShortName: 'alerts', enabled: true });
    const alert = await clients.monitor.metricAlerts.createOrUpdate(RG, 'cpu-high', cpuAlert({ actions: [{ actionGroupId: ag.id! }] }));
    expect(alert.scopes).toEqual([serverId]);
    expect(alert.isMigrated).toBe(false);
    expect(alert.lastUpdatedTime).toBeInstanceOf(Date);

    const patched = await clients.monitor.metricAlerts.update(RG, 'cpu-high', { severity: 1, tags: { tier: 'gold' } });
    expect(patched.severity).toBe(1);
    expect(patched.evaluationFrequency).toBe('PT1M');

    const got = await clients.monitor.metricAlerts.get(RG, 'cpu-high');
    expect(got.criteria.odataType).toBe('Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria');

    const names: string[] = [];
    for await (const a of clients.monitor.metricAlerts.listByResourceGroup(RG)) names.push(a.name!);
    expect(names).toEqual(['cpu-high']);
    const inSubscription: string[] = [];
    for await (const a of clients.monitor.metricAlerts.listBySubscription()) inSubscription.push(a.name!);
    expect(inSubscription).toContain('cpu-high');

    await clients.monitor.metricAlerts.delete(RG, 'cpu-high');
    await expect(clients.monitor.metricAlerts.get(RG, 'cpu-high')).rejects.toMatchObject({ statusCode: 404 });
  });

  test('metric alerts are refused for unknown metrics (400) and missing servers (404)', async () => {
    const badMetric = await clients.monitor.metricAlerts
      .createOrUpdate(RG, 'bad-metric', cpuAlert({ criteria: { odataType: 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria', allOf: [{ criterionType: 'StaticThresholdCriterion', name: 'x', metricName: 'Percentage CPU', operator: 'GreaterThan', threshold: 1, timeAggregation: 'Average' }] } as MetricAlertResource['criteria'] }))
      .catch((e: unknown) => e);
    expect(classifyArmError(badMetric)).toMatchObject({ statusCode: 400, retryable: false, kind: 'bad-request' });
    expect(classifyArmError(badMetric).message).toMatch(/Percentage CPU/);
    expect(FLEXIBLE_SERVER_METRICS).not.toContain('Percentage CPU');

    const missing = await clients.monitor.metricAlerts.createOrUpdate(RG, 'no-server', cpuAlert({ scopes: [serverId.replace(SERVER, 'does-not-exist')] })).catch((e: unknown) => e);
    expect(classifyArmError(missing)).toMatchObject({ statusCode: 404, retryable: false });

    const window = await clients.monitor.metricAlerts.createOrUpdate(RG, 'bad-window', cpuAlert({ evaluationFrequency: 'PT15M', windowSize: 'PT5M' })).catch((e: unknown) => e);
    expect(classifyArmError(window)).toMatchObject({ statusCode: 400, retryable: false });
  });

  test('metric alerts with multi-resource, dynamic-threshold criteria on a dimension', async () => {
    const alert = await clients.monitor.metricAlerts.createOrUpdate(
      RG,
      'deadlocks',
      cpuAlert({
        targetResourceType: 'Microsoft.DBforPostgreSQL/flexibleServers',
        targetResourceRegion: 'eastus',
        criteria: {
          odataType: 'Microsoft.Azure.Monitor.MultipleResourceMultipleMetricCriteria',
          allOf: [
            {
              criterionType: 'DynamicThresholdCriterion',
              name: 'deadlocks',
              metricName: 'deadlocks',
              metricNamespace: 'Microsoft.DBforPostgreSQL/flexibleServers',
              timeAggregation: 'Total',
              dimensions: [{ name: 'DatabaseName', operator: 'Include', values: ['*'] }],
              operator: 'GreaterThan',
              alertSensitivity: 'Medium',
              failingPeriods: { numberOfEvaluationPeriods: 4, minFailingPeriodsToAlert: 2 },
            },
          ],
        } as MetricAlertResource['criteria'],
      }),
    );
    expect(alert.criteria.odataType).toBe('Microsoft.Azure.Monitor.MultipleResourceMultipleMetricCriteria');

    // cpu_percent has no dimensions: asking for one is refused.
    const noDimension = await clients.monitor.metricAlerts
      .createOrUpdate(
        RG,
        'cpu-by-db',
        cpuAlert({
          criteria: {
            odataType: 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria',
            allOf: [{ criterionType: 'StaticThresholdCriterion', name: 'c', metricName: 'cpu_percent', operator: 'GreaterThan', threshold: 1, timeAggregation: 'Average', dimensions: [{ name: 'DatabaseName', operator: 'Include', values: ['*'] }] }],
          } as MetricAlertResource['criteria'],
        }),
      )
      .catch((e: unknown) => e);
    expect(classifyArmError(noDimension)).toMatchObject({ statusCode: 400 });
    await clients.monitor.metricAlerts.delete(RG, 'deadlocks');
  });

  test('diagnostic settings on the server: categories, create, get, list, delete', async () => {
    const categories: string[] = [];
    for await (const c of clients.monitor.diagnosticSettingsCategory.list(resourceUri)) categories.push(`${c.categoryType}:${c.name}`);
    expect(categories).toContain('Logs:PostgreSQLLogs');
    expect(categories).toContain('Metrics:AllMetrics');

    const workspaceId = `/subscriptions/${SUBSCRIPTION}/resourceGroups/${RG}/providers/Microsoft.OperationalInsights/workspaces/tenantdb-logs`;
    const setting = await clients.monitor.diagnosticSettings.createOrUpdate(resourceUri, 'to-law', {
      workspaceId,
      logs: [{ category: 'PostgreSQLLogs', enabled: true }, { category: 'PostgreSQLFlexSessions', enabled: true }],
      metrics: [{ category: 'AllMetrics', enabled: true }],
    });
    expect(setting.id).toBe(`${serverId}/providers/Microsoft.Insights/diagnosticSettings/to-law`);
    expect((await clients.monitor.diagnosticSettings.get(resourceUri, 'to-law')).workspaceId).toBe(workspaceId);

    const names: string[] = [];
    for await (const s of clients.monitor.diagnosticSettings.list(resourceUri)) names.push(s.name!);
    expect(names).toEqual(['to-law']);

    const badCategory = await clients.monitor.diagnosticSettings
      .createOrUpdate(resourceUri, 'bad', { workspaceId, logs: [{ category: 'MySqlSlowLogs', enabled: true }] })
      .catch((e: unknown) => e);
    expect(classifyArmError(badCategory)).toMatchObject({ statusCode: 400, retryable: false });

    await clients.monitor.diagnosticSettings.delete(resourceUri, 'to-law');
    await expect(clients.monitor.diagnosticSettings.get(resourceUri, 'to-law')).rejects.toMatchObject({ statusCode: 404 });
  });
});

// The swagger examples name other resource types (a VM, a Logic App); only their scope-specific parts are
// retargeted to the emulated flexible server, everything else is sent byte-for-byte as published.
describe('swagger examples', () => {
  const examplesDir = (rel: string) => path.join(arm.emu.ctx.specs.root, 'specification/monitor/resource-manager/Microsoft.Insights/Insights', rel);
  const readExample = (rel: string) => JSON.parse(fs.readFileSync(examplesDir(rel), 'utf8')) as { parameters: Record<string, unknown> };

  test('createOrUpdateActionGroup example is accepted', async () => {
    if (!arm.emu.ctx.specs.available) throw new Error(`Azure REST API specs not found at ${arm.emu.ctx.specs.root}: cannot check the examples`);
    const ex = readExample('ActionGroupsApi/examples/2024-10-01-preview/createOrUpdateActionGroup.json');
    const res = await rawArm(clients, 'PUT', `/subscriptions/${SUBSCRIPTION}/resourceGroups/${RG}/providers/Microsoft.Insights/actionGroups/example-ag`, INSIGHTS_API_VERSIONS.actionGroups, ex.parameters.actionGroup);
    expect([200, 201]).toContain(res.status);
  });

  test('createOrUpdateMetricAlertSingleResource example is accepted (scope and metric retargeted)', async () => {
    if (!arm.emu.ctx.specs.available) throw new Error(`Azure REST API specs not found at ${arm.emu.ctx.specs.root}: cannot check the examples`);
    const ex = readExample('stable/2026-01-01/examples/createOrUpdateMetricAlertSingleResource.json');
    const body = structuredClone(ex.parameters.parameters) as { properties: { scopes: string[]; criteria: { allOf: { metricName: string }[] } } };
    body.properties.scopes = [serverId];
    for (const c of body.properties.criteria.allOf) c.metricName = 'cpu_percent';
    const res = await rawArm(clients, 'PUT', `/subscriptions/${SUBSCRIPTION}/resourceGroups/${RG}/providers/Microsoft.Insights/metricAlerts/example-alert`, INSIGHTS_API_VERSIONS.metricAlerts, body);
    expect([200, 201]).toContain(res.status);
  });

  test('createOrUpdateDiagnosticSetting example is accepted (categories retargeted)', async () => {
    if (!arm.emu.ctx.specs.available) throw new Error(`Azure REST API specs not found at ${arm.emu.ctx.specs.root}: cannot check the examples`);
    const ex = readExample('DiagnosticsSettings/examples/2021-05-01-preview/createOrUpdateDiagnosticSetting.json');
    const body = structuredClone(ex.parameters.parameters) as { properties: { metrics: { category: string }[] } };
    // WorkflowMetrics is a Logic App category; a flexible server exposes AllMetrics.
    for (const m of body.properties.metrics) m.category = 'AllMetrics';
    const res = await rawArm(clients, 'PUT', `${serverId}/providers/Microsoft.Insights/diagnosticSettings/example-setting`, INSIGHTS_API_VERSIONS.diagnosticSettings, body);
    expect(res.status).toBe(200);
  });
});

describe('response bodies', () => {
  test('every Microsoft.Insights response validates against the swagger of its api-version', () => {
    const specs = arm.emu.ctx.specs;
    if (!specs.available) {
      // Say so loudly rather than pass: without the specs nothing was checked.
      throw new Error(`Azure REST API specs not found at ${specs.root} (set AZURE_REST_API_SPECS): response bodies were NOT validated`);
    }
    const insights = captured.filter((c) => /\/providers\/Microsoft\.Insights\//i.test(c.path));
    expect(insights.length).toBeGreaterThan(20);
    // Every operation group was seen, including the extension resources under the server's id.
    for (const kind of ['metricAlerts', 'actionGroups', 'diagnosticSettings', 'diagnosticSettingsCategories']) {
      expect(insights.some((c) => new RegExp(`/Microsoft\\.Insights/${kind}(/|$)`, 'i').test(c.path))).toBe(true);
    }
    expect(responseSchemaProblems(specs, insights)).toEqual([]);
    // Control: the same check does reject a body that breaks the schema.
    const alertGet = insights.find((c) => c.method === 'GET' && c.status === 200 && /metricAlerts\/cpu-high$/i.test(c.path))!;
    const broken = structuredClone(alertGet.body) as { properties: Record<string, unknown> };
    broken.properties.severity = 'high';
    broken.properties.scopes = 'not-an-array';
    expect(responseSchemaProblems(specs, [{ ...alertGet, body: broken }])).toHaveLength(2);
  });
});
