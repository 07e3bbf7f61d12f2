// What the four registered controllers share, against the real apiserver, with the examples applied to a
// namespace that lacks everything they refer to (no Secrets, no servers): first sight sets the finalizer,
// the kstatus conditions and observedGeneration, and none claims Ready for work it could not do; a spec
// change is observed; a converged object costs no writes; deletion runs through the finalizer; the
// reconcile counters on /metrics follow.
import { registerControllers } from '../../controllers/index.js';
import { FINALIZER } from '../../src/api/resources.js';
import { Manager } from '../../src/runtime/manager.js';
import { createTestNamespace, kubeConfig } from '../../dev/env/testenv.js';
import { deleteAllKinds, eventually, exampleObjects, getJson, httpGet, installCrds, metricValue, run, scrape, testLogger, type KindObject } from './helpers.js';

interface Cond {
  type: string;
  status: string;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}
interface Obj {
  metadata: { name: string; generation: number; resourceVersion: string; finalizers?: string[]; uid: string; deletionTimestamp?: string };
  status?: { observedGeneration?: number; conditions?: Cond[] };
}

const plural: Record<string, string> = {
  TenantDatabase: 'tenantdatabases.tenantdb.io',
  Migration: 'migrations.tenantdb.io',
  BackupPolicy: 'backuppolicies.tenantdb.io',
  AlertRuleSet: 'alertrulesets.tenantdb.io',
};
const controllerOf: Record<string, string> = { TenantDatabase: 'tenantdatabase', Migration: 'migration', BackupPolicy: 'backuppolicy', AlertRuleSet: 'alertruleset' };

let ns: string;
let mgr: Manager;
let metricsPort: number;
let healthPort: number;
let objects: KindObject[];

const get = (o: KindObject) => getJson<Obj>(['get', plural[o.kind] as string, o.metadata.name, '-n', ns]);
const cond = (o: Obj | undefined, type: string) => o?.status?.conditions?.find((c) => c.type === type);

beforeAll(async () => {
  await installCrds();
  ns = await createTestNamespace('rt-ctrl');
  mgr = new Manager({
    kubeConfig: kubeConfig(),
    logger: testLogger(),
    namespaces: [ns],
    metricsBindAddress: '127.0.0.1:0',
    healthProbeBindAddress: '127.0.0.1:0',
    maxConcurrentReconciles: 2,
    gracefulShutdownTimeoutMs: 5_000,
  });
  registerControllers(mgr);
  await mgr.start();
  [metricsPort, healthPort] = mgr.ports() as [number, number];
  objects = exampleObjects(ns);
});

afterAll(async () => {
  if (ns) await deleteAllKinds(ns);
  await mgr?.stop();
  if (ns) await run(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
});

test('health endpoints: healthz at once, readyz once caches synced', async () => {
  expect((await httpGet(healthPort, '/healthz')).status).toBe(200);
  await eventually('readyz', async () => (await httpGet(healthPort, '/readyz')).status === 200);
  expect(mgr.cachesSynced()).toBe(true);
});

test('first sight of each kind: finalizer, kstatus conditions, observedGeneration; nothing is Ready without its dependencies', async () => {
  await run(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
  for (const o of objects) {
    const seen = await eventually(`${o.kind} observed`, async () => {
      const cur = await get(o);
      return cur?.status?.observedGeneration === cur?.metadata.generation && cond(cur, 'Ready') ? cur : undefined;
    });
    expect(seen.metadata.generation).toBe(1);
    expect(seen.metadata.finalizers).toContain(FINALIZER);
    // Every example refers to Secrets or a database this namespace does not have.
    const ready = cond(seen, 'Ready') as Cond;
    expect(ready).toMatchObject({ status: 'False', observedGeneration: 1 });
    expect(ready.reason).toMatch(/^[A-Z][A-Za-z]+$/);
    expect(ready.message.length).toBeGreaterThan(0);
    // Exactly one of Reconciling / Stalled says why, as kstatus reads them.
    const abnormal = ['Reconciling', 'Stalled'].filter((t) => cond(seen, t)?.status === 'True');
    expect(abnormal).toHaveLength(1);
    for (const c of seen.status?.conditions ?? []) expect(c.lastTransitionTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  }
  const td = objects.find((o) => o.kind === 'TenantDatabase') as KindObject;
  const tdNow = (await get(td)) as Obj;
  const events = await eventually('an Event on the TenantDatabase', async () => {
    const list = await getJson<{ items: Array<{ reason: string; type: string; regarding: { uid: string }; reportingController: string }> }>(['get', 'events.events.k8s.io', '-n', ns]);
    const mine = list?.items.filter((e) => e.regarding.uid === tdNow.metadata.uid) ?? [];
    return mine.length > 0 ? mine : undefined;
  });
  expect(events[0]).toMatchObject({ reason: cond(tdNow, 'Ready')?.reason, reportingController: 'tenantdb.io/operator' });
});

test('a spec change bumps generation and the controller observes it; Ready keeps its lastTransitionTime', async () => {
  const backup = objects.find((o) => o.kind === 'BackupPolicy') as KindObject;
  const before = (await get(backup)) as Obj;
  const readySince = cond(before, 'Ready')?.lastTransitionTime;
  await run(['patch', plural.BackupPolicy as string, backup.metadata.name, '-n', ns, '--type=merge', '-p', JSON.stringify({ spec: { retentionDays: 21 } })]);
  const after = await eventually('generation 2 observed', async () => {
    const cur = await get(backup);
    return cur?.metadata.generation === 2 && cur.status?.observedGeneration === 2 ? cur : undefined;
  });
  expect(cond(after, 'Ready')).toMatchObject({ status: 'False', observedGeneration: 2, lastTransitionTime: readySince });
});

test('a converged object costs no writes: a reconcile triggered by a label change writes nothing', async () => {
  const td = objects.find((o) => o.kind === 'TenantDatabase') as KindObject;
  const name = controllerOf.TenantDatabase as string;
  const before = metricValue(await scrape(metricsPort), 'controller_runtime_reconcile_total', { controller: name });
  await run(['label', plural.TenantDatabase as string, td.metadata.name, '-n', ns, 'touched=yes']);
  const labelled = (await get(td)) as Obj;
  await eventually('reconcile after the label change', async () => metricValue(await scrape(metricsPort), 'controller_runtime_reconcile_total', { controller: name }) > before);
  await new Promise((r) => setTimeout(r, 1_000));
  const later = (await get(td)) as Obj;
  expect(later.metadata.resourceVersion).toBe(labelled.metadata.resourceVersion);
});

test('deletion: the finalizer is removed (only ours) and the object goes away', async () => {
  const alerts = objects.find((o) => o.kind === 'AlertRuleSet') as KindObject;
  const res = plural.AlertRuleSet as string;
  // A finalizer of someone else must survive our cleanup.
  await run(['patch', res, alerts.metadata.name, '-n', ns, '--type=json', '-p', JSON.stringify([{ op: 'add', path: '/metadata/finalizers/-', value: 'example.com/keep' }])]);
  await run(['delete', res, alerts.metadata.name, '-n', ns, '--wait=false']);
  const held = await eventually('our finalizer removed', async () => {
    const cur = await get(alerts);
    return cur && cur.metadata.deletionTimestamp && !cur.metadata.finalizers?.includes(FINALIZER) ? cur : undefined;
  });
  expect(held.metadata.finalizers).toEqual(['example.com/keep']);
  await run(['patch', res, alerts.metadata.name, '-n', ns, '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
  await eventually('object gone', async () => (await get(alerts)) === undefined);

  const mig = objects.find((o) => o.kind === 'Migration') as KindObject;
  await run(['delete', plural.Migration as string, mig.metadata.name, '-n', ns, '--timeout=30s']);
  expect(await get(mig)).toBeUndefined();
});

test('metrics: reconcile counters per controller, no errors, queues drained', async () => {
  const text = await scrape(metricsPort);
  for (const c of Object.values(controllerOf)) {
    // At least the finalizer pass and the status pass of the object created above.
    expect(metricValue(text, 'controller_runtime_reconcile_total', { controller: c })).toBeGreaterThanOrEqual(2);
    expect(metricValue(text, 'controller_runtime_max_concurrent_reconciles', { controller: c })).toBe(2);
    expect(metricValue(text, 'workqueue_depth', { name: c })).toBe(0);
    expect(metricValue(text, 'workqueue_adds_total', { name: c })).toBeGreaterThanOrEqual(2);
    expect(metricValue(text, 'controller_runtime_reconcile_time_seconds_count', { controller: c })).toBe(
      metricValue(text, 'controller_runtime_reconcile_total', { controller: c }),
    );
  }
});
