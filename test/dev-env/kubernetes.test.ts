// The local control plane is a real kube-apiserver: CRDs, server-side apply, the status subresource,
// watches and optimistic concurrency behave exactly as on a cluster.
import * as k8s from '@kubernetes/client-node';
import { createTestNamespace, kubeConfig, kubectl, testEnv } from '../../dev/env/testenv.js';

const group = 'foundation.tenantdb.io';
const plural = 'widgets';
const version = 'v1';

const crd: k8s.V1CustomResourceDefinition = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `${plural}.${group}` },
  spec: {
    group,
    scope: 'Namespaced',
    names: { plural, singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
    versions: [
      {
        name: version,
        served: true,
        storage: true,
        subresources: { status: {} },
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: { type: 'object', properties: { size: { type: 'integer', minimum: 1 }, color: { type: 'string' } } },
              status: { type: 'object', properties: { phase: { type: 'string' } } },
            },
          },
        },
      },
    ],
  },
};

interface Widget extends k8s.KubernetesObject {
  spec?: { size?: number; color?: string };
  status?: { phase?: string };
}

describe('local kube-apiserver', () => {
  const kc = kubeConfig();
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  let ns: string;

  beforeAll(async () => {
    ns = await createTestNamespace('foundation');
    const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
    await ext.createCustomResourceDefinition({ body: crd }).catch((e: unknown) => {
      if ((e as k8s.ApiException<unknown>).code !== 409) throw e;
    });
    const wait = await kubectl(['wait', '--for=condition=Established', '--timeout=30s', `crd/${plural}.${group}`]);
    expect(wait.status).toBe(0);
  });

  it('runs the pinned Kubernetes version with RBAC on', async () => {
    const info = await kc.makeApiClient(k8s.VersionApi).getCode();
    expect(info.gitVersion).toBe(testEnv().kubernetes.version);
    const rbac = await kc.makeApiClient(k8s.RbacAuthorizationV1Api).readClusterRole({ name: 'cluster-admin' });
    expect(rbac.metadata?.name).toBe('cluster-admin');
  });

  it('created the namespace', async () => {
    const got = await kc.makeApiClient(k8s.CoreV1Api).readNamespace({ name: ns });
    expect(got.status?.phase).toBe('Active');
  });

  it('creates a custom object and rejects one that breaks the schema', async () => {
    const body = { apiVersion: `${group}/${version}`, kind: 'Widget', metadata: { name: 'w1', namespace: ns }, spec: { size: 2 } };
    const created = (await custom.createNamespacedCustomObject({ group, version, namespace: ns, plural, body })) as Widget;
    expect(created.metadata?.generation).toBe(1);
    await expect(
      custom.createNamespacedCustomObject({ group, version, namespace: ns, plural, body: { ...body, metadata: { name: 'bad', namespace: ns }, spec: { size: 0 } } }),
    ).rejects.toMatchObject({ code: 422 });
  });

  it('applies server-side with a field manager and records field ownership', async () => {
    const applied = (await objects.patch(
      { apiVersion: `${group}/${version}`, kind: 'Widget', metadata: { name: 'w2', namespace: ns }, spec: { size: 3, color: 'blue' } } as Widget,
      undefined,
      undefined,
      'tenantdb-test',
      true,
      k8s.PatchStrategy.ServerSideApply,
    )) as Widget;
    expect(applied.spec).toEqual({ size: 3, color: 'blue' });
    const managers = applied.metadata?.managedFields?.map((f) => [f.manager, f.operation]);
    expect(managers).toContainEqual(['tenantdb-test', 'Apply']);
    // A second manager that wants the same field conflicts unless it forces.
    await expect(
      objects.patch(
        { apiVersion: `${group}/${version}`, kind: 'Widget', metadata: { name: 'w2', namespace: ns }, spec: { color: 'red' } } as Widget,
        undefined,
        undefined,
        'someone-else',
        false,
        k8s.PatchStrategy.ServerSideApply,
      ),
    ).rejects.toMatchObject({ code: 409 });
  });

  it('updates status through the status subresource without bumping generation', async () => {
    const before = (await custom.getNamespacedCustomObject({ group, version, namespace: ns, plural, name: 'w1' })) as Widget;
    const after = (await custom.patchNamespacedCustomObjectStatus(
      { group, version, namespace: ns, plural, name: 'w1', body: { status: { phase: 'Ready' } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    )) as Widget;
    expect(after.status?.phase).toBe('Ready');
    expect(after.metadata?.generation).toBe(before.metadata?.generation);
    // Status written through the main resource is ignored when the subresource is enabled.
    const viaMain = (await custom.patchNamespacedCustomObject(
      { group, version, namespace: ns, plural, name: 'w1', body: { status: { phase: 'Hacked' }, spec: { size: 5 } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    )) as Widget;
    expect(viaMain.status?.phase).toBe('Ready');
    expect(viaMain.metadata?.generation).toBe((before.metadata?.generation ?? 0) + 1);
  });

  it('delivers watch events for changes', async () => {
    const list = (await custom.listNamespacedCustomObject({ group, version, namespace: ns, plural })) as { metadata: { resourceVersion: string } };
    const seen: Array<[string, string | undefined]> = [];
    let abort: AbortController | undefined;
    const done = new Promise<void>((resolve, reject) => {
      void new k8s.Watch(kc)
        .watch(
          `/apis/${group}/${version}/namespaces/${ns}/${plural}`,
          { resourceVersion: list.metadata.resourceVersion, allowWatchBookmarks: true },
          (type: string, obj: Widget) => {
            if (type === 'BOOKMARK') return;
            seen.push([type, obj.metadata?.name]);
            if (type === 'DELETED' && obj.metadata?.name === 'w3') resolve();
          },
          (err: unknown) => (err ? reject(err as Error) : undefined),
        )
        .then((c) => (abort = c), reject);
    });
    await new Promise((r) => setTimeout(r, 300));
    await custom.createNamespacedCustomObject({ group, version, namespace: ns, plural, body: { apiVersion: `${group}/${version}`, kind: 'Widget', metadata: { name: 'w3' }, spec: { size: 1 } } });
    await custom.patchNamespacedCustomObject(
      { group, version, namespace: ns, plural, name: 'w3', body: { spec: { size: 9 } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await custom.deleteNamespacedCustomObject({ group, version, namespace: ns, plural, name: 'w3' });
    await done;
    abort?.abort();
    expect(seen).toEqual([
      ['ADDED', 'w3'],
      ['MODIFIED', 'w3'],
      ['DELETED', 'w3'],
    ]);
  });

  it('returns 409 Conflict for a write with a stale resourceVersion', async () => {
    const current = (await custom.getNamespacedCustomObject({ group, version, namespace: ns, plural, name: 'w1' })) as Widget;
    const stale = structuredClone(current);
    await custom.replaceNamespacedCustomObject({ group, version, namespace: ns, plural, name: 'w1', body: { ...current, spec: { size: 7 } } });
    await expect(
      custom.replaceNamespacedCustomObject({ group, version, namespace: ns, plural, name: 'w1', body: { ...stale, spec: { size: 8 } } }),
    ).rejects.toMatchObject({ code: 409 });
  });
});
