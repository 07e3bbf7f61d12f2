// Reading Secrets without caching them cluster-wide (Manager `secrets: { cache: 'selective' }`), against
// the real apiserver: the operator's own Secrets (managed-by label) come from a label-selected informer,
// others are read by name once and then served from a bounded cache until the metadata watch shows a
// change or a delete; an absent Secret costs no request; a controller watching Secrets is still woken
// by a change of a Secret it refers to, managed or not; and the cluster-wide path refuses Secrets.
import type { KubeObject } from '../../src/runtime/kubeclient.js';
import { Manager } from '../../src/runtime/manager.js';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, SECRETS } from '../../src/runtime/secret-cache.js';
import { createTestNamespace, kubeConfig } from '../../dev/env/testenv.js';
import { eventually, installCrds, run, testLogger } from './helpers.js';

const BACKUPS = { group: 'tenantdb.io', version: 'v1alpha1', plural: 'backuppolicies' };
let ns: string;
let mgr: Manager;
const seen: string[] = [];

const secret = (name: string, value: string, labels: Record<string, string> = {}) =>
  JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns, labels }, stringData: { password: value } });
const stats = () => (mgr as unknown as { secretCache: { stats: { managedHits: number; cacheHits: number; gets: number; absent: number } } }).secretCache.stats;

beforeAll(async () => {
  await installCrds();
  ns = await createTestNamespace('rt-secrets');
  await run(['apply', '-f', '-'], secret('creds', 'one'));
  await run(['apply', '-f', '-'], secret('mine', 'ours', { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE }));
  mgr = new Manager({ kubeConfig: kubeConfig(), logger: testLogger(), namespaces: [ns], metricsBindAddress: '0', healthProbeBindAddress: '0', secrets: { cache: 'selective', maxEntries: 2 } });
  mgr.addController({
    name: 'secret-probe',
    resource: BACKUPS,
    reconcile: async (_ctx, req) => {
      seen.push(req.name);
      return {};
    },
    watches: [
      {
        resource: SECRETS,
        map: (s: KubeObject) =>
          mgr
            .listCached(BACKUPS, s.metadata.namespace)
            .filter((b) => b.metadata.annotations?.['test/secret'] === s.metadata.name)
            .map((b) => ({ namespace: b.metadata.namespace, name: b.metadata.name })),
      },
    ],
  });
  await mgr.start();
  await eventually('caches synced', async () => mgr.cachesSynced());
});

afterAll(async () => {
  await mgr?.stop();
  if (ns) await run(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
});

test('an unmanaged Secret is read by name once, then served from the cache until it changes', async () => {
  expect(await mgr.getSecretData(ns, 'creds')).toEqual({ password: 'one' });
  const gets = stats().gets;
  expect(await mgr.getSecretData(ns, 'creds')).toEqual({ password: 'one' });
  expect(stats().gets).toBe(gets);
  await run(['apply', '-f', '-'], secret('creds', 'two'));
  // The metadata watch sees the new resourceVersion; the next read goes to the apiserver.
  await eventually('the changed value', async () => (await mgr.getSecretData(ns, 'creds'))?.password === 'two');
  expect(stats().gets).toBeGreaterThan(gets);
  await run(['delete', 'secret', 'creds', '-n', ns]);
  await eventually('the deleted Secret is gone', async () => (await mgr.getSecret(ns, 'creds')) === undefined);
});

test('an absent Secret costs no request; the operator’s own Secrets come from their informer', async () => {
  const gets = stats().gets;
  expect(await mgr.getSecret(ns, 'never-created')).toBeUndefined();
  expect(stats().gets).toBe(gets);
  const managed = stats().managedHits;
  expect(await mgr.getSecretData(ns, 'mine')).toEqual({ password: 'ours' });
  expect(stats().managedHits).toBe(managed + 1);
  expect(stats().gets).toBe(gets);
});

test('the by-name cache is bounded', async () => {
  for (const n of ['b1', 'b2', 'b3']) await run(['apply', '-f', '-'], secret(n, n));
  for (const n of ['b1', 'b2', 'b3']) await eventually(`${n} readable`, async () => (await mgr.getSecretData(ns, n))?.password === n);
  const cache = (mgr as unknown as { secretCache: { byName: Map<string, unknown> } }).secretCache.byName;
  expect(cache.size).toBeLessThanOrEqual(2);
  expect([...cache.keys()]).not.toContain(`${ns}/b1`);
});

test('a controller watching Secrets is woken by a referenced Secret, managed or not', async () => {
  const policy = (name: string, ref: string) => JSON.stringify({ apiVersion: 'tenantdb.io/v1alpha1', kind: 'BackupPolicy', metadata: { name, namespace: ns, annotations: { 'test/secret': ref } }, spec: { databaseRef: { name: 'db' } } });
  await run(['create', '-f', '-'], policy('wants-late', 'late'));
  await run(['create', '-f', '-'], policy('wants-mine', 'mine'));
  await eventually('first reconciles', async () => seen.includes('wants-late') && seen.includes('wants-mine'));
  const before = { late: seen.filter((n) => n === 'wants-late').length, mine: seen.filter((n) => n === 'wants-mine').length };
  await run(['apply', '-f', '-'], secret('late', 'x'));
  await run(['apply', '-f', '-'], secret('mine', 'changed', { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE }));
  await eventually('both woken', async () => seen.filter((n) => n === 'wants-late').length > before.late && seen.filter((n) => n === 'wants-mine').length > before.mine);
  expect(await mgr.getSecretData(ns, 'late')).toEqual({ password: 'x' });
});

test('Secrets are not listed or read from a cluster-wide cache', () => {
  expect(() => mgr.getCached(SECRETS, ns, 'mine')).toThrow(/getSecret/);
  expect(() => mgr.listCached(SECRETS, ns)).toThrow(/getSecret/);
});
