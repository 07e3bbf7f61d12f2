// AlertRuleSet: Azure Monitor metric alerts, action groups and diagnostic settings for the server
// behind a TenantDatabase.
import { z } from 'zod';
import { celString, listMap, listSet, withRules } from './cel.js';
import { KINDS } from './kinds.js';
import { databaseRef, secretKeyRef } from './fields.js';
import { FLEXIBLE_SERVER_LOG_CATEGORIES, FLEXIBLE_SERVER_METRICS, FLEXIBLE_SERVER_METRIC_DEFINITIONS } from './metrics.js';
import { AGE_COLUMN, READY_COLUMNS, kindObjectSchema, validateWith, type KindDefinition } from './object.js';
import { statusBaseShape } from './status.js';

/** Window sizes Azure Monitor metric alerts accept, in minutes (the CEL rule compares through this map). */
export const WINDOW_SIZES = { PT1M: 1, PT5M: 5, PT15M: 15, PT30M: 30, PT1H: 60, PT6H: 360, PT12H: 720, P1D: 1440 } as const;
export const EVALUATION_FREQUENCIES = { PT1M: 1, PT5M: 5, PT15M: 15, PT30M: 30, PT1H: 60 } as const;
type WindowSize = keyof typeof WINDOW_SIZES;
type EvaluationFrequency = keyof typeof EVALUATION_FREQUENCIES;

/** Azure Monitor severities are numbers; the API uses their names. */
export const ALERT_SEVERITY_LEVEL = { Critical: 0, Error: 1, Warning: 2, Informational: 3, Verbose: 4 } as const;
export type AlertSeverity = keyof typeof ALERT_SEVERITY_LEVEL;

const PERCENT_METRICS = FLEXIBLE_SERVER_METRIC_DEFINITIONS.filter((m) => m.unit === 'Percent').map((m) => m.name);

export const ALERT_RULE_NAME_PATTERN = '^[A-Za-z0-9]([-A-Za-z0-9_. ]{0,126}[A-Za-z0-9])?$';
export const ACTION_GROUP_NAME_PATTERN = '^[A-Za-z0-9]([-A-Za-z0-9_.]{0,126}[A-Za-z0-9])?$';
export const WORKSPACE_RESOURCE_ID_PATTERN =
  '^/subscriptions/[0-9a-fA-F-]{36}/resource[Gg]roups/[-A-Za-z0-9_.()]{1,90}/providers/Microsoft[.]OperationalInsights/workspaces/[-A-Za-z0-9]{4,63}$';
export const EMAIL_PATTERN = '^[^@\\s"\'<>;,]+@[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?([.][A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)+$';

const receiverName = (description: string) =>
  z.string().min(1).max(128).regex(/^[A-Za-z0-9]([-A-Za-z0-9_. ]{0,126}[A-Za-z0-9])?$/).describe(description);

const actionGroupSchema = z
  .object({
    name: z.string().min(1).max(128).regex(new RegExp(ACTION_GROUP_NAME_PATTERN)).describe('Name of the action group; rules refer to it by this name.'),
    shortName: z.string().min(1).max(12).regex(/^[A-Za-z0-9][-A-Za-z0-9_ ]{0,11}$/).describe('Short name (at most 12 characters) shown in SMS and e-mail.'),
    emailReceivers: listMap(
      z
        .array(
          z
            .object({
              name: receiverName('Name of the receiver.'),
              emailAddress: z.string().min(3).max(254).regex(new RegExp(EMAIL_PATTERN)).describe('E-mail address to notify.'),
            })
            .describe('An e-mail receiver.'),
        )
        .max(32)
        .describe('E-mail receivers.'),
      ['name'],
    ).optional(),
    webhookReceivers: listMap(
      z
        .array(
          z
            .object({
              name: receiverName('Name of the receiver.'),
              uriSecretRef: secretKeyRef('Secret holding the webhook URI (it often carries a token).', 'uri'),
            })
            .describe('A webhook receiver.'),
        )
        .max(16)
        .describe('Webhook receivers.'),
      ['name'],
    ).optional(),
  })
  .describe('An Azure Monitor action group: who is notified when a rule fires.');

export const alertRuleSchema = withRules(
  z
    .object({
      name: z.string().min(1).max(128).regex(new RegExp(ALERT_RULE_NAME_PATTERN)).describe('Name of the rule, unique in this AlertRuleSet.'),
      description: z.string().max(1024).optional().describe('What the alert means and what to do about it.'),
      metric: z.enum(FLEXIBLE_SERVER_METRICS).describe('Flexible Server metric (Azure Monitor REST name), e.g. cpu_percent.'),
      operator: z
        .enum(['GreaterThan', 'GreaterThanOrEqual', 'LessThan', 'LessThanOrEqual', 'Equals'])
        .describe('How the aggregated value is compared with threshold.'),
      threshold: z.number().describe('Value the aggregated metric is compared with.'),
      aggregation: z.enum(['Average', 'Minimum', 'Maximum', 'Total', 'Count']).describe('How samples in the window are aggregated.'),
      windowSize: z
        .enum(Object.keys(WINDOW_SIZES) as [WindowSize, ...WindowSize[]])
        .default('PT5M')
        .describe('ISO-8601 window the metric is aggregated over: PT1M, PT5M, PT15M, PT30M, PT1H, PT6H, PT12H or P1D.'),
      evaluationFrequency: z
        .enum(Object.keys(EVALUATION_FREQUENCIES) as [EvaluationFrequency, ...EvaluationFrequency[]])
        .default('PT1M')
        .describe('ISO-8601 interval between evaluations: PT1M, PT5M, PT15M, PT30M or PT1H; not longer than windowSize.'),
      severity: z
        .enum(Object.keys(ALERT_SEVERITY_LEVEL) as [AlertSeverity, ...AlertSeverity[]])
        .default('Warning')
        .describe('Severity: Critical (0), Error (1), Warning (2), Informational (3) or Verbose (4).'),
      actionGroups: listSet(
        z
          .array(z.string().min(1).max(128).regex(new RegExp(ACTION_GROUP_NAME_PATTERN)))
          .max(5)
          .describe('Names of action groups (from spec.actionGroups) notified when the rule fires.'),
      ).optional(),
      enabled: z.boolean().default(true).describe('Whether the rule is active.'),
    })
    .describe('A metric alert rule.'),
  [
    {
      rule: `${celMinutes(EVALUATION_FREQUENCIES, 'self.evaluationFrequency')} <= ${celMinutes(WINDOW_SIZES, 'self.windowSize')}`,
      message: 'evaluationFrequency must not be longer than windowSize',
      fieldPath: '.evaluationFrequency',
      check: (r) => EVALUATION_FREQUENCIES[r.evaluationFrequency] <= WINDOW_SIZES[r.windowSize],
    },
    {
      rule: `!(self.metric in [${PERCENT_METRICS.map(celString).join(', ')}]) || (self.threshold >= 0.0 && self.threshold <= 100.0)`,
      message: 'threshold of a percent metric must be between 0 and 100',
      fieldPath: '.threshold',
      check: (r) => !PERCENT_METRICS.includes(r.metric) || (r.threshold >= 0 && r.threshold <= 100),
    },
  ],
);

function celMinutes(table: Record<string, number>, expr: string): string {
  const entries = Object.entries(table)
    .map(([k, v]) => `${celString(k)}: ${v}`)
    .join(', ');
  return `{${entries}}[${expr}]`;
}

const diagnosticsSchema = withRules(
  z
    .object({
      workspaceResourceId: z
        .string()
        .min(1)
        .max(512)
        .regex(new RegExp(WORKSPACE_RESOURCE_ID_PATTERN))
        .describe('ARM resource ID of the Log Analytics workspace that receives logs and metrics.'),
      logCategories: listSet(
        z.array(z.enum(FLEXIBLE_SERVER_LOG_CATEGORIES)).max(FLEXIBLE_SERVER_LOG_CATEGORIES.length).describe('Log categories to send, e.g. PostgreSQLLogs.'),
      ).optional(),
      allMetrics: z.boolean().default(true).describe('Also send all platform metrics.'),
    })
    .describe('A diagnostic setting streaming server logs and metrics to Log Analytics.'),
  [
    {
      rule: 'self.allMetrics || (has(self.logCategories) && size(self.logCategories) > 0)',
      message: 'diagnostics must send metrics or at least one log category',
      fieldPath: '.logCategories',
      check: (d) => d.allMetrics || (d.logCategories ?? []).length > 0,
    },
  ],
);

export const alertRuleSetSpecSchema = withRules(
  z
    .object({
      databaseRef: databaseRef(),
      defaults: z
        .boolean()
        .default(true)
        .describe('Add the built-in rules (CPU > 80 %, memory > 85 %, storage > 90 %, failed connections > 10, ...) next to spec.rules; a rule of the same name in spec.rules replaces a built-in one.'),
      actionGroups: listMap(z.array(actionGroupSchema).max(10).describe('Action groups the rules notify.'), ['name']).optional(),
      rules: listMap(z.array(alertRuleSchema).max(64).describe('Metric alert rules.'), ['name']).optional(),
      diagnostics: diagnosticsSchema.optional(),
    })
    .describe('Desired state of the alert rule set.'),
  [
    {
      rule: '!has(self.rules) || self.rules.all(r, !has(r.actionGroups) || r.actionGroups.all(g, has(self.actionGroups) && self.actionGroups.exists(a, a.name == g)))',
      message: 'every rules[].actionGroups entry must name an action group in spec.actionGroups',
      fieldPath: '.rules',
      check: (s) => (s.rules ?? []).every((r) => (r.actionGroups ?? []).every((g) => (s.actionGroups ?? []).some((a) => a.name === g))),
    },
  ],
);

const deployedSchema = (what: string) =>
  z
    .object({
      name: z.string().max(128).describe(`Name of the ${what} in this AlertRuleSet.`),
      resourceId: z.string().max(1024).optional().describe(`ARM resource ID of the ${what}.`),
    })
    .describe(`A deployed ${what}.`);

export const alertRuleSetStatusSchema = z
  .object({
    ...statusBaseShape,
    ruleCount: z.int().min(0).max(1000).optional().describe('Number of alert rules deployed (built-in and custom).'),
    rules: listMap(z.array(deployedSchema('metric alert')).max(128).describe('Deployed metric alerts.'), ['name']).optional(),
    actionGroups: listMap(z.array(deployedSchema('action group')).max(10).describe('Deployed action groups.'), ['name']).optional(),
    diagnosticSettingId: z.string().max(1024).optional().describe('ARM resource ID of the diagnostic setting.'),
  })
  .describe('Observed state of the alert rule set.');

export const alertRuleSetSchema = kindObjectSchema('AlertRuleSet', alertRuleSetSpecSchema, alertRuleSetStatusSchema);

export type AlertRuleSetSpec = z.infer<typeof alertRuleSetSpecSchema>;
export type AlertRule = z.infer<typeof alertRuleSchema>;
export type AlertRuleSetStatus = z.infer<typeof alertRuleSetStatusSchema>;
export type AlertRuleSet = z.infer<typeof alertRuleSetSchema>;
/** A deployed metric alert or action group, as status lists them. */
export type DeployedResource = NonNullable<AlertRuleSetStatus['rules']>[number];

export function validateAlertRuleSet(input: unknown) {
  return validateWith('AlertRuleSet', alertRuleSetSchema, input);
}

export const alertRuleSetKind: KindDefinition = {
  info: KINDS.AlertRuleSet,
  description: 'Azure Monitor metric alerts, action groups and diagnostic settings for the server of a TenantDatabase.',
  spec: alertRuleSetSpecSchema,
  status: alertRuleSetStatusSchema,
  categories: ['tenantdb'],
  printerColumns: [
    ...READY_COLUMNS,
    { name: 'Database', type: 'string', jsonPath: '.spec.databaseRef.name', description: 'Target TenantDatabase.' },
    { name: 'Rules', type: 'integer', jsonPath: '.status.ruleCount', description: 'Number of deployed alert rules.' },
    { name: 'Defaults', type: 'boolean', jsonPath: '.spec.defaults', description: 'Whether the built-in rules are included.', priority: 1 },
    AGE_COLUMN,
  ],
};
