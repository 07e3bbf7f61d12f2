// Related objects reach a controller's queue through ControllerSpec.watches (a map function, as
// controller-runtime's Watches with EnqueueRequestsFromMapFunc) and owns (owner references, as Owns),
// against the real apiserver: a change of a referenced Secret, of an owned Secret and of another kind
// each bring the right object back to its reconcile, and nothing else is enqueued.
import { Manager } from '../../src/runtime/manager.js';
import type { KubeObject } from '../../src/runtime/kubeclient.js';
import { createTestNamespace, kubeConfig } from '../../dev/env/testenv.js';
import { eventually, installCrds, run, testLogger } from './helpers.js';

const BACKUPS = { group: 'tenantdb.io', version: 'v1alpha1', plural: 'backuppolicies' };
const ALERTS = { group: 'tenantdb.io', version: 'v1alpha1', plural: 'alertrulesets' };
const SECRETS = { group: '', version: 'v1', plural: 'secrets' };
let ns: string;
let mgr: Manager;
const seen: string[] = [];
const count = (name: string) => seen.filter((n) => n === name).length;

beforeAll(async () => {
  await installCrds();
  ns = await createTestNamespace('rt-watch');
  mgr = new Manager({ kubeConfig: kubeConfig(), logger: testLogger(), namespaces: [ns], metricsBindAddress: '0', healthProbeBindAddress: '0' });
  mgr.addController({
    name: 'watch-probe',
    resource: BACKUPS,
    reconcile: async (_ctx, req) => {
      seen.push(req.name);
      return {};
    },
    // A BackupPolicy "refers" to the Secret named in its annotation; AlertRuleSets map to the policy of their databaseRef.
    watches: [
      {
        resource: SECRETS,
        map: (s: KubeObject) =>
          mgr
            .listCached(BACKUPS, s.metadata.namespace)
            .filter((b) => b.metadata.annotations?.['test/secret'] === s.metadata.name)
            .map((b) => ({ namespace: b.metadata.namespace, name: b.metadata.name })),
      },
      { resource: ALERTS, map: (a: KubeObject) => [{ namespace: a.metadata.namespace, name: (a as unknown as { spec: { databaseRef: { name: string } } }).spec.databaseRef.name }] },
    ],
    owns: [SECRETS],
  });
  await mgr.start();
});

afterAll(async () => {
  await mgr?.stop();
  if (ns) await run(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
});

const policy = (name: string, secret?: string) => ({
  apiVersion: 'tenantdb.io/v1alpha1',
  kind: 'BackupPolicy',
  metadata: { name, namespace: ns, ...(secret ? { annotations: { 'test/secret': secret } } : {}) },
  spec: { databaseRef: { name: 'db' } },
});

test('a change of a referenced Secret reconciles the objects that refer to it, and only them', async () => {
  await run(['create', '-f', '-'], JSON.stringify(policy('refers', 'creds')));
  await run(['create', '-f', '-'], JSON.stringify(policy('bystander')));
  await eventually('first reconciles', async () => count('refers') >= 1 && count('bystander') >= 1);
  const before = { refers: count('refers'), bystander: count('bystander') };
  await run(['create', 'secret', 'generic', 'creds', '-n', ns, '--from-literal=k=v1']);
  await eventually('reconcile after Secret create', async () => count('refers') > before.refers);
  const afterCreate = count('refers');
  await run(['patch', 'secret', 'creds', '-n', ns, '--type=merge', '-p', JSON.stringify({ stringData: { k: 'v2' } })]);
  await eventually('reconcile after Secret update', async () => count('refers') > afterCreate);
  const afterUpdate = count('refers');
  await run(['delete', 'secret', 'creds', '-n', ns]);
  await eventually('reconcile after Secret delete', async () => count('refers') > afterUpdate);
  expect(count('bystander')).toBe(before.bystander);
});

test('an owned Secret brings its owner back; another kind maps through its reference', async () => {
  const owner = JSON.parse(await run(['create', '-o', 'json', '-f', '-'], JSON.stringify(policy('owner')))) as KubeObject;
  await eventually('owner reconciled', async () => count('owner') >= 1);
  const n0 = count('owner');
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: 'owned',
      namespace: ns,
      ownerReferences: [{ apiVersion: 'tenantdb.io/v1alpha1', kind: 'BackupPolicy', name: 'owner', uid: owner.metadata.uid, controller: true }],
    },
    stringData: { a: 'b' },
  };
  await run(['create', '-f', '-'], JSON.stringify(secret));
  await eventually('owner reconciled after its Secret appeared', async () => count('owner') > n0);
  const n1 = count('owner');
  await run(['create', '-f', '-'], JSON.stringify({ apiVersion: 'tenantdb.io/v1alpha1', kind: 'AlertRuleSet', metadata: { name: 'alerts', namespace: ns }, spec: { databaseRef: { name: 'owner' } } }));
  await eventually('owner reconciled after an AlertRuleSet naming it appeared', async () => count('owner') > n1);
});
