// Prometheus metrics of restore drills: the measured RTO and RPO of the last drill per policy, its
// result, and a counter of drills by result (so a dashboard can alert on RTO > 1 h or RPO > 15 min).
import { Counter, Gauge } from 'prom-client';
import { metricsRegistry } from '../../src/runtime/metrics.js';

const labelNames = ['namespace', 'policy'] as const;

export const drillRtoSeconds = new Gauge({
  name: 'tenantdb_restore_drill_rto_seconds',
  help: 'Recovery time of the last restore drill: from the restore request to the checks passed',
  labelNames,
  registers: [metricsRegistry],
});
export const drillRpoSeconds = new Gauge({
  name: 'tenantdb_restore_drill_rpo_seconds',
  help: 'Recovery point of the last restore drill: how far the restored copy was behind the source',
  labelNames,
  registers: [metricsRegistry],
});
export const drillLastPassed = new Gauge({
  name: 'tenantdb_restore_drill_last_passed',
  help: '1 when the last restore drill passed, 0 when it failed',
  labelNames,
  registers: [metricsRegistry],
});
export const drillsTotal = new Counter({
  name: 'tenantdb_restore_drills_total',
  help: 'Restore drills finished, by result',
  labelNames: [...labelNames, 'result'],
  registers: [metricsRegistry],
});
