// A watch served straight from etcd (no watch cache) that resumes from a compacted revision gets its
// 410 as an ERROR event inside a 200 stream, not as the HTTP answer; the informer must relist on that
// too and deliver what changed while it was away.
import type { Informer } from '../../src/runtime/informer.js';
import { ApiError, type KubeObject, type ResourceRef } from '../../src/runtime/kubeclient.js';
import { eventually, startInformer } from './helpers.js';
import { startPrivateCluster, type PrivateCluster } from './private-cluster.js';

const CONFIGMAPS: ResourceRef = { group: '', version: 'v1', plural: 'configmaps' };
const NS = 'compaction-test';

let cluster: PrivateCluster;
let informer: Informer;
let stopInformer: (() => Promise<void>) | undefined;
const mirror = new Map<string, string | undefined>();

const value = (o: KubeObject) => (o.data as Record<string, string> | undefined)?.value;
const cm = (name: string, v: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: NS }, data: { value: v } });

beforeAll(async () => {
  cluster = await startPrivateCluster('rt-compaction', ['--watch-cache-sizes=configmaps#0', '--etcd-compaction-interval=2s']);
  const { direct } = cluster;
  await direct.create({ group: '', version: 'v1', plural: 'namespaces' }, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  for (const n of ['k1', 'k2', 'k3']) await direct.create(CONFIGMAPS, NS, cm(n, 'v1'));
  ({ informer, stop: stopInformer } = startInformer(
    cluster.viaProxy,
    { resource: CONFIGMAPS, namespace: NS, initialBackoffMs: 100, maxBackoffMs: 500 },
    {
      onAdd: (o) => mirror.set(o.metadata.name, value(o)),
      onUpdate: (_o, n) => mirror.set(n.metadata.name, value(n)),
      onDelete: (o) => mirror.delete(o.metadata.name),
    },
  ));
  await informer.waitForSync();
}, 120_000);

afterAll(async () => {
  await stopInformer?.();
  await cluster?.stop();
});

test('an ERROR 410 event inside the watch stream leads to a relist that loses nothing', async () => {
  const { direct, proxy } = cluster;
  const staleRv = informer.lastSyncResourceVersion();
  const before = { ...informer.stats };
  proxy.cut();
  await direct.create(CONFIGMAPS, NS, cm('k4', 'v1'));
  await direct.patch(CONFIGMAPS, NS, 'k1', 'merge', { data: { value: 'v2' } });
  await direct.delete(CONFIGMAPS, NS, 'k2');
  // Wait until etcd has compacted past the informer's resourceVersion.
  await eventually(
    'compaction past the informer resourceVersion',
    async () => {
      try {
        await direct.request('GET', `/api/v1/namespaces/${NS}/configmaps`, { query: { resourceVersion: staleRv, resourceVersionMatch: 'Exact' } });
        return false;
      } catch (err) {
        return err instanceof ApiError && err.statusCode === 410;
      }
    },
    30_000,
    500,
  );
  proxy.heal();
  await eventually('informer caught up', async () => mirror.size === 3 && mirror.get('k1') === 'v2' && mirror.get('k4') === 'v1' && !mirror.has('k2'), 30_000);
  expect(informer.stats.errorEvents).toBeGreaterThan(before.errorEvents);
  expect(informer.stats.gone).toBeGreaterThan(before.gone);
  expect(informer.stats.lists).toBeGreaterThan(before.lists);
}, 90_000);
