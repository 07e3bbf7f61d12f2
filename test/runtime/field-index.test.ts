// The field index: pure bookkeeping (add, re-index on update, delete, namespaces kept apart), and the
// Manager's indexField/byIndex kept current by a real informer.
import { FieldIndex } from '../../src/runtime/field-index.js';
import type { KubeObject } from '../../src/runtime/kubeclient.js';
import { Manager } from '../../src/runtime/manager.js';
import { createTestNamespace, kubeConfig } from '../../dev/env/testenv.js';
import { eventually, installCrds, run, testLogger } from './helpers.js';

const obj = (namespace: string, name: string, refs: string[]): KubeObject => ({ metadata: { namespace, name }, spec: { refs } }) as KubeObject;
const byRefs = (o: KubeObject) => ((o.spec ?? {}) as { refs?: string[] }).refs ?? [];

describe('FieldIndex', () => {
  it('finds objects by value, per namespace', () => {
    const idx = new FieldIndex('refs', byRefs);
    idx.upsert(obj('a', 'x', ['s1', 's2', 's1']));
    idx.upsert(obj('a', 'y', ['s2']));
    idx.upsert(obj('b', 'z', ['s1']));
    expect(idx.keys('a', 's1')).toEqual(['a/x']);
    expect(idx.keys('a', 's2').sort()).toEqual(['a/x', 'a/y']);
    expect(idx.keys('b', 's1')).toEqual(['b/z']);
    expect(idx.keys('a', 'nope')).toEqual([]);
    expect(idx.size).toBe(3);
  });
  it('re-indexes on update and forgets on delete', () => {
    const idx = new FieldIndex('refs', byRefs);
    idx.upsert(obj('a', 'x', ['s1']));
    idx.upsert(obj('a', 'x', ['s2']));
    expect(idx.keys('a', 's1')).toEqual([]);
    expect(idx.keys('a', 's2')).toEqual(['a/x']);
    idx.upsert(obj('a', 'x', []));
    expect(idx.keys('a', 's2')).toEqual([]);
    expect(idx.size).toBe(0);
    idx.upsert(obj('a', 'x', ['s3']));
    idx.delete(obj('a', 'x', []));
    expect(idx.keys('a', 's3')).toEqual([]);
  });
  it('indexes an object whose index function throws under nothing', () => {
    const idx = new FieldIndex('bad', () => {
      throw new Error('boom');
    });
    idx.upsert(obj('a', 'x', ['s1']));
    expect(idx.size).toBe(0);
  });
});

describe('Manager.indexField', () => {
  const BACKUPS = { group: 'tenantdb.io', version: 'v1alpha1', plural: 'backuppolicies' };
  let ns: string;
  const policy = (name: string, db: string) => ({ apiVersion: 'tenantdb.io/v1alpha1', kind: 'BackupPolicy', metadata: { name, namespace: ns }, spec: { databaseRef: { name: db } } });

  beforeAll(async () => {
    await installCrds();
    ns = await createTestNamespace('rt-index');
  });
  afterAll(async () => {
    if (ns) await run(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  });

  test('follows creates, updates and deletes; unknown index names are an error', async () => {
    const mgr = new Manager({ kubeConfig: kubeConfig(), logger: testLogger(), namespaces: [ns], metricsBindAddress: '0', healthProbeBindAddress: '0' });
    const byDb = (o: KubeObject) => [((o.spec ?? {}) as { databaseRef: { name: string } }).databaseRef.name];
    mgr.indexField(BACKUPS, 'db', byDb);
    mgr.indexField(BACKUPS, 'db', () => ['ignored']); // same name: the first function stays
    expect(() => mgr.byIndex(BACKUPS, 'other', ns, 'x')).toThrow(/no index other/);
    await run(['create', '-f', '-'], JSON.stringify(policy('p1', 'orders')));
    await mgr.start();
    try {
      const names = (db: string) => mgr.byIndex(BACKUPS, 'db', ns, db).map((o) => o.metadata.name).sort().join(',');
      await eventually('initial list indexed', async () => names('orders') === 'p1');
      await run(['create', '-f', '-'], JSON.stringify(policy('p2', 'orders')));
      await eventually('create indexed', async () => names('orders') === 'p1,p2');
      await run(['patch', 'backuppolicies.tenantdb.io', 'p1', '-n', ns, '--type=merge', '-p', JSON.stringify({ spec: { databaseRef: { name: 'billing' } } })]);
      await eventually('update re-indexed', async () => names('orders') === 'p2' && names('billing') === 'p1');
      await run(['delete', 'backuppolicies.tenantdb.io', 'p2', '-n', ns]);
      await eventually('delete forgotten', async () => names('orders') === '');
      expect(mgr.byIndex(BACKUPS, 'db', 'elsewhere', 'billing')).toEqual([]);
      // An index registered after the caches synced starts from the cache.
      mgr.indexField(BACKUPS, 'late', byDb);
      expect(mgr.byIndex(BACKUPS, 'late', ns, 'billing').map((o) => o.metadata.name)).toEqual(['p1']);
    } finally {
      await mgr.stop();
    }
  });
});
