// The Helm chart with the real tools against a real apiserver: helm lint, the values schema refusing
// typos, every operator flag reachable from values, the hardening the issue asks for, `helm template |
// kubectl apply --dry-run=server` and kubeconform -strict (schemas from the apiserver's OpenAPI v3) for
// the default values and for values turning every option on, then helm install, upgrade (a CRD change
// is applied, custom objects kept) and uninstall (CRDs and custom objects kept).
import fs from 'node:fs';
import path from 'node:path';
import { USAGE } from '../../src/config.js';
import { parseScopePolicy } from '../../src/azure/scope-policy.js';
import { startShipCluster, type ShipCluster } from './cluster.js';
import { writeKubeconformSchemas } from './kube-schemas.js';
import { CHART_DIR, VALUES_ALL, helmEnv, parseManifests, renderChart, runTool, type Manifest } from './tools.js';

let cluster: ShipCluster;
let home: string;
const NS = 'tenantdb-system';

// A stand-in for the Prometheus Operator's ServiceMonitor CRD, so the optional ServiceMonitor can be
// dry-run and validated; its schema keeps the fields the chart sets.
const SERVICE_MONITOR_CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'servicemonitors.monitoring.coreos.com' },
  spec: {
    group: 'monitoring.coreos.com',
    names: { kind: 'ServiceMonitor', listKind: 'ServiceMonitorList', plural: 'servicemonitors', singular: 'servicemonitor' },
    scope: 'Namespaced',
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: {
                type: 'object',
                properties: {
                  selector: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
                  namespaceSelector: { type: 'object', properties: { matchNames: { type: 'array', items: { type: 'string' } } } },
                  endpoints: { type: 'array', items: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
                },
              },
            },
          },
        },
      },
    ],
  },
};

const helm = (args: string[], allowFailure = false) => runTool('helm', args, { env: helmEnv(home, cluster.cp.kubeconfig), allowFailure });
const args = (m: Manifest) => ((m.spec as any).template.spec.containers[0].args as string[]);
const deploymentOf = (objs: Manifest[]) => objs.find((o) => o.kind === 'Deployment') as Manifest;

beforeAll(async () => {
  cluster = await startShipCluster('ship-chart');
  home = path.join(cluster.dir, 'helm');
  for (const ns of [NS, 'team-a', 'team-b', 'tdb-leases']) await cluster.kubectl(['create', 'namespace', ns]);
  await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify(SERVICE_MONITOR_CRD) });
  await cluster.kubectl(['wait', '--for=condition=Established', 'crd/servicemonitors.monitoring.coreos.com']);
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
});

test('helm lint passes for the default values and for every option on', async () => {
  await runTool('helm', ['lint', '--strict', CHART_DIR], { env: helmEnv(home) });
  await runTool('helm', ['lint', '--strict', CHART_DIR, '-f', VALUES_ALL], { env: helmEnv(home) });
});

test('values.schema.json refuses a typo and a wrong value', async () => {
  for (const set of ['replicCount=2', 'azure.cloud=Mars', 'watchNamespaces[0]=Not_A_Namespace', 'metrics.serviceMonitor.interval=soon']) {
    const res = await runTool('helm', ['template', 't', CHART_DIR, '--set', set], { env: helmEnv(home), allowFailure: true });
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/schema/);
  }
});

test('every operator flag is reachable from values', async () => {
  const flags = [...USAGE.matchAll(/^\s+(--[a-z-]+)/gm)].map((m) => m[1] as string).filter((f) => f !== '--help');
  expect(flags.length).toBeGreaterThan(15);
  const rendered = args(deploymentOf((await renderChart(home, ['-f', VALUES_ALL])).objects));
  const missing = flags.filter((f) => !rendered.some((a) => a.startsWith(`${f}=`)));
  expect(missing).toEqual([]);
});

test('the Azure scope policy: none by default (deny all); rules become a ConfigMap the operator parses, with namespaces get only for label rules', async () => {
  const none = await renderChart(home);
  expect(args(deploymentOf(none.objects)).some((a) => a.startsWith('--azure-scope-policy='))).toBe(false);
  expect(none.objects.some((o) => o.kind === 'ConfigMap' && o.metadata.name.endsWith('azure-scope-policy'))).toBe(false);
  const all = (await renderChart(home, ['-f', VALUES_ALL])).objects;
  expect(args(deploymentOf(all))).toContain('--azure-scope-policy=/etc/tenantdb/azure-scope-policy/policy.yaml');
  const cm = all.find((o) => o.kind === 'ConfigMap' && o.metadata.name.endsWith('azure-scope-policy')) as any;
  const policy = parseScopePolicy(cm.data['policy.yaml']);
  expect(policy.rules.map((r) => [r.resourceGroups, r.allowAdoption])).toEqual([[['payments-*'], false], [['shared-databases-rg'], true]]);
  // values-all watches team-a and team-b: a Role in each (reading a Namespace is authorised in it).
  const nsRoles = all.filter((o) => o.kind === 'Role' && o.metadata.name.endsWith('-namespaces')) as any[];
  expect(nsRoles.map((r) => r.metadata.namespace).sort()).toEqual(['team-a', 'team-b']);
  expect(nsRoles[0].rules).toEqual([{ apiGroups: [''], resources: ['namespaces'], verbs: ['get'] }]);
  const clusterWide = (await renderChart(home, ['-f', VALUES_ALL, '--set', 'watchNamespaces=null'])).objects;
  expect(clusterWide.filter((o) => o.kind === 'ClusterRole' && o.metadata.name.endsWith('-namespaces'))).toHaveLength(1);
  const byName = (await renderChart(home, ['--set', 'azure.scopePolicy.rules[0].namespaces={team-a}', '--set', 'azure.scopePolicy.rules[0].subscriptions={s}', '--set', 'azure.scopePolicy.rules[0].resourceGroups={rg}'])).objects;
  expect(byName.some((o) => o.kind === 'ClusterRole' && o.metadata.name.endsWith('-namespaces'))).toBe(false);
  const bad = await runTool('helm', ['template', 't', CHART_DIR, '--set', 'azure.scopePolicy.rules[0].namespaces={a}'], { env: helmEnv(home), allowFailure: true });
  expect(bad.stderr).toMatch(/schema/);
});

test('the Deployment carries the hardening, probes, leader election and workload identity', async () => {
  const { objects } = await renderChart(home);
  const dep = deploymentOf(objects) as any;
  const pod = dep.spec.template.spec;
  const c = pod.containers[0];
  expect(args(dep)).toContain('--leader-elect=true');
  expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
  expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
  expect(c.securityContext).toEqual({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
  expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'health' });
  expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'health' });
  expect(c.resources.requests.memory).toBeDefined();
  const graceful = Number(/--graceful-shutdown-timeout=(\d+)s/.exec(args(dep).join(' '))?.[1]);
  expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(graceful);
  // CRDs from templates/, kept on uninstall.
  const crds = objects.filter((o) => o.kind === 'CustomResourceDefinition');
  expect(crds.map((c) => c.metadata.name).sort()).toEqual(['alertrulesets.tenantdb.io', 'backuppolicies.tenantdb.io', 'migrations.tenantdb.io', 'tenantdatabases.tenantdb.io']);
  for (const crd of crds) expect(crd.metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
  expect(objects.filter((o) => o.kind === 'ClusterRole')).toHaveLength(1);
  // Workload identity: pod label and ServiceAccount annotation.
  const all = (await renderChart(home, ['-f', VALUES_ALL])).objects;
  expect((deploymentOf(all) as any).spec.template.metadata.labels['azure.workload.identity/use']).toBe('true');
  const sa = all.find((o) => o.kind === 'ServiceAccount');
  expect(sa?.metadata.annotations?.['azure.workload.identity/client-id']).toBe('00000000-0000-0000-0000-000000000001');
  // watchNamespaces: Roles in those namespaces (plus the leader-election Role), no ClusterRole.
  expect(all.filter((o) => o.kind === 'ClusterRole')).toHaveLength(0);
  expect(all.filter((o) => o.kind === 'Role' && !o.metadata.name.endsWith('-namespaces')).map((r) => r.metadata.namespace).sort()).toEqual(['tdb-leases', 'team-a', 'team-b']);
  // Without CRDs when asked, and a termination grace period below the shutdown timeout refused.
  expect((await renderChart(home, ['--set', 'crds.create=false'])).objects.some((o) => o.kind === 'CustomResourceDefinition')).toBe(false);
  const bad = await runTool('helm', ['template', 't', CHART_DIR, '--set', 'terminationGracePeriodSeconds=10'], { env: helmEnv(home), allowFailure: true });
  expect(bad.stderr).toMatch(/must be above gracefulShutdownTimeoutSeconds/);
});

test('the container runs with the malloc settings the image sets, and NODE_OPTIONS only when asked', async () => {
  const dockerfile = fs.readFileSync(path.join(CHART_DIR, '..', '..', 'Dockerfile'), 'utf8');
  const imageEnv = Object.fromEntries([...dockerfile.matchAll(/^ENV\s+(MALLOC_[A-Z_]+)=(\S+)\s*$/gm)].map((m) => [m[1], m[2]]));
  expect(Object.keys(imageEnv).sort()).toEqual(['MALLOC_ARENA_MAX', 'MALLOC_TRIM_THRESHOLD_']);
  const envOf = (objs: Manifest[]) => Object.fromEntries(((deploymentOf(objs) as any).spec.template.spec.containers[0].env as Array<{ name: string; value?: string }>).map((e) => [e.name, e.value]));
  const defaults = envOf((await renderChart(home)).objects);
  for (const [k, v] of Object.entries(imageEnv)) expect(defaults[k]).toBe(v);
  expect(defaults.NODE_OPTIONS).toBeUndefined();
  expect(envOf((await renderChart(home, ['-f', VALUES_ALL])).objects)).toMatchObject({ NODE_OPTIONS: '--max-old-space-size=512', MALLOC_ARENA_MAX: '4', MALLOC_TRIM_THRESHOLD_: '65536' });
});

const SHARDS = ['--set', 'sharding.shards={shard1,shard2}'];

test('sharding renders one Deployment per shard with its own selector and lease, and the main one for the rest', async () => {
  const deps = (await renderChart(home, SHARDS)).objects.filter((o) => o.kind === 'Deployment') as any[];
  expect(deps.map((d) => d.metadata.name).sort()).toEqual(['tenantdb-tenantdb-operator', 'tenantdb-tenantdb-operator-shard1', 'tenantdb-tenantdb-operator-shard2']);
  const flag = (d: any, name: string) => args(d).find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const byName = Object.fromEntries(deps.map((d) => [d.metadata.name.replace(/^tenantdb-tenantdb-operator-?/, '') || 'main', d]));
  expect(flag(byName.main, 'watch-label-selector')).toBe('!sharding.tenantdb.io/key');
  expect(flag(byName.shard1, 'watch-label-selector')).toBe('sharding.tenantdb.io/key=shard1');
  expect(flag(byName.shard2, 'watch-label-selector')).toBe('sharding.tenantdb.io/key=shard2');
  expect(flag(byName.main, 'leader-election-id')).toBe('tenantdb-operator.tenantdb.io');
  expect(new Set(deps.map((d) => flag(d, 'leader-election-id'))).size).toBe(3);
  // Each shard's pods are told apart by their own label, which its Deployment selects on.
  for (const s of ['shard1', 'shard2']) {
    expect(byName[s].spec.selector.matchLabels['tenantdb.io/shard']).toBe(s);
    expect(byName[s].spec.template.metadata.labels['tenantdb.io/shard']).toBe(s);
  }
  // Without shards: no selector flag; both a selector and shards: refused.
  expect(flag(deploymentOf((await renderChart(home)).objects), 'watch-label-selector')).toBeUndefined();
  const both = await runTool('helm', ['template', 't', CHART_DIR, ...SHARDS, '--set', 'watchLabelSelector=a=b'], { env: helmEnv(home), allowFailure: true });
  expect(both.stderr).toMatch(/exclude each other/);
  const badKey = await runTool('helm', ['template', 't', CHART_DIR, '--set', 'sharding.shards={Shard_1}'], { env: helmEnv(home), allowFailure: true });
  expect(badKey.stderr).toMatch(/schema/);
});

describe.each([
  ['default values', [] as string[]],
  ['every option on', ['-f', VALUES_ALL]],
  ['two shards', SHARDS],
])('%s', (_name, valueArgs) => {
  test('helm template | kubectl apply --dry-run=server is accepted', async () => {
    const { text } = await renderChart(home, valueArgs, NS);
    const res = await cluster.kubectl(['apply', '--dry-run=server', '-f', '-'], { input: text });
    expect(res.stdout).toMatch(/deployment.apps\/\S+ created \(server dry run\)/);
  });

  test('kubeconform -strict accepts the rendered manifests', async () => {
    const { text, objects } = await renderChart(home, valueArgs, NS);
    const location = await writeKubeconformSchemas(cluster.client, path.join(cluster.dir, 'schemas'), objects.map((o) => o.apiVersion));
    const res = await runTool('kubeconform', ['-strict', '-summary', '-output', 'json', '-schema-location', location], { input: text });
    const summary = JSON.parse(res.stdout).summary as { valid: number; invalid: number; errors: number; skipped: number };
    expect(summary).toEqual({ valid: objects.length, invalid: 0, errors: 0, skipped: 0 });
  });
});

test('kubeconform -strict refuses an unknown field (the schemas are strict)', async () => {
  const { objects } = await renderChart(home, [], NS);
  const dep = deploymentOf(objects) as any;
  dep.spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem = true; // typo: capital S
  const location = await writeKubeconformSchemas(cluster.client, path.join(cluster.dir, 'schemas'), ['apps/v1']);
  const res = await runTool('kubeconform', ['-strict', '-schema-location', location], { input: JSON.stringify(dep), allowFailure: true });
  expect(res.code).not.toBe(0);
  expect(res.stdout).toMatch(/readOnlyRootFileSystem/);
});

test('helm install, upgrade (CRD change applied, objects kept) and uninstall (CRDs and objects kept)', async () => {
  await helm(['install', 'tenantdb', CHART_DIR, '--namespace', NS]);
  await cluster.kubectl(['wait', '--for=condition=Established', 'crd/tenantdatabases.tenantdb.io']);
  const dep = JSON.parse((await cluster.kubectl(['get', 'deployment', '-n', NS, '-o', 'json'])).stdout).items;
  expect(dep).toHaveLength(1);

  const example = parseManifests(fs.readFileSync(path.join(CHART_DIR, '..', '..', 'crds', 'examples', 'tenantdatabase-external.yaml'), 'utf8'))[0] as Manifest;
  await cluster.kubectl(['apply', '-n', 'team-a', '-f', '-'], { input: JSON.stringify(example) });
  const uid = JSON.parse((await cluster.kubectl(['get', 'tenantdatabase', example.metadata.name, '-n', 'team-a', '-o', 'json'])).stdout).metadata.uid;

  // The next chart version changes a CRD: a new printer column.
  const next = path.join(cluster.dir, 'chart-next');
  fs.cpSync(CHART_DIR, next, { recursive: true });
  const crdFile = path.join(next, 'templates', 'crds', 'tenantdb.io_tenantdatabases.yaml');
  const crdText = fs.readFileSync(crdFile, 'utf8');
  const marker = '      additionalPrinterColumns:\n';
  expect(crdText).toContain(marker);
  fs.writeFileSync(
    crdFile,
    crdText.replace(marker, `${marker}        - name: Upgraded\n          type: string\n          jsonPath: .metadata.name\n          description: Added by the next chart version.\n`),
  );
  await helm(['upgrade', 'tenantdb', next, '--namespace', NS]);
  const crd = JSON.parse((await cluster.kubectl(['get', 'crd', 'tenantdatabases.tenantdb.io', '-o', 'json'])).stdout);
  expect(crd.spec.versions[0].additionalPrinterColumns.map((c: { name: string }) => c.name)).toContain('Upgraded');
  expect(JSON.parse((await cluster.kubectl(['get', 'tenantdatabase', example.metadata.name, '-n', 'team-a', '-o', 'json'])).stdout).metadata.uid).toBe(uid);
  expect((await helm(['history', 'tenantdb', '--namespace', NS])).stdout).toMatch(/2\s+.*deployed/);

  const un = await helm(['uninstall', 'tenantdb', '--namespace', NS]);
  expect(un.stdout + un.stderr).toMatch(/kept due to the resource policy/);
  const crds = JSON.parse((await cluster.kubectl(['get', 'crd', '-l', 'app.kubernetes.io/part-of=tenantdb-operator', '-o', 'json'])).stdout).items;
  expect(crds).toHaveLength(4);
  expect(JSON.parse((await cluster.kubectl(['get', 'tenantdatabase', example.metadata.name, '-n', 'team-a', '-o', 'json'])).stdout).metadata.uid).toBe(uid);
  expect(JSON.parse((await cluster.kubectl(['get', 'deployment', '-n', NS, '-o', 'json'])).stdout).items).toHaveLength(0);
}, 180_000);
