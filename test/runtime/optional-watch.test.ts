// An optional watch (WatchSpec.optional: a kind that may not be installed, as Flux's sources) against the
// real apiserver: a manager whose controller watches a kind with no CRD is ready and reconciles at once;
// once the CRD is installed the informer lists it, its cache reports synced, and a change of such an
// object reaches the controller's queue.
import { randomBytes } from 'node:crypto';
import { Manager } from '../../src/runtime/manager.js';
import type { KubeObject } from '../../src/runtime/kubeclient.js';
import { createTestNamespace, kubeConfig } from '../../dev/env/testenv.js';
import { eventually, installCrds, run, testLogger } from './helpers.js';

const BACKUPS = { group: 'tenantdb.io', version: 'v1alpha1', plural: 'backuppolicies' };
// A group of this run's own: the CRD is cluster-wide and other test files run beside this one.
const GROUP = `w${randomBytes(4).toString('hex')}.tenantdb-tests.io`;
const WIDGETS = { group: GROUP, version: 'v1', plural: 'widgets' };
const CRD_NAME = `widgets.${GROUP}`;
let ns: string;
let mgr: Manager;
const seen: string[] = [];

const policy = (name: string) => ({ apiVersion: 'tenantdb.io/v1alpha1', kind: 'BackupPolicy', metadata: { name, namespace: ns }, spec: { databaseRef: { name: 'db' } } });

beforeAll(async () => {
  await installCrds();
  ns = await createTestNamespace('rt-optional');
  mgr = new Manager({ kubeConfig: kubeConfig(), logger: testLogger(), namespaces: [ns], metricsBindAddress: '0', healthProbeBindAddress: '0' });
  mgr.addController({
    name: 'optional-probe',
    resource: BACKUPS,
    reconcile: async (_ctx, req) => {
      seen.push(req.name);
      return {};
    },
    // A widget names the policy to look at again in its label.
    watches: [{ resource: WIDGETS, optional: true, map: (w: KubeObject) => [{ namespace: w.metadata.namespace, name: w.metadata.labels?.policy ?? '' }] }],
  });
  await mgr.start();
});

afterAll(async () => {
  await mgr?.stop();
  await run(['delete', 'crd', CRD_NAME, '--ignore-not-found', '--wait=false']).catch(() => undefined);
  if (ns) await run(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
});

test('without the CRD the manager is ready and reconciles; with it installed later, the watch lists and maps', async () => {
  await eventually('caches synced without the optional kind', async () => mgr.cachesSynced());
  expect(mgr.cacheSynced(WIDGETS, ns)).toBe(false);
  await run(['create', '-f', '-'], JSON.stringify(policy('p1')));
  await eventually('p1 reconciled', async () => seen.includes('p1'));

  await run(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: CRD_NAME },
      spec: {
        group: GROUP,
        scope: 'Namespaced',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
      },
    }),
  );
  await run(['wait', '--for=condition=Established', '--timeout=60s', `crd/${CRD_NAME}`]);
  // The informer lists again with its backoff (the first retries come within seconds).
  await eventually('the optional cache synced once the CRD exists', async () => mgr.cacheSynced(WIDGETS, ns), 60_000, 250);
  const before = seen.filter((n) => n === 'p1').length;
  await run(['create', '-f', '-'], JSON.stringify({ apiVersion: `${GROUP}/v1`, kind: 'Widget', metadata: { name: 'w1', namespace: ns, labels: { policy: 'p1' } } }));
  await eventually('a widget change maps to p1', async () => seen.filter((n) => n === 'p1').length > before);
  expect(mgr.getCached(WIDGETS, ns, 'w1')?.metadata.labels?.policy).toBe('p1');
}, 120_000);
