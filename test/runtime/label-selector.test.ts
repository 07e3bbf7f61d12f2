// Label-selected informers against the real apiserver: an informer with a label selector holds exactly
// the objects that match (an object whose label changes moves in as an add and out as a delete), a
// metadata-only informer holds no data, and a Manager with a watch selector (sharding) reconciles only
// the objects of its shard, while another shard's manager takes the rest.
import type { KubeObject, ResourceRef } from '../../src/runtime/kubeclient.js';
import { Manager } from '../../src/runtime/manager.js';
import { createTestNamespace, kubeConfig } from '../../dev/env/testenv.js';
import { eventually, installCrds, run, startInformer, testLogger } from './helpers.js';

const CONFIGMAPS: ResourceRef = { group: '', version: 'v1', plural: 'configmaps' };
const BACKUPS: ResourceRef = { group: 'tenantdb.io', version: 'v1alpha1', plural: 'backuppolicies' };
const KEY = 'sharding.tenantdb.io/key';
let ns: string;
const stops: Array<() => Promise<void>> = [];

beforeAll(async () => {
  await installCrds();
  ns = await createTestNamespace('rt-selector');
});

afterAll(async () => {
  for (const stop of stops) await stop();
  if (ns) await run(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
});

const cm = (name: string, labels: Record<string, string>) => JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns, labels }, data: { value: name } });
const names = (objs: KubeObject[]) => objs.map((o) => o.metadata.name).sort();

test('an informer with a label selector holds exactly the matching objects, following label changes', async () => {
  await run(['create', '-f', '-'], cm('in-a', { [KEY]: 'a' }));
  await run(['create', '-f', '-'], cm('in-b', { [KEY]: 'b' }));
  await run(['create', '-f', '-'], cm('plain', {}));
  const added: string[] = [];
  const deleted: string[] = [];
  const a = startInformer(kubeConfig(), { resource: CONFIGMAPS, namespace: ns, labelSelector: `${KEY}=a` }, { onAdd: (o) => added.push(o.metadata.name), onDelete: (o) => deleted.push(o.metadata.name) });
  const rest = startInformer(kubeConfig(), { resource: CONFIGMAPS, namespace: ns, labelSelector: `!${KEY}` }, {});
  stops.push(a.stop, rest.stop);
  await a.informer.waitForSync();
  await rest.informer.waitForSync();
  expect(names(a.informer.list())).toEqual(['in-a']);
  expect(names(rest.informer.list()).filter((n) => n !== 'kube-root-ca.crt')).toEqual(['plain']);

  // Relabelled into the shard: an add; out of it: a delete (the apiserver sends the watch event that way).
  await run(['label', 'configmap', 'in-b', '-n', ns, `${KEY}=a`, '--overwrite']);
  await eventually('in-b enters shard a', async () => a.informer.get(ns, 'in-b'));
  await run(['label', 'configmap', 'in-a', '-n', ns, `${KEY}-`]);
  await eventually('in-a leaves shard a', async () => !a.informer.get(ns, 'in-a'));
  await eventually('in-a joins the unsharded', async () => rest.informer.get(ns, 'in-a'));
  expect(added).toEqual(['in-a', 'in-b']);
  expect(deleted).toEqual(['in-a']);
});

test('a metadata-only informer holds names, labels and resourceVersions, and no data', async () => {
  const m = startInformer(kubeConfig(), { resource: CONFIGMAPS, namespace: ns, metadataOnly: true }, {});
  stops.push(m.stop);
  await m.informer.waitForSync();
  const plain = m.informer.get(ns, 'plain') as KubeObject;
  expect(plain.metadata.resourceVersion).toMatch(/^\d+$/);
  expect(plain.kind).toBe('PartialObjectMetadata');
  expect(plain.data).toBeUndefined();
  // Watch events come as metadata too.
  await run(['create', '-f', '-'], cm('later', { x: 'y' }));
  const later = await eventually('later seen', async () => m.informer.get(ns, 'later'));
  expect(later.metadata.labels).toEqual({ x: 'y' });
  expect(later.data).toBeUndefined();
});

test('managers with a watch selector each reconcile only their shard', async () => {
  const seen: Record<string, string[]> = { a: [], rest: [] };
  const start = async (shard: 'a' | 'rest', labelSelector: string): Promise<Manager> => {
    const mgr = new Manager({
      kubeConfig: kubeConfig(),
      logger: testLogger(),
      namespaces: [ns],
      metricsBindAddress: '0',
      healthProbeBindAddress: '0',
      watchSelector: { labelSelector, appliesTo: (r) => r.group === 'tenantdb.io' },
    });
    mgr.addController({
      name: `shard-${shard}`,
      resource: BACKUPS,
      reconcile: async (_ctx, req) => {
        seen[shard]?.push(req.name);
        return {};
      },
    });
    await mgr.start();
    stops.push(() => mgr.stop());
    return mgr;
  };
  const policy = (name: string, shard?: string) =>
    JSON.stringify({ apiVersion: 'tenantdb.io/v1alpha1', kind: 'BackupPolicy', metadata: { name, namespace: ns, ...(shard ? { labels: { [KEY]: shard } } : {}) }, spec: { databaseRef: { name: 'db' } } });
  await run(['create', '-f', '-'], policy('p-a', 'a'));
  await run(['create', '-f', '-'], policy('p-none'));
  const mgrA = await start('a', `${KEY}=a`);
  const mgrRest = await start('rest', `!${KEY}`);
  await eventually('both shards reconciled their object', async () => seen.a?.includes('p-a') && seen.rest?.includes('p-none'));
  await run(['create', '-f', '-'], policy('p-a2', 'a'));
  await eventually('a new object of shard a', async () => seen.a?.includes('p-a2'));
  // Let any stray event arrive before checking nothing crossed over.
  await new Promise((r) => setTimeout(r, 1_000));
  expect([...new Set(seen.a)].sort()).toEqual(['p-a', 'p-a2']);
  expect([...new Set(seen.rest)]).toEqual(['p-none']);
  expect(names(mgrA.listCached(BACKUPS, ns))).toEqual(['p-a', 'p-a2']);
  expect(names(mgrRest.listCached(BACKUPS, ns))).toEqual(['p-none']);
  // Other kinds (ConfigMaps here) are not sharded: every shard sees them all.
  const cms = mgrA.informer(CONFIGMAPS, ns);
  await cms.waitForSync();
  expect(cms.get(ns, 'plain')).toBeDefined();
});
