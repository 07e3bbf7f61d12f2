// Shared set-up of the database-part tests: the TenantDatabase controller in-process against the real
// apiserver and the environment's PostgreSQL, reached as an external server through a managed-server-like
// administrator (CREATEDB CREATEROLE, not superuser), with the admin and CA Secrets in the namespace.
import fs from 'node:fs';
import pg from 'pg';
import { registerTenantDatabaseController } from '../../controllers/tenantdatabase/index.js';
import { closeAllPostgresConnections } from '../../src/postgres/connections.js';
import { generatePassword } from '../../src/postgres/database/scram.js';
import { Manager } from '../../src/runtime/manager.js';
import { DEFAULT_CONTROLLER_SETTINGS, type ControllerSettings } from '../../src/settings.js';
import { createTestNamespace, kubeConfig, testEnv } from '../../dev/env/testenv.js';
import { eventually, installCrds, run, testLogger } from '../runtime/helpers.js';
import { asSuperuser, caPem, createAdminRole, hostsFileFor, uniq } from '../postgres/helpers.js';

/** The name the local server's certificate carries for the external example (dev/env/localenv.ts). */
export const EXAMPLE_HOST = 'pg-primary.databases.svc.cluster.local';

export interface DbHarness {
  ns: string;
  mgr: Manager;
  admin: { user: string; password: string };
  settings: ControllerSettings;
  stop(): Promise<void>;
}

export interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}

export interface TdObject {
  metadata: { name: string; uid: string; annotations?: Record<string, string>; finalizers?: string[] };
  status?: { conditions?: Condition[]; observedGeneration?: number; database?: Record<string, unknown>; connectionSecret?: string; serverState?: string; serverVersion?: string };
}

export async function startDbHarness(prefix: string): Promise<DbHarness> {
  await installCrds();
  const ns = await createTestNamespace(prefix);
  const admin = { user: uniq('tdbadm'), password: generatePassword() };
  await createAdminRole(admin.user, admin.password);
  await applyJson({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'pg-admin', namespace: ns }, stringData: { username: admin.user, password: admin.password } });
  await applyJson({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'pg-ca', namespace: ns }, stringData: { 'ca.crt': caPem() } });
  const settings: ControllerSettings = { ...DEFAULT_CONTROLLER_SETTINGS, postgres: { caFile: undefined, hostsFile: hostsFileFor([EXAMPLE_HOST]) } };
  const mgr = new Manager({
    kubeConfig: kubeConfig(),
    logger: testLogger(),
    namespaces: [ns],
    metricsBindAddress: '0',
    healthProbeBindAddress: '0',
    maxConcurrentReconciles: 4,
    gracefulShutdownTimeoutMs: 5_000,
  });
  registerTenantDatabaseController(mgr, settings);
  await mgr.start();
  return {
    ns,
    mgr,
    admin,
    settings,
    async stop() {
      await mgr.stop();
      await closeAllPostgresConnections();
      await run(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
    },
  };
}

export async function applyJson(o: unknown): Promise<void> {
  await run(['apply', '-f', '-'], JSON.stringify(o));
}

export interface TdOptions {
  host?: string;
  port?: number;
  extensions?: string[];
  adminSecret?: string;
  caSecret?: string | null;
  deletionPolicy?: 'Retain' | 'Delete';
  analytics?: boolean;
  admin?: boolean;
}

/** A TenantDatabase on the environment's server as an external server, with unique names. */
export function externalTd(ns: string, name: string, o: TdOptions = {}) {
  const env = testEnv();
  const p = name.replace(/-/g, '_');
  return {
    apiVersion: 'tenantdb.io/v1alpha1',
    kind: 'TenantDatabase',
    metadata: { name, namespace: ns },
    spec: {
      server: {
        external: {
          host: o.host ?? 'localhost',
          port: o.port ?? env.postgres.port,
          sslMode: 'verify-full',
          ...(o.caSecret === null ? {} : { caSecretRef: { name: o.caSecret ?? 'pg-ca', key: 'ca.crt' } }),
          adminSecretRef: { name: o.adminSecret ?? 'pg-admin' },
        },
      },
      database: { name: `${p}_db`, ...(o.extensions ? { extensions: o.extensions } : {}) },
      roles: { owner: `${p}_owner`, application: `${p}_app`, ...(o.analytics === false ? {} : { analytics: `${p}_ro` }), ...(o.admin ? { admin: `${p}_adm` } : {}) },
      deletionPolicy: o.deletionPolicy ?? 'Retain',
    },
  };
}

export async function getTd(ns: string, name: string): Promise<TdObject | undefined> {
  const out = await run(['get', 'tenantdatabase', name, '-n', ns, '-o', 'json', '--ignore-not-found']);
  return out.trim() ? (JSON.parse(out) as TdObject) : undefined;
}

export const cond = (o: TdObject | undefined, type: string): Condition | undefined => o?.status?.conditions?.find((c) => c.type === type);

export async function waitCondition(ns: string, name: string, type: string, pred: (c: Condition) => boolean, timeoutMs = 60_000): Promise<TdObject> {
  return eventually(`${name} ${type}`, async () => {
    const o = await getTd(ns, name);
    const c = cond(o, type);
    return c && pred(c) ? o : undefined;
  }, timeoutMs);
}

export const waitReady = (ns: string, name: string, timeoutMs = 60_000) => waitCondition(ns, name, 'Ready', (c) => c.status === 'True', timeoutMs);

export async function readSecret(ns: string, name: string): Promise<{ data: Record<string, string>; metadata: { labels?: Record<string, string>; annotations?: Record<string, string>; ownerReferences?: Array<{ uid: string; kind: string }>; resourceVersion: string } } | undefined> {
  const out = await run(['get', 'secret', name, '-n', ns, '-o', 'json', '--ignore-not-found']);
  if (!out.trim()) return undefined;
  const s = JSON.parse(out) as { data?: Record<string, string>; metadata: never };
  return { metadata: s.metadata, data: Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')])) };
}

/** Triggers a reconcile without changing the spec (an annotation is a metadata update the watch delivers). */
export async function nudge(ns: string, name: string): Promise<void> {
  await run(['annotate', 'tenantdatabase', name, '-n', ns, `test.tenantdb.io/nudge=${Date.now()}`, '--overwrite']);
}

export async function events(ns: string, name: string): Promise<Array<{ reason: string; note?: string; message?: string; type: string }>> {
  const out = await run(['get', 'events.events.k8s.io', '-n', ns, '-o', 'json', '--field-selector', `regarding.name=${name}`]);
  return (JSON.parse(out) as { items: Array<{ reason: string; note?: string; type: string }> }).items;
}

/** A client connected with exactly the Secret's uri; the CA travels as libpq's sslrootcert would. */
export async function connectWithUri(uri: string, ca: string | undefined): Promise<pg.Client> {
  const caFile = `${fs.mkdtempSync('/tmp/tdb-ca-')}/ca.crt`;
  fs.writeFileSync(caFile, ca ?? '');
  // node-postgres reads sslrootcert from the URI like libpq does; the Secret's uri itself is unchanged.
  const c = new pg.Client({ connectionString: `${uri}&sslrootcert=${encodeURIComponent(caFile)}`, connectionTimeoutMillis: 5000 });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

export async function tryConnect(uri: string, ca: string | undefined): Promise<{ ok: true } | { ok: false; code?: string; message: string }> {
  try {
    const c = await connectWithUri(uri, ca);
    await c.end();
    return { ok: true };
  } catch (err) {
    const e = err as { code?: string; message: string };
    return { ok: false, ...(e.code ? { code: e.code } : {}), message: e.message };
  }
}

async function ensureStatStatements(c: pg.Client): Promise<void> {
  // Test files run in parallel: a concurrent CREATE EXTENSION may lose the race, which is fine.
  await c.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements').catch(() => undefined);
}

/** Statements the administrator ran since the last reset, from pg_stat_statements. */
export async function statementsBy(user: string): Promise<Array<{ query: string; calls: number }>> {
  return asSuperuser(async (c) => {
    await ensureStatStatements(c);
    const r = await c.query<{ query: string; calls: string }>('SELECT query, calls FROM pg_stat_statements WHERE userid = (SELECT oid FROM pg_roles WHERE rolname = $1)', [user]);
    return r.rows.map((x) => ({ query: x.query, calls: Number(x.calls) }));
  });
}

export async function resetStatements(user: string): Promise<void> {
  await asSuperuser(async (c) => {
    await ensureStatStatements(c);
    await c.query('SELECT pg_stat_statements_reset((SELECT oid FROM pg_roles WHERE rolname = $1))', [user]);
  });
}

export const DDL = /^\s*(CREATE|ALTER|GRANT|REVOKE|DROP|COMMENT)\b/i;
