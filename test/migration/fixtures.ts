// Controller-level fixtures: a Manager in-process with only the Migration controller, TenantDatabases
// made Ready by writing their status through the /status subresource (no TenantDatabase controller
// runs here), pointing at a database and administrator created on the environment's server.
import { registerMigrationController, type MigrationControllerOptions } from '../../controllers/migration/index.js';
import { resourceOf } from '../../src/api/resources.js';
import { KubeClient, type KubeObject, type ResourceRef } from '../../src/runtime/kubeclient.js';
import { Manager } from '../../src/runtime/manager.js';
import { DEFAULT_CONTROLLER_SETTINGS } from '../../src/settings.js';
import { kubeConfig, testEnv } from '../../dev/env/testenv.js';
import { eventually, testLogger } from '../runtime/helpers.js';
import { caPem, type TestDatabase } from './pg.js';

export const MIGRATIONS = resourceOf('Migration');
export const TENANT_DATABASES = resourceOf('TenantDatabase');
export const SECRETS: ResourceRef = { group: '', version: 'v1', plural: 'secrets' };
export const CONFIGMAPS: ResourceRef = { group: '', version: 'v1', plural: 'configmaps' };

let client: KubeClient | undefined;
export function kube(): KubeClient {
  client ??= new KubeClient(kubeConfig());
  return client;
}

export function closeKube(): void {
  client?.close();
  client = undefined;
}

export async function startMigrationOperator(namespace: string, identity = 'test-operator', extra: Partial<MigrationControllerOptions> = {}): Promise<{ mgr: Manager; metricsPort: number }> {
  const mgr = new Manager({
    kubeConfig: kubeConfig(),
    logger: testLogger(),
    namespaces: [namespace],
    metricsBindAddress: '127.0.0.1:0',
    healthProbeBindAddress: '0',
    maxConcurrentReconciles: 2,
    gracefulShutdownTimeoutMs: 5_000,
  });
  registerMigrationController(mgr, { ...DEFAULT_CONTROLLER_SETTINGS, postgres: { caFile: testEnv().postgres.caFile, hostsFile: undefined } }, { progressIntervalMs: 300, lockPollMs: 100, identity, ...extra });
  await mgr.start();
  return { mgr, metricsPort: mgr.ports()[0] as number };
}

/** Secrets and a TenantDatabase for `db` (external server = the environment's PostgreSQL). */
export async function createTenantDatabase(namespace: string, name: string, db: TestDatabase, labels: Record<string, string> = {}): Promise<void> {
  const k = kube();
  const env = testEnv().postgres;
  await k.create(SECRETS, namespace, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: `${name}-admin` },
    stringData: { username: db.admin, password: db.password },
  });
  await k.create(SECRETS, namespace, { apiVersion: 'v1', kind: 'Secret', metadata: { name: `${name}-ca` }, stringData: { 'ca.crt': caPem() } });
  await k.create(TENANT_DATABASES, namespace, {
    apiVersion: 'tenantdb.io/v1alpha1',
    kind: 'TenantDatabase',
    metadata: { name, labels },
    spec: {
      server: { external: { host: env.host, port: env.port, sslMode: 'verify-full', caSecretRef: { name: `${name}-ca`, key: 'ca.crt' }, adminSecretRef: { name: `${name}-admin` } } },
      database: { name: db.database },
      roles: { owner: db.owner, application: `${db.database}_app`.slice(0, 63) },
    },
  });
}

/** Writes Ready=True for the current generation through /status, as the TenantDatabase controller would. */
export async function markReady(namespace: string, name: string, ready = true): Promise<void> {
  const k = kube();
  const td = (await k.get(TENANT_DATABASES, namespace, name)) as KubeObject;
  const gen = td.metadata.generation;
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const cond = (type: string, status: string, reason: string) => ({ type, status, reason, message: `set by the test (${reason})`, lastTransitionTime: now, observedGeneration: gen });
  await k.patch(
    TENANT_DATABASES,
    namespace,
    name,
    'merge',
    {
      status: {
        observedGeneration: gen,
        conditions: ready
          ? [cond('Ready', 'True', 'Ready'), cond('Reconciling', 'False', 'Succeeded'), cond('Stalled', 'False', 'Succeeded')]
          : [cond('Ready', 'False', 'Provisioning'), cond('Reconciling', 'True', 'Provisioning'), cond('Stalled', 'False', 'Provisioning')],
      },
    },
    { subresource: 'status' },
  );
}

export interface Cond {
  type: string;
  status: string;
  reason: string;
  message: string;
}
export interface MigrationObj extends KubeObject {
  status?: {
    observedGeneration?: number;
    conditions?: Cond[];
    appliedVersion?: string;
    latestVersion?: string;
    pending?: string[];
    applied?: Array<{ version: string; name?: string; checksum?: string; appliedAt?: string; executionTimeMs?: number }>;
    databases?: Array<{ name: string; appliedVersion?: string; phase?: string; reason?: string; message?: string; pending?: string[]; failure?: Record<string, unknown>; repair?: string; resolve?: string }>;
  };
}

export async function getMigration(namespace: string, name: string): Promise<MigrationObj> {
  return (await kube().get(MIGRATIONS, namespace, name)) as MigrationObj;
}

export const cond = (m: MigrationObj | undefined, type: string) => m?.status?.conditions?.find((c) => c.type === type);

/** Waits until the Migration's Ready/Stalled/Reconciling condition has `reason` (for the current generation). */
export async function waitFor(namespace: string, name: string, what: { ready?: boolean; reason?: string; stalled?: boolean }, timeoutMs = 60_000): Promise<MigrationObj> {
  return eventually(
    `Migration ${name} ${JSON.stringify(what)}`,
    async () => {
      const m = await getMigration(namespace, name);
      if (m.status?.observedGeneration !== m.metadata.generation) return undefined;
      const ready = cond(m, 'Ready');
      const stalled = cond(m, 'Stalled');
      if (what.ready !== undefined && (ready?.status === 'True') !== what.ready) return undefined;
      if (what.stalled !== undefined && (stalled?.status === 'True') !== what.stalled) return undefined;
      if (what.reason !== undefined && ready?.reason !== what.reason) return undefined;
      return m;
    },
    timeoutMs,
    150,
  );
}

export async function createMigration(namespace: string, name: string, spec: Record<string, unknown>, annotations?: Record<string, string>): Promise<void> {
  await kube().create(MIGRATIONS, namespace, { apiVersion: 'tenantdb.io/v1alpha1', kind: 'Migration', metadata: { name, ...(annotations ? { annotations } : {}) }, spec });
}

export async function patchMigration(namespace: string, name: string, patch: Record<string, unknown>): Promise<void> {
  await kube().patch(MIGRATIONS, namespace, name, 'merge', patch);
}

export async function eventsFor(namespace: string, name: string): Promise<Array<{ reason: string; note: string; type: string }>> {
  const list = (await kube().request('GET', `/apis/events.k8s.io/v1/namespaces/${namespace}/events`, {})) as { items: Array<{ reason: string; note: string; type: string; regarding: { name: string; kind: string } }> };
  return list.items.filter((e) => e.regarding.kind === 'Migration' && e.regarding.name === name);
}

/** Waits until the Ready condition's message matches (the reason alone may be the one of the last state). */
export async function waitForMessage(namespace: string, name: string, pattern: RegExp, timeoutMs = 60_000): Promise<MigrationObj> {
  return eventually(
    `Migration ${name} message ${pattern}`,
    async () => {
      const m = await getMigration(namespace, name);
      return m.status?.observedGeneration === m.metadata.generation && pattern.test(cond(m, 'Ready')?.message ?? '') ? m : undefined;
    },
    timeoutMs,
    150,
  );
}
