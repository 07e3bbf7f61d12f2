// The operator's Prometheus registry. Metric names and labels follow controller-runtime and client-go's
// workqueue so existing dashboards and alerts for Go operators work unchanged. Other modules (the Azure
// client layer, for one) register their own metrics on `metricsRegistry`.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const metricsRegistry = new Registry();
// prom-client samples event-loop delay with a libuv timer at this resolution; its default (10 ms) wakes an
// idle operator 100 times a second. 100 ms still shows any lag worth alerting on (they are seconds).
collectDefaultMetrics({ register: metricsRegistry, eventLoopMonitoringPrecision: 100 });

const reconcileBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60];
const queueBuckets = [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1, 10];

export const reconcileTotal = new Counter({
  name: 'controller_runtime_reconcile_total',
  help: 'Total number of reconciliations per controller',
  labelNames: ['controller', 'result'] as const,
  registers: [metricsRegistry],
});
export const reconcileErrors = new Counter({
  name: 'controller_runtime_reconcile_errors_total',
  help: 'Total number of reconciliation errors per controller',
  labelNames: ['controller'] as const,
  registers: [metricsRegistry],
});
export const terminalReconcileErrors = new Counter({
  name: 'controller_runtime_terminal_reconcile_errors_total',
  help: 'Total number of terminal reconciliation errors per controller',
  labelNames: ['controller'] as const,
  registers: [metricsRegistry],
});
export const reconcileTime = new Histogram({
  name: 'controller_runtime_reconcile_time_seconds',
  help: 'Length of time per reconciliation per controller',
  labelNames: ['controller'] as const,
  buckets: reconcileBuckets,
  registers: [metricsRegistry],
});
export const maxConcurrentReconciles = new Gauge({
  name: 'controller_runtime_max_concurrent_reconciles',
  help: 'Maximum number of concurrent reconciles per controller',
  labelNames: ['controller'] as const,
  registers: [metricsRegistry],
});
export const activeWorkers = new Gauge({
  name: 'controller_runtime_active_workers',
  help: 'Number of currently used workers per controller',
  labelNames: ['controller'] as const,
  registers: [metricsRegistry],
});

const wqLabels = ['name', 'controller'] as const;
export const workqueueDepth = new Gauge({ name: 'workqueue_depth', help: 'Current depth of workqueue', labelNames: wqLabels, registers: [metricsRegistry] });
export const workqueueAdds = new Counter({ name: 'workqueue_adds_total', help: 'Total number of adds handled by workqueue', labelNames: wqLabels, registers: [metricsRegistry] });
export const workqueueQueueDuration = new Histogram({
  name: 'workqueue_queue_duration_seconds',
  help: 'How long in seconds an item stays in workqueue before being requested',
  labelNames: wqLabels,
  buckets: queueBuckets,
  registers: [metricsRegistry],
});
export const workqueueWorkDuration = new Histogram({
  name: 'workqueue_work_duration_seconds',
  help: 'How long in seconds processing an item from workqueue takes',
  labelNames: wqLabels,
  buckets: queueBuckets,
  registers: [metricsRegistry],
});
// The in-flight gauges are computed when scraped (client-go updates them on a 500 ms ticker; a timer per
// queue would keep an idle operator waking up for a value nobody reads between scrapes).
const inFlightReporters = new Set<() => void>();
const reportInFlight = (): void => {
  for (const r of inFlightReporters) r();
};
export const workqueueUnfinishedWork = new Gauge({
  name: 'workqueue_unfinished_work_seconds',
  help: 'How many seconds of work has been done that is in progress and has not been observed by work_duration',
  labelNames: wqLabels,
  registers: [metricsRegistry],
  collect: reportInFlight,
});
export const workqueueLongestRunning = new Gauge({
  name: 'workqueue_longest_running_processor_seconds',
  help: 'How many seconds has the longest running processor for workqueue been running',
  labelNames: wqLabels,
  registers: [metricsRegistry],
  collect: reportInFlight,
});
export const workqueueRetries = new Counter({ name: 'workqueue_retries_total', help: 'Total number of retries handled by workqueue', labelNames: wqLabels, registers: [metricsRegistry] });

export const leaderElectionMasterStatus = new Gauge({
  name: 'leader_election_master_status',
  help: 'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master',
  labelNames: ['name'] as const,
  registers: [metricsRegistry],
});

/** What a work queue reports; kept as an interface so queues in unit tests need no registry. */
export interface QueueMetrics {
  add(): void;
  depth(n: number): void;
  retry(): void;
  queued(seconds: number): void;
  worked(seconds: number): void;
  inFlight(unfinishedSeconds: number, longestSeconds: number): void;
  /**
   * Registers a function that reports the in-flight values (through `inFlight`) when they are read;
   * returns the unregister function. Without it the queue reports on a 500 ms timer.
   */
  onCollect?(report: () => void): () => void;
}

export function queueMetricsFor(name: string): QueueMetrics {
  const l = { name, controller: name };
  return {
    add: () => workqueueAdds.inc(l),
    depth: (n) => workqueueDepth.set(l, n),
    retry: () => workqueueRetries.inc(l),
    queued: (s) => workqueueQueueDuration.observe(l, s),
    worked: (s) => workqueueWorkDuration.observe(l, s),
    inFlight: (u, longest) => {
      workqueueUnfinishedWork.set(l, u);
      workqueueLongestRunning.set(l, longest);
    },
    onCollect: (report) => {
      inFlightReporters.add(report);
      return () => inFlightReporters.delete(report);
    },
  };
}
