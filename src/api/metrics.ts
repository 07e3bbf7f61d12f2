// The Azure Monitor metrics and diagnostic log categories of Microsoft.DBforPostgreSQL/flexibleServers.
// The AlertRuleSet schema validates metric names and log categories against these lists, and the ARM
// emulator serves the same lists, so an alert that passes admission is one Azure would accept.
// Source: the public "Supported metrics / Supported log categories for
// Microsoft.DBforPostgreSQL/flexibleServers" reference pages of Azure Monitor.

export type MetricAggregation = 'Average' | 'Minimum' | 'Maximum' | 'Total' | 'Count';
export type MetricUnit = 'Count' | 'Percent' | 'Bytes' | 'Seconds';

export interface FlexibleServerMetric {
  /** Name in the REST API, as used in metric alert criteria. */
  name: string;
  unit: MetricUnit;
  /** Aggregations Azure Monitor supports for the metric; the first is the default. */
  aggregations: readonly MetricAggregation[];
  /** Dimension the metric is split by, if any. */
  dimension?: 'DatabaseName' | 'State' | 'WaitEventType';
  /** Smallest time grain; alert windows shorter than this make no sense. */
  timeGrain: 'PT1M' | 'PT30M';
}

const AVG_MAX_MIN = ['Average', 'Maximum', 'Minimum'] as const;
const MAX_MIN_AVG = ['Maximum', 'Minimum', 'Average'] as const;
const TOTAL = ['Total'] as const;
const MAXIMUM = ['Maximum'] as const;

export const FLEXIBLE_SERVER_METRIC_DEFINITIONS: readonly FlexibleServerMetric[] = [
  { name: 'active_connections', unit: 'Count', aggregations: AVG_MAX_MIN, timeGrain: 'PT1M' },
  { name: 'analyze_count_user_tables', unit: 'Count', aggregations: MAX_MIN_AVG, dimension: 'DatabaseName', timeGrain: 'PT30M' },
  { name: 'autoanalyze_count_user_tables', unit: 'Count', aggregations: MAX_MIN_AVG, dimension: 'DatabaseName', timeGrain: 'PT30M' },
  { name: 'autovacuum_count_user_tables', unit: 'Count', aggregations: MAX_MIN_AVG, dimension: 'DatabaseName', timeGrain: 'PT30M' },
  { name: 'backup_storage_used', unit: 'Bytes', aggregations: AVG_MAX_MIN, timeGrain: 'PT1M' },
  { name: 'blks_hit', unit: 'Count', aggregations: TOTAL, dimension: 'DatabaseName', timeGrain: 'PT1M' },
  { name: 'blks_read', unit: 'Count', aggregations: TOTAL, dimension: 'DatabaseName', timeGrain: 'PT1M' },
  { name: 'bloat_percent', unit: 'Percent', aggregations: MAXIMUM, dimension: 'DatabaseName', timeGrain: 'PT30M' },
  { name: 'client_connections_active', unit: 'Count', aggregations: MAX_MIN_AVG, dimension: 'DatabaseName', timeGrain: 'PT1M' },
  { name: 'client_connections_waiting', unit: 'Count', aggregations: MAX_MIN_AVG, dimension: 'DatabaseName', timeGrain: 'PT1M' },
  { name: 'connections_failed', unit: 'Count', aggregations: TOTAL, timeGrain: 'PT1M' },
  { name: 'connections_succeeded', unit: 'Count', aggregations: TOTAL, timeGrain: 'PT1M' },
  { name: 'cpu_credits_consumed', unit: 'Count', aggregations: AVG_MAX_MIN, timeGrain: 'PT1M' },
  { name: 'cpu_credits_remaining', unit: 'Count', aggregations: AVG_MAX_MIN, timeGrain: 'PT1M' },
  { name: 'cpu_percent', unit: 'Percent', aggregations: AVG_MAX_MIN, timeGrain: 'PT1M' },
  { name: 'deadlocks', unit: 'Count', aggregations: TOTAL, dimension: 'DatabaseName', timeGrain: 'PT1M' },
  { name: 'disk_bandwidth_consumed_percentage', unit: 'Percent', aggregations: AVG_MAX_MIN, timeGrain: 'PT1M' },
  { name: 'disk_iops_consumed_percentage', unit: 'Percent', aggregations: AVG_MAX_MIN, timeGrain: 'PT1M' },
  { name: 'disk_queue_depth', unit: 'Count', aggregations: AVG_MAX_MIN, timeGrain: 'PT1M' },
  { name: 'iops', unit: 'Count', aggregations: AVG_MAX_MIN, timeGrain: 'PT1M' },
  { name: 'is_db_alive', unit: 'Count', aggregations: AVG_MAX_MIN, timeGrain: 'PT1M' },
  { name: 'logical_replication_delay_in_bytes', unit: 'Bytes', aggregations: MAX_MIN_AVG, timeGrain: 'PT1M' },
  { name: 'longest_query_time_sec', unit: 'Seconds', aggregations: MAXIMUM, timeGrain: 'PT1M' },
  { name: 'longest_transaction_time_sec', unit: 'Seconds', aggregations: MAXIMUM, timeGrain: 'PT1M' },
  { name: 'max_connections', unit: 'Count', aggregations: MAXIMUM, timeGrain: 'PT30M' },
  { name: 'maximum_used_transactionIDs', unit: 'Count', aggregations: AVG_MAX_MIN, timeGrain: 'PT1M' },
  { name: 'memory_percent', unit: 'Percent', aggregations: AVG_MAX_MIN, timeGrain: 'PT1M' },
  { name: 'n_dead_tup_user_tables', unit: 'Count', aggregations: MAX_MIN_AVG, dimension: 'DatabaseName', timeGrain: 'PT30M' },
  { name: 'n_live_tup_user_tables', unit: 'Count', aggregations: MAX_MIN_AVG, dimension: 'DatabaseName', timeGrain: 'PT30M' },
  { name: 'n_mod_since_analyze_user_tables', unit: 'Count', aggregations: MAX_MIN_AVG, dimension: 'DatabaseName', timeGrain: 'PT30M' },
  { name: 'network_bytes_egress', unit: 'Bytes', aggregations: TOTAL, timeGrain: 'PT1M' },
  { name: 'network_bytes_ingress', unit: 'Bytes', aggregations: TOTAL, timeGrain: 'PT1M' },
  { name: 'num_pools', unit: 'Count', aggregations: MAX_MIN_AVG, dimension: 'DatabaseName', timeGrain: 'PT1M' },
  { name: 'numbackends', unit: 'Count', aggregations: MAX_MIN_AVG, dimension: 'DatabaseName', timeGrain: 'PT1M' },
  { name: 'oldest_backend_time_sec', unit: 'Seconds', aggregations: MAXIMUM, timeGrain: 'PT1M' },
  { name: 'oldest_backend_xmin', unit: 'Count', aggregations: MAXIMUM, timeGrain: 'PT1M' },
  { name: 'oldest_backend_xmin_age', unit: 'Count', aggregations: MAXIMUM, timeGrain: 'PT1M' },
  { name: 'physical_replication_delay_in_bytes', unit: 'Bytes', aggregations: MAX_MIN_AVG, timeGrain: 'PT1M' },
  { name: 'physical_replication_delay_in_seconds', unit: 'Seconds', aggregations: MAX_MIN_AVG, timeGrain: 'PT1M' },
  { name: 'read_iops', unit: 'Count', aggregations: AVG_MAX_MIN, timeGrain: 'PT1M' },
  { name: 'read_throughput', unit: 'Count', aggregations: AVG_MAX_MIN, timeGrain: 'PT1M' },
  { name: 'server_connections_active', unit: 'Count', aggregations: MAX_MIN_AVG, dimension: 'DatabaseName', timeGrain: 'PT1M' },
  { name: 'server_connections_idle', unit: 'Count', aggregations: MAX_MIN_AVG, dimension: 'DatabaseName', timeGrain: 'PT1M' },
  { name: 'sessions_by_state', unit: 'Count', aggregations: MAX_MIN_AVG, dimension: 'State', timeGrain: 'PT1M' },
  { name: 'sessions_by_wait_event_type', unit: 'Count', aggregations: MAX_MIN_AVG, dimension: 'WaitEventType', timeGrain: 'PT1M' },
  { name: 'storage_free', unit: 'Bytes', aggregations: AVG_MAX_MIN, timeGrain: 'PT1M' },
  { name: 'storage_percent', unit: 'Percent', aggregations: AVG_MAX_MIN, timeGrain: 'PT1M' },
  { name: 'storage_used', unit: 'Bytes', aggregations: AVG_MAX_MIN, timeGrain: 'PT1M' },
  { name: 'tables_analyzed_user_tables', unit: 'Count', aggregations: MAX_MIN_AVG, dimension: 'DatabaseName', timeGrain: 'PT30M' },
  { name: 'tables_autoanalyzed_user_tables', unit: 'Count', aggregations: MAX_MIN_AVG, dimension: 'DatabaseName', timeGrain: 'PT30M' },
  { name: 'tables_autovacuumed_user_tables', unit: 'Count', aggregations: MAX_MIN_AVG, dimension: 'DatabaseName', timeGrain: 'PT30M' },
  { name: 'tables_counter_user_tables', unit: 'Count', aggregations: MAX_MIN_AVG, dimension: 'DatabaseName', timeGrain: 'PT30M' },
  { name: 'tables_vacuumed_user_tables', unit: 'Count', aggregations: MAX_MIN_AVG, dimension: 'DatabaseName', timeGrain: 'PT30M' },
  { name: 'temp_bytes', unit: 'Bytes', aggregations: TOTAL, dimension: 'DatabaseName', timeGrain: 'PT1M' },
  { name: 'temp_files', unit: 'Count', aggregations: TOTAL, dimension: 'DatabaseName', timeGrain: 'PT1M' },
  { name: 'total_pooled_connections', unit: 'Count', aggregations: MAX_MIN_AVG, dimension: 'DatabaseName', timeGrain: 'PT1M' },
  { name: 'tps', unit: 'Count', aggregations: ['Minimum', 'Maximum', 'Total'], dimension: 'DatabaseName', timeGrain: 'PT1M' },
  { name: 'tup_deleted', unit: 'Count', aggregations: TOTAL, dimension: 'DatabaseName', timeGrain: 'PT1M' },
  { name: 'tup_fetched', unit: 'Count', aggregations: TOTAL, dimension: 'DatabaseName', timeGrain: 'PT1M' },
  { name: 'tup_inserted', unit: 'Count', aggregations: TOTAL, dimension: 'DatabaseName', timeGrain: 'PT1M' },
  { name: 'tup_returned', unit: 'Count', aggregations: TOTAL, dimension: 'DatabaseName', timeGrain: 'PT1M' },
  { name: 'tup_updated', unit: 'Count', aggregations: TOTAL, dimension: 'DatabaseName', timeGrain: 'PT1M' },
  { name: 'txlogs_storage_used', unit: 'Bytes', aggregations: AVG_MAX_MIN, timeGrain: 'PT1M' },
  { name: 'vacuum_count_user_tables', unit: 'Count', aggregations: MAX_MIN_AVG, dimension: 'DatabaseName', timeGrain: 'PT30M' },
  { name: 'write_iops', unit: 'Count', aggregations: AVG_MAX_MIN, timeGrain: 'PT1M' },
  { name: 'write_throughput', unit: 'Count', aggregations: AVG_MAX_MIN, timeGrain: 'PT1M' },
  { name: 'xact_commit', unit: 'Count', aggregations: TOTAL, dimension: 'DatabaseName', timeGrain: 'PT1M' },
  { name: 'xact_rollback', unit: 'Count', aggregations: TOTAL, dimension: 'DatabaseName', timeGrain: 'PT1M' },
  { name: 'xact_total', unit: 'Count', aggregations: TOTAL, dimension: 'DatabaseName', timeGrain: 'PT1M' },
];

/** Metric names (REST API names), sorted; the enum of AlertRuleSet `spec.rules[].metric`. */
export const FLEXIBLE_SERVER_METRICS = [
  'active_connections',
  'analyze_count_user_tables',
  'autoanalyze_count_user_tables',
  'autovacuum_count_user_tables',
  'backup_storage_used',
  'blks_hit',
  'blks_read',
  'bloat_percent',
  'client_connections_active',
  'client_connections_waiting',
  'connections_failed',
  'connections_succeeded',
  'cpu_credits_consumed',
  'cpu_credits_remaining',
  'cpu_percent',
  'deadlocks',
  'disk_bandwidth_consumed_percentage',
  'disk_iops_consumed_percentage',
  'disk_queue_depth',
  'iops',
  'is_db_alive',
  'logical_replication_delay_in_bytes',
  'longest_query_time_sec',
  'longest_transaction_time_sec',
  'max_connections',
  'maximum_used_transactionIDs',
  'memory_percent',
  'n_dead_tup_user_tables',
  'n_live_tup_user_tables',
  'n_mod_since_analyze_user_tables',
  'network_bytes_egress',
  'network_bytes_ingress',
  'num_pools',
  'numbackends',
  'oldest_backend_time_sec',
  'oldest_backend_xmin',
  'oldest_backend_xmin_age',
  'physical_replication_delay_in_bytes',
  'physical_replication_delay_in_seconds',
  'read_iops',
  'read_throughput',
  'server_connections_active',
  'server_connections_idle',
  'sessions_by_state',
  'sessions_by_wait_event_type',
  'storage_free',
  'storage_percent',
  'storage_used',
  'tables_analyzed_user_tables',
  'tables_autoanalyzed_user_tables',
  'tables_autovacuumed_user_tables',
  'tables_counter_user_tables',
  'tables_vacuumed_user_tables',
  'temp_bytes',
  'temp_files',
  'total_pooled_connections',
  'tps',
  'tup_deleted',
  'tup_fetched',
  'tup_inserted',
  'tup_returned',
  'tup_updated',
  'txlogs_storage_used',
  'vacuum_count_user_tables',
  'write_iops',
  'write_throughput',
  'xact_commit',
  'xact_rollback',
  'xact_total',
] as const;

export type FlexibleServerMetricName = (typeof FLEXIBLE_SERVER_METRICS)[number];

/** Diagnostic settings log categories of a flexible server; the enum of `spec.diagnostics.logCategories[]`. */
export const FLEXIBLE_SERVER_LOG_CATEGORIES = [
  'PostgreSQLFlexDatabaseXacts',
  'PostgreSQLFlexPGBouncer',
  'PostgreSQLFlexQueryStoreRuntime',
  'PostgreSQLFlexQueryStoreWaitStats',
  'PostgreSQLFlexSessions',
  'PostgreSQLFlexTableStats',
  'PostgreSQLLogs',
] as const;

export type FlexibleServerLogCategory = (typeof FLEXIBLE_SERVER_LOG_CATEGORIES)[number];

export function metricDefinition(name: string): FlexibleServerMetric | undefined {
  return FLEXIBLE_SERVER_METRIC_DEFINITIONS.find((m) => m.name === name);
}
