// Prometheus metrics of migration runs, on the operator's registry. Labelled by Migration, not by
// database: a fleet of thousands of databases would otherwise make thousands of series per step.
import { Counter, Gauge, Histogram } from 'prom-client';
import { metricsRegistry } from '../../src/runtime/metrics.js';

const stepBuckets = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600];

export const migrationStepDuration = new Histogram({
  name: 'tenantdb_migration_step_duration_seconds',
  help: 'Duration of migration steps, by result (succeeded/failed) and direction (up/down)',
  labelNames: ['namespace', 'migration', 'direction', 'result'] as const,
  buckets: stepBuckets,
  registers: [metricsRegistry],
});

export const migrationStepsTotal = new Counter({
  name: 'tenantdb_migration_steps_total',
  help: 'Migration steps run, by result (succeeded/failed) and direction (up/down)',
  labelNames: ['namespace', 'migration', 'direction', 'result'] as const,
  registers: [metricsRegistry],
});

export const migrationRunsTotal = new Counter({
  name: 'tenantdb_migration_runs_total',
  help: 'Migration runs on one database, by outcome (succeeded/failed/stalled/error)',
  labelNames: ['namespace', 'migration', 'outcome'] as const,
  registers: [metricsRegistry],
});

export const migrationRunsInProgress = new Gauge({
  name: 'tenantdb_migration_runs_in_progress',
  help: 'Migration runs in progress (databases being migrated now)',
  labelNames: ['namespace', 'migration'] as const,
  registers: [metricsRegistry],
});
