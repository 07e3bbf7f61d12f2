// Pure logic of the AlertRuleSet controller: the curated defaults and how spec rules replace them, the
// ARM documents built from a rule, and the "does ARM already hold this" comparison that makes a
// converged set cost no write.
import { DEFAULT_RULES, effectiveRules } from '../../controllers/alertruleset/defaults.js';
import { OWNER_TAG, desiredAlert, desiredActionGroups, desiredDiagnosticSetting, holds } from '../../controllers/alertruleset/desired.js';
import { alertRuleSetSpecSchema, validateAlertRuleSet } from '../../src/api/alertruleset.js';

const server = {
  subscriptionId: '5f1c3e2a-8d4b-4c6e-9a7f-0b1d2c3e4f50',
  resourceGroup: 'rg',
  serverName: 'pg-1',
  serverId: '/subscriptions/5f1c3e2a-8d4b-4c6e-9a7f-0b1d2c3e4f50/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-1',
};

test('every built-in rule is valid under the AlertRuleSet schema', () => {
  const r = validateAlertRuleSet({
    apiVersion: 'tenantdb.io/v1alpha1',
    kind: 'AlertRuleSet',
    metadata: { name: 'x' },
    spec: { databaseRef: { name: 'db' }, defaults: false, rules: DEFAULT_RULES.map(({ onlyWithReplicas: _o, ...r }) => r) },
  });
  expect(r.ok).toBe(true);
});

test('defaults: the curated set; replica lag only with replicas; a spec rule of the same name replaces the built-in', () => {
  const spec = alertRuleSetSpecSchema.parse({ databaseRef: { name: 'db' }, actionGroups: [{ name: 'oncall', shortName: 'oncall' }] });
  expect(effectiveRules(spec, false).map((r) => r.name)).toEqual(['high-cpu', 'high-memory', 'storage-almost-full', 'connection-failures', 'deadlocks', 'server-down']);
  expect(effectiveRules(spec, true).map((r) => r.name)).toContain('replica-lag');
  expect(effectiveRules(spec, false).every((r) => JSON.stringify(r.actionGroups) === '["oncall"]')).toBe(true);
  const own = alertRuleSetSpecSchema.parse({
    databaseRef: { name: 'db' },
    rules: [{ name: 'high-cpu', metric: 'cpu_percent', operator: 'GreaterThan', threshold: 95, aggregation: 'Average' }],
  });
  const rules = effectiveRules(own, false);
  expect(rules.filter((r) => r.name === 'high-cpu')).toEqual([expect.objectContaining({ threshold: 95 })]);
  expect(effectiveRules({ ...own, defaults: false }, true).map((r) => r.name)).toEqual(['high-cpu']);
  const storage = effectiveRules(spec, false).find((r) => r.name === 'storage-almost-full')!;
  expect([storage.threshold, storage.severity]).toEqual([90, 'Critical']);
});

test('a converged resource compares equal despite what ARM adds; any change of ours does not', () => {
  const spec = alertRuleSetSpecSchema.parse({ databaseRef: { name: 'db' }, actionGroups: [{ name: 'oncall', shortName: 'oncall' }] });
  const rule = effectiveRules(spec, false)[0]!;
  const d = desiredAlert(server, rule, 'AlertRuleSet/ns/x');
  expect(d.name).toBe('pg-1-high-cpu');
  expect(d.body.tags).toEqual({ [OWNER_TAG]: 'AlertRuleSet/ns/x' });
  // As ARM returns it: ids in other case, location capitalised, extra read-only fields, extra tags.
  const actual = JSON.parse(JSON.stringify(d.body));
  actual.id = '/subscriptions/x/.../pg-1-high-cpu';
  actual.location = 'Global';
  actual.lastUpdatedTime = new Date().toISOString();
  actual.isMigrated = false;
  actual.tags.team = 'dba';
  actual.scopes = [server.serverId.toLowerCase()];
  actual.actions[0].actionGroupId = actual.actions[0].actionGroupId.toLowerCase();
  actual.criteria.allOf[0].dimensions = [];
  expect(holds(actual, d.body)).toBe(true);
  expect(holds({ ...actual, severity: 1 }, d.body)).toBe(false);
  expect(holds({ ...actual, actions: [] }, d.body)).toBe(false);
  expect(holds({ ...actual, criteria: { ...actual.criteria, allOf: [{ ...actual.criteria.allOf[0], threshold: 81 }] } }, d.body)).toBe(false);
  expect(holds({ ...actual, tags: { team: 'dba' } }, d.body)).toBe(false);
});

test('action groups carry the webhook URI only in the body; receivers compare as sets', () => {
  const spec = alertRuleSetSpecSchema.parse({
    databaseRef: { name: 'db' },
    actionGroups: [
      {
        name: 'oncall',
        shortName: 'oncall',
        emailReceivers: [{ name: 'a', emailAddress: 'a@example.com' }, { name: 'b', emailAddress: 'b@example.com' }],
        webhookReceivers: [{ name: 'pd', uriSecretRef: { name: 's', key: 'uri' } }],
      },
    ],
  });
  const [g] = desiredActionGroups(spec, 'AlertRuleSet/ns/x', () => 'https://hook.example/secret-token');
  expect(g!.body.webhookReceivers).toEqual([{ name: 'pd', serviceUri: 'https://hook.example/secret-token', useCommonAlertSchema: true }]);
  const actual = JSON.parse(JSON.stringify(g!.body));
  actual.emailReceivers = [...actual.emailReceivers].reverse().map((r: object) => ({ ...r, status: 'Enabled' }));
  expect(holds(actual, g!.body)).toBe(true);
  actual.webhookReceivers[0].serviceUri = 'https://hook.example/rotated';
  expect(holds(actual, g!.body)).toBe(false);
});

test('diagnostic setting: the log categories and all metrics, or none', () => {
  const spec = alertRuleSetSpecSchema.parse({
    databaseRef: { name: 'db' },
    diagnostics: { workspaceResourceId: '/subscriptions/8f3c2a51-6d4e-4b7a-9c1f-2e5d7a9b0c34/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/logs', logCategories: ['PostgreSQLLogs'] },
  });
  expect(desiredDiagnosticSetting(spec)).toEqual({
    workspaceId: spec.diagnostics!.workspaceResourceId,
    logs: [{ category: 'PostgreSQLLogs', enabled: true }],
    metrics: [{ category: 'AllMetrics', enabled: true }],
  });
  expect(desiredDiagnosticSetting({ ...spec, diagnostics: undefined })).toBeUndefined();
});
