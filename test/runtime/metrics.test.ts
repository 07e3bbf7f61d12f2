// /metrics reports exactly what the controllers did: a probe controller on a real kind counts its own
// reconciles and outcomes, and the controller-runtime counters must agree with that count.
import { Manager } from '../../src/runtime/manager.js';
import { createTestNamespace, kubeConfig } from '../../dev/env/testenv.js';
import { eventually, installCrds, metricValue, run, scrape, testLogger } from './helpers.js';

let ns: string;
let mgr: Manager;
let port: number;
const calls = { success: 0, error: 0, requeueAfter: 0 };
const seen = new Map<string, number>();

beforeAll(async () => {
  await installCrds();
  ns = await createTestNamespace('rt-metrics');
  mgr = new Manager({ kubeConfig: kubeConfig(), logger: testLogger(), namespaces: [ns], metricsBindAddress: '127.0.0.1:0', healthProbeBindAddress: '0' });
  mgr.addController({
    name: 'metrics-probe',
    resource: { group: 'tenantdb.io', version: 'v1alpha1', plural: 'backuppolicies' },
    maxConcurrentReconciles: 3,
    reconcile: async (_ctx, req) => {
      const n = (seen.get(req.name) ?? 0) + 1;
      seen.set(req.name, n);
      if (req.name === 'flaky' && n <= 2) {
        calls.error++;
        throw new Error('transient failure');
      }
      if (req.name === 'later' && n === 1) {
        calls.requeueAfter++;
        return { requeueAfterMs: 100 };
      }
      calls.success++;
      return {};
    },
  });
  await mgr.start();
  [port] = mgr.ports() as [number];
});

afterAll(async () => {
  await mgr?.stop();
  if (ns) await run(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
});

test('reconcile counters match the reconciles that happened', async () => {
  const items = ['steady', 'flaky', 'later'].map((name) => ({
    apiVersion: 'tenantdb.io/v1alpha1',
    kind: 'BackupPolicy',
    metadata: { name, namespace: ns },
    spec: { databaseRef: { name: 'db' } },
  }));
  await run(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
  await eventually('all three objects reconciled successfully', async () => calls.success === 3, 30_000);
  await new Promise((r) => setTimeout(r, 500)); // nothing further may happen
  expect(calls).toEqual({ success: 3, error: 2, requeueAfter: 1 });

  const text = await scrape(port);
  const c = { controller: 'metrics-probe' };
  expect(metricValue(text, 'controller_runtime_reconcile_total', { ...c, result: 'success' })).toBe(3);
  expect(metricValue(text, 'controller_runtime_reconcile_total', { ...c, result: 'error' })).toBe(2);
  expect(metricValue(text, 'controller_runtime_reconcile_total', { ...c, result: 'requeue_after' })).toBe(1);
  expect(metricValue(text, 'controller_runtime_reconcile_total', { ...c, result: 'requeue' })).toBe(0);
  expect(metricValue(text, 'controller_runtime_reconcile_errors_total', c)).toBe(2);
  expect(metricValue(text, 'controller_runtime_reconcile_time_seconds_count', c)).toBe(6);
  expect(metricValue(text, 'controller_runtime_active_workers', c)).toBe(0);
  expect(metricValue(text, 'controller_runtime_max_concurrent_reconciles', c)).toBe(3);
  const q = { name: 'metrics-probe' };
  expect(metricValue(text, 'workqueue_retries_total', q)).toBe(2);
  expect(metricValue(text, 'workqueue_adds_total', q)).toBe(6); // 3 creates + 2 retries + 1 requeueAfter
  expect(metricValue(text, 'workqueue_depth', q)).toBe(0);
  expect(metricValue(text, 'workqueue_work_duration_seconds_count', q)).toBe(6);
  expect(metricValue(text, 'workqueue_queue_duration_seconds_count', q)).toBe(6);
  expect(text).toMatch(/^# TYPE workqueue_unfinished_work_seconds gauge$/m);
  expect(text).toMatch(/^# TYPE workqueue_longest_running_processor_seconds gauge$/m);
  expect(text).toMatch(/^# TYPE leader_election_master_status gauge$/m);
});
