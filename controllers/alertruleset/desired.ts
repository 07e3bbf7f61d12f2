// The ARM documents an AlertRuleSet asks for, as pure functions of its spec, the server and the
// webhook URIs read from Secrets: action groups, one metric alert per rule, one diagnostic setting.
// Every resource the operator makes carries the owner tag; only resources with our tag are ever deleted.
import type { ActionGroupResource, DiagnosticSettingsResource, MetricAlertResource } from '@azure/arm-monitor';
import { ALERT_SEVERITY_LEVEL, type AlertRule, type AlertRuleSetSpec } from '../../src/api/alertruleset.js';

export const OWNER_TAG = 'tenantdb-owner';
const FLEXIBLE_SERVER_TYPE = 'Microsoft.DBforPostgreSQL/flexibleServers';

export function ownerTagValue(namespace: string | undefined, name: string): string {
  return `AlertRuleSet/${namespace ?? ''}/${name}`;
}

export interface ServerInfo {
  subscriptionId: string;
  resourceGroup: string;
  serverName: string;
  serverId: string;
}

/** Metric alerts live in the server's resource group; the server's name keeps two servers' rules apart. */
export function alertName(server: ServerInfo, rule: string): string {
  return `${server.serverName}-${rule}`;
}

export function actionGroupId(server: ServerInfo, name: string): string {
  return `/subscriptions/${server.subscriptionId}/resourceGroups/${server.resourceGroup}/providers/Microsoft.Insights/actionGroups/${name}`;
}

export function metricAlertId(server: ServerInfo, name: string): string {
  return `/subscriptions/${server.subscriptionId}/resourceGroups/${server.resourceGroup}/providers/Microsoft.Insights/metricAlerts/${name}`;
}

/** Diagnostic settings carry no tags; the name says which AlertRuleSet made it. */
export function diagnosticSettingName(name: string): string {
  return `tenantdb-${name}`.slice(0, 260);
}

export interface DesiredActionGroup {
  name: string;
  body: ActionGroupResource;
}

/** `webhookUris` maps receiver name → URI (from its Secret); never logged or reported. */
export function desiredActionGroups(spec: AlertRuleSetSpec, owner: string, webhookUris: (group: string, receiver: string) => string): DesiredActionGroup[] {
  return (spec.actionGroups ?? []).map((g) => ({
    name: g.name,
    body: {
      location: 'Global',
      tags: { [OWNER_TAG]: owner },
      groupShortName: g.shortName,
      enabled: true,
      emailReceivers: (g.emailReceivers ?? []).map((r) => ({ name: r.name, emailAddress: r.emailAddress, useCommonAlertSchema: true })),
      webhookReceivers: (g.webhookReceivers ?? []).map((r) => ({ name: r.name, serviceUri: webhookUris(g.name, r.name), useCommonAlertSchema: true })),
    },
  }));
}

export interface DesiredAlert {
  rule: string;
  name: string;
  body: MetricAlertResource;
}

export function desiredAlert(server: ServerInfo, rule: AlertRule, owner: string): DesiredAlert {
  const name = alertName(server, rule.name);
  return {
    rule: rule.name,
    name,
    body: {
      location: 'global',
      tags: { [OWNER_TAG]: owner },
      description: rule.description ?? '',
      severity: ALERT_SEVERITY_LEVEL[rule.severity],
      enabled: rule.enabled,
      scopes: [server.serverId],
      evaluationFrequency: rule.evaluationFrequency,
      windowSize: rule.windowSize,
      targetResourceType: FLEXIBLE_SERVER_TYPE,
      criteria: {
        odataType: 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria',
        allOf: [
          {
            criterionType: 'StaticThresholdCriterion',
            name: 'criterion1',
            metricName: rule.metric,
            metricNamespace: FLEXIBLE_SERVER_TYPE,
            operator: rule.operator,
            threshold: rule.threshold,
            timeAggregation: rule.aggregation,
          },
        ],
      } as MetricAlertResource['criteria'],
      autoMitigate: true,
      actions: (rule.actionGroups ?? []).map((g) => ({ actionGroupId: actionGroupId(server, g) })),
    },
  };
}

export function desiredDiagnosticSetting(spec: AlertRuleSetSpec): DiagnosticSettingsResource | undefined {
  const d = spec.diagnostics;
  if (!d) return undefined;
  return {
    workspaceId: d.workspaceResourceId,
    logs: (d.logCategories ?? []).map((category) => ({ category, enabled: true })),
    metrics: d.allMetrics ? [{ category: 'AllMetrics', enabled: true }] : [],
  };
}

/**
 * True when `actual` (what ARM returned) already holds everything in `desired` (what we would send):
 * objects by key, lists as sets keyed by name/category, ARM ids and enum-like strings case-insensitively.
 * Fields ARM adds (status, ids, timestamps) are ignored, so a converged resource compares equal.
 */
export function holds(actual: unknown, desired: unknown): boolean {
  if (desired === undefined) return true;
  if (Array.isArray(desired)) {
    if (!Array.isArray(actual) || actual.length !== desired.length) return false;
    const key = (v: unknown) => {
      const o = (v ?? {}) as Record<string, unknown>;
      return String(o.name ?? o.category ?? o.actionGroupId ?? JSON.stringify(v)).toLowerCase();
    };
    const rest = [...actual];
    return desired.every((d) => {
      const i = rest.findIndex((a) => key(a) === key(d) && holds(a, d));
      if (i < 0) return false;
      rest.splice(i, 1);
      return true;
    });
  }
  if (desired !== null && typeof desired === 'object') {
    if (actual === null || typeof actual !== 'object') return false;
    return Object.entries(desired as Record<string, unknown>).every(([k, v]) => holds((actual as Record<string, unknown>)[k], v));
  }
  if (typeof desired === 'string' && typeof actual === 'string') {
    return desired.startsWith('/') || k8sInsensitive(desired) ? desired.toLowerCase() === actual.toLowerCase() : desired === actual;
  }
  return desired === actual;
}

// Locations come back as "global"/"Global"; ARM ids are case-insensitive.
function k8sInsensitive(s: string): boolean {
  return s.toLowerCase() === 'global';
}
