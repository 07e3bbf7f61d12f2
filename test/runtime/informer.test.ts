// The informer against a private control plane (so its apiserver can be restarted without disturbing
// other tests), reached through a TCP proxy that can cut or black-hole the connection. Whatever breaks,
// the informer's view must end up equal to the apiserver's, with every create, update and delete made
// in the meantime delivered to its handlers.
import type { Informer } from '../../src/runtime/informer.js';
import type { KubeClient, KubeObject, ResourceRef } from '../../src/runtime/kubeclient.js';
import type { ControlPlane } from '../../dev/env/controlplane.js';
import { eventually, startInformer } from './helpers.js';
import { startPrivateCluster, type PrivateCluster } from './private-cluster.js';
import type { TcpProxy } from './tcp-proxy.js';

const CONFIGMAPS: ResourceRef = { group: '', version: 'v1', plural: 'configmaps' };
const NS = 'informer-test';

let cluster: PrivateCluster;
let cp: ControlPlane;
let proxy: TcpProxy;
let direct: KubeClient;
let informer: Informer;
let stopInformer: (() => Promise<void>) | undefined;
/** The informer's view as rebuilt from handler calls alone. */
const mirror = new Map<string, { rv: string; value: string | undefined }>();
const deleted: string[] = [];

function record(obj: KubeObject): void {
  mirror.set(obj.metadata.name, { rv: obj.metadata.resourceVersion ?? '', value: (obj.data as Record<string, string> | undefined)?.value });
}

async function actual(): Promise<Map<string, { rv: string; value: string | undefined }>> {
  const list = await direct.request<{ items: KubeObject[] }>('GET', `/api/v1/namespaces/${NS}/configmaps`);
  return new Map(list.items.map((o) => [o.metadata.name, { rv: o.metadata.resourceVersion ?? '', value: (o.data as Record<string, string> | undefined)?.value }]));
}

async function inSync(): Promise<boolean> {
  const want = await actual();
  if (want.size !== mirror.size) return false;
  for (const [k, v] of want) {
    const m = mirror.get(k);
    if (!m || m.rv !== v.rv || m.value !== v.value) return false;
  }
  return true;
}

const cm = (name: string, value: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: NS }, data: { value } });
const create = (name: string, value: string) => direct.create(CONFIGMAPS, NS, cm(name, value));
const update = (name: string, value: string) => direct.patch(CONFIGMAPS, NS, name, 'merge', { data: { value } });
const remove = (name: string) => direct.delete(CONFIGMAPS, NS, name);

beforeAll(async () => {
  cluster = await startPrivateCluster('rt-informer');
  ({ cp, proxy, direct } = cluster);
  await direct.create({ group: '', version: 'v1', plural: 'namespaces' }, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  // More objects than one list page, so the first list paginates.
  await Promise.all(Array.from({ length: 25 }, (_, i) => create(`seed-${i}`, 'v1')));

  ({ informer, stop: stopInformer } = startInformer(
    cluster.viaProxy,
    { resource: CONFIGMAPS, namespace: NS, pageSize: 10, minWatchTimeoutSeconds: 3, watchdogGraceMs: 1_000, initialBackoffMs: 100, maxBackoffMs: 1_000 },
    { onAdd: record, onUpdate: (_o, n) => record(n), onDelete: (o) => (mirror.delete(o.metadata.name), deleted.push(o.metadata.name)) },
  ));
  await informer.waitForSync();
}, 120_000);

afterAll(async () => {
  await stopInformer?.();
  await cluster?.stop();
});

test('the first list is paginated and complete', async () => {
  expect(informer.hasSynced()).toBe(true);
  expect(mirror.size).toBe(25);
  expect(informer.stats.pages).toBe(3);
  expect(await inSync()).toBe(true);
});

test('survives an apiserver restart', async () => {
  await create('a1', 'v1');
  await eventually('a1 seen', async () => mirror.get('a1')?.value === 'v1');
  await cp.stopApiserver();
  await new Promise((r) => setTimeout(r, 1_500)); // the informer sees the apiserver gone and retries
  await cp.startApiserver();
  await create('a2', 'v1');
  await update('a1', 'v2');
  await eventually('informer in sync after restart', inSync, 60_000);
  expect(mirror.get('a1')?.value).toBe('v2');
  expect(informer.stats.errors).toBeGreaterThan(0);
}, 120_000);

test('changes made while the watch is cut off and its resourceVersion expired (410) are all delivered', async () => {
  const goneBefore = informer.stats.gone;
  const listsBefore = informer.stats.lists;
  await eventually('in sync before the cut', inSync);
  proxy.cut();
  await create('b1', 'v1');
  await update('a2', 'v2');
  await remove('a1');
  await remove('seed-0');
  // A fresh apiserver's watch cache starts after the informer's resourceVersion: resuming is a 410.
  await cp.stopApiserver();
  await cp.startApiserver();
  await update('b1', 'v2');
  proxy.heal();
  await eventually('informer in sync after the partition', inSync, 60_000);
  expect(informer.stats.gone).toBeGreaterThan(goneBefore);
  expect(informer.stats.lists).toBeGreaterThan(listsBefore);
  expect(deleted).toEqual(expect.arrayContaining(['a1', 'seed-0']));
  expect(mirror.get('b1')?.value).toBe('v2');
  expect(mirror.get('a2')?.value).toBe('v2');
  expect(mirror.has('a1')).toBe(false);
}, 120_000);

test('a watch that goes silent is restarted by the watchdog', async () => {
  const stallsBefore = informer.stats.stalls;
  proxy.blackhole();
  await create('c1', 'v1');
  await eventually('watchdog fired', async () => informer.stats.stalls > stallsBefore, 30_000);
  expect(mirror.has('c1')).toBe(false); // nothing got through the hole
  proxy.heal();
  await eventually('informer in sync after the black hole', inSync, 30_000);
  expect(mirror.get('c1')?.value).toBe('v1');
}, 60_000);

test('quiet watches end at their server-side timeout and resume from their resourceVersion without relisting', async () => {
  const before = { ...informer.stats };
  await new Promise((r) => setTimeout(r, 9_000)); // longer than the longest watch timeout (2 × 3 s)
  expect(informer.stats.watches).toBeGreaterThan(before.watches);
  expect(informer.stats.lists).toBe(before.lists);
  expect(informer.stats.errors).toBe(before.errors);
  expect(await inSync()).toBe(true);
}, 30_000);
