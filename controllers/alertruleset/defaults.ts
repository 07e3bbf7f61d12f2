// The curated alert set `defaults: true` adds for a Flexible Server (thresholds from the design
// document in the seeds). A rule in spec.rules with the same name replaces the built-in one.
// Documented in the README (see /work/notes/backup-readme.md).
import type { AlertRule } from '../../src/api/alertruleset.js';

type BuiltIn = Omit<AlertRule, 'actionGroups'> & { onlyWithReplicas?: boolean };

export const DEFAULT_RULES: readonly BuiltIn[] = [
  {
    name: 'high-cpu',
    description: 'CPU above 80 % for 5 minutes; look at pg_stat_statements for the expensive queries.',
    metric: 'cpu_percent',
    operator: 'GreaterThan',
    threshold: 80,
    aggregation: 'Average',
    windowSize: 'PT5M',
    evaluationFrequency: 'PT1M',
    severity: 'Warning',
    enabled: true,
  },
  {
    name: 'high-memory',
    description: 'Memory above 85 % for 5 minutes; check work_mem, connection count and the SKU.',
    metric: 'memory_percent',
    operator: 'GreaterThan',
    threshold: 85,
    aggregation: 'Average',
    windowSize: 'PT5M',
    evaluationFrequency: 'PT1M',
    severity: 'Warning',
    enabled: true,
  },
  {
    name: 'storage-almost-full',
    description: 'Storage above 90 %; grow storage (or enable autoGrow) before the server goes read-only.',
    metric: 'storage_percent',
    operator: 'GreaterThan',
    threshold: 90,
    aggregation: 'Maximum',
    windowSize: 'PT15M',
    evaluationFrequency: 'PT5M',
    severity: 'Critical',
    enabled: true,
  },
  {
    name: 'connection-failures',
    description: 'More than 10 failed connections in 5 minutes: wrong credentials, firewall or max_connections.',
    metric: 'connections_failed',
    operator: 'GreaterThan',
    threshold: 10,
    aggregation: 'Total',
    windowSize: 'PT5M',
    evaluationFrequency: 'PT1M',
    severity: 'Warning',
    enabled: true,
  },
  {
    name: 'deadlocks',
    description: 'Deadlocks detected in the last 15 minutes; the server log names the statements.',
    metric: 'deadlocks',
    operator: 'GreaterThan',
    threshold: 0,
    aggregation: 'Total',
    windowSize: 'PT15M',
    evaluationFrequency: 'PT5M',
    severity: 'Warning',
    enabled: true,
  },
  {
    name: 'replica-lag',
    description: 'A read replica is more than 5 minutes behind its primary.',
    metric: 'physical_replication_delay_in_seconds',
    operator: 'GreaterThan',
    threshold: 300,
    aggregation: 'Maximum',
    windowSize: 'PT5M',
    evaluationFrequency: 'PT1M',
    severity: 'Error',
    enabled: true,
    onlyWithReplicas: true,
  },
  {
    name: 'server-down',
    description: 'The server did not answer its liveness probe for 5 minutes.',
    metric: 'is_db_alive',
    operator: 'LessThan',
    threshold: 1,
    aggregation: 'Minimum',
    windowSize: 'PT5M',
    evaluationFrequency: 'PT1M',
    severity: 'Critical',
    enabled: true,
  },
];

/**
 * The rules to deploy: the built-ins (when asked for; replica lag only with replicas; notifying every
 * action group of the set, at most the 5 a rule may name) with spec rules of the same name replacing
 * them, then the remaining spec rules.
 */
export function effectiveRules(spec: { defaults: boolean; rules?: AlertRule[]; actionGroups?: Array<{ name: string }> }, hasReplicas: boolean): AlertRule[] {
  const own = spec.rules ?? [];
  const byName = new Set(own.map((r) => r.name));
  const groups = (spec.actionGroups ?? []).map((g) => g.name).slice(0, 5);
  const builtIns: AlertRule[] = spec.defaults
    ? DEFAULT_RULES.filter((r) => !byName.has(r.name) && (!r.onlyWithReplicas || hasReplicas)).map(({ onlyWithReplicas: _o, ...r }) => ({
        ...r,
        ...(groups.length ? { actionGroups: groups } : {}),
      }))
    : [];
  return [...builtIns, ...own];
}
