// Manager behaviour against the real apiserver: graceful shutdown (in-flight reconciles finish, bounded
// by the grace period), periodic resync, losing the lease, and Event series.
import { setTimeout as sleep } from 'node:timers/promises';
import { EVENTS, EventRecorder } from '../../src/runtime/events.js';
import { KubeClient, type KubeObject } from '../../src/runtime/kubeclient.js';
import { LEASES } from '../../src/runtime/leader-election.js';
import { Manager } from '../../src/runtime/manager.js';
import { FINALIZER, reconcileWith } from '../../src/runtime/reconcile-kit.js';
import { validateBackupPolicy } from '../../src/api/backuppolicy.js';
import { createTestNamespace, kubeConfig } from '../../dev/env/testenv.js';
import { eventually, installCrds, run, testLogger } from './helpers.js';

const BACKUPS = { group: 'tenantdb.io', version: 'v1alpha1', plural: 'backuppolicies' };
let ns: string;

const policy = (name: string) => ({ apiVersion: 'tenantdb.io/v1alpha1', kind: 'BackupPolicy', metadata: { name, namespace: ns }, spec: { databaseRef: { name: 'db' } } });

function newManager(extra: Partial<ConstructorParameters<typeof Manager>[0]> = {}): Manager {
  return new Manager({ kubeConfig: kubeConfig(), logger: testLogger(), namespaces: [ns], metricsBindAddress: '0', healthProbeBindAddress: '0', ...extra });
}

/** The probes that use the kit put its finalizer on every policy here; no controller is left to take it off. */
async function clearFinalizers(): Promise<void> {
  const names = (await run(['get', 'backuppolicies.tenantdb.io', '-n', ns, '-o', 'name'])).split('\n').filter(Boolean);
  for (const n of names) await run(['patch', n, '-n', ns, '--type=merge', '-p', '{"metadata":{"finalizers":null}}']).catch(() => undefined);
}

beforeAll(async () => {
  await installCrds();
  ns = await createTestNamespace('rt-mgr');
});

afterAll(async () => {
  if (ns) await run(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
});

test('graceful stop: an in-flight reconcile finishes, no new work starts', async () => {
  const mgr = newManager({ gracefulShutdownTimeoutMs: 10_000 });
  const started: string[] = [];
  const finished: string[] = [];
  mgr.addController({
    name: 'graceful-probe',
    resource: BACKUPS,
    reconcile: async (_ctx, req) => {
      started.push(req.name);
      await sleep(1_500);
      finished.push(req.name);
      return {};
    },
  });
  await mgr.start();
  await run(['create', '-f', '-'], JSON.stringify(policy('slow-1')));
  await eventually('reconcile started', async () => started.includes('slow-1'));
  const stopping = mgr.stop();
  await run(['create', '-f', '-'], JSON.stringify(policy('slow-2')));
  await stopping;
  expect(finished).toEqual(['slow-1']);
  expect(started).toEqual(['slow-1']);
  expect(await mgr.done).toBe('stopped');
});

test('graceful stop is bounded: a reconcile past the grace period is told to abort', async () => {
  const mgr = newManager({ gracefulShutdownTimeoutMs: 300 });
  let sawAbort = false;
  let running = false;
  mgr.addController({
    name: 'stuck-probe',
    resource: BACKUPS,
    reconcile: async (ctx) => {
      running = true;
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
      sawAbort = true;
      return {};
    },
  });
  await mgr.start();
  await eventually('reconcile running', async () => running);
  const t = Date.now();
  await mgr.stop();
  expect(Date.now() - t).toBeLessThan(3_000);
  expect(sawAbort).toBe(true);
});

test('periodic resync reconciles unchanged objects again', async () => {
  const mgr = newManager({ syncPeriodMs: 1_000 });
  const count = new Map<string, number>();
  mgr.addController({
    name: 'resync-probe',
    resource: BACKUPS,
    reconcile: async (_ctx, req) => {
      count.set(req.name, (count.get(req.name) ?? 0) + 1);
      return {};
    },
  });
  await mgr.start();
  try {
    await eventually('three passes over slow-1 without any change', async () => (count.get('slow-1') ?? 0) >= 3, 15_000);
  } finally {
    await mgr.stop();
  }
});

test('the finalizer a pass adds brings no second pass; one removed brings a pass that puts it back', async () => {
  const mgr = newManager();
  const passes = new Map<string, number>();
  mgr.addController({
    name: 'finalizer-probe',
    resource: BACKUPS,
    reconcile: reconcileWith(mgr, {
      kind: 'BackupPolicy',
      validate: validateBackupPolicy,
      reconcile: async (ctx) => {
        passes.set(ctx.name, (passes.get(ctx.name) ?? 0) + 1);
        return {};
      },
    }),
  });
  await mgr.start();
  const client = new KubeClient(kubeConfig());
  try {
    await run(['create', '-f', '-'], JSON.stringify(policy('fin-1')));
    const finalizers = async () => ((await client.get(BACKUPS, ns, 'fin-1')) as KubeObject).metadata.finalizers ?? [];
    await eventually('our finalizer', async () => (await finalizers()).includes(FINALIZER));
    await sleep(1_000);
    expect(passes.get('fin-1')).toBe(1);
    await run(['patch', 'backuppolicies.tenantdb.io', 'fin-1', '-n', ns, '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
    await eventually('a second pass puts it back', async () => passes.get('fin-1') === 2 && (await finalizers()).includes(FINALIZER));
  } finally {
    await mgr.stop();
    client.close();
    await clearFinalizers();
  }
});

test('finalizerAlongside: the pass runs while the finalizer is added, and finalizerHeld settles only once the object holds it', async () => {
  const mgr = newManager();
  const client = new KubeClient(kubeConfig());
  const heldOnServer: boolean[] = [];
  mgr.addController({
    name: 'alongside-probe',
    resource: BACKUPS,
    reconcile: reconcileWith(mgr, {
      kind: 'BackupPolicy',
      validate: validateBackupPolicy,
      finalizerAlongside: true,
      reconcile: async (ctx) => {
        if (ctx.name !== 'fin-2') return {};
        await ctx.finalizerHeld;
        const now = (await client.get(BACKUPS, ns, 'fin-2')) as KubeObject;
        heldOnServer.push((now.metadata.finalizers ?? []).includes(FINALIZER));
        return {};
      },
    }),
  });
  await mgr.start();
  try {
    await run(['create', '-f', '-'], JSON.stringify(policy('fin-2')));
    await eventually('the pass', async () => heldOnServer.length > 0);
    await sleep(500);
    expect(heldOnServer).toEqual([true]);
  } finally {
    await mgr.stop();
    client.close();
    await clearFinalizers();
  }
});

test('losing the lease stops the manager with reason leadership-lost', async () => {
  const mgr = newManager({
    leaderElection: { enabled: true, namespace: ns, id: 'lost-lease', leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 300 },
  });
  mgr.addController({ name: 'lease-probe', resource: BACKUPS, reconcile: async () => ({}) });
  await mgr.start();
  await eventually('leading', async () => mgr.isLeader());
  // Someone else takes the lease (as after a long pause of this process): renewals now fail.
  const client = new KubeClient(kubeConfig());
  try {
    await client.patch(LEASES, ns, 'lost-lease', 'merge', { spec: { holderIdentity: 'intruder', leaseDurationSeconds: 60 } });
    const reason = await Promise.race([mgr.done, sleep(10_000, 'timeout', { ref: false })]);
    expect(reason).toBe('leadership-lost');
    expect(mgr.isLeader()).toBe(false);
  } finally {
    await mgr.stop();
    client.close();
  }
});

test('a repeated event becomes a series on one Event object', async () => {
  const client = new KubeClient(kubeConfig());
  try {
    const obj = await client.get<KubeObject>(BACKUPS, ns, 'slow-1');
    const rec = new EventRecorder(client, testLogger());
    await rec.event(obj, 'Warning', 'ProbeFailed', 'Probe', 'same note');
    await rec.event(obj, 'Warning', 'ProbeFailed', 'Probe', 'same note');
    await rec.event(obj, 'Warning', 'ProbeFailed', 'Probe', 'same note');
    await rec.event(obj, 'Normal', 'Other', 'Probe', 'different');
    const list = await client.request<{ items: Array<{ reason: string; series?: { count: number }; regarding: { uid: string }; note: string }> }>(
      'GET',
      `/apis/${EVENTS.group}/${EVENTS.version}/namespaces/${ns}/events`,
    );
    const mine = list.items.filter((e) => e.regarding.uid === obj.metadata.uid);
    expect(mine.filter((e) => e.reason === 'ProbeFailed')).toEqual([expect.objectContaining({ note: 'same note', series: expect.objectContaining({ count: 3 }) })]);
    expect(mine.filter((e) => e.reason === 'Other')).toHaveLength(1);
  } finally {
    client.close();
  }
});
