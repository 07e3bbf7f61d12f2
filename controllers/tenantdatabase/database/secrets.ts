// Connection Secrets, one per login role: what they hold (host, port, dbname, username, password, sslmode,
// uri, jdbc-uri, pgpass, ca.crt with a private CA, pooler keys with PgBouncer), their labels and owner
// reference, and the write that makes one match: a create or a merge patch, only when something differs.
// The cache can lag our own writes by a moment, so a Secret whose cached copy is not the version we last
// wrote is read live before any decision is made on it (a stale password must never be set back).
import { createHash } from 'node:crypto';
import type { KubeObject } from '../../../src/runtime/kubeclient.js';
import { isNotFound } from '../../../src/runtime/kubeclient.js';
import { decodeSecret, secretRawData } from '../../../src/runtime/reconcile-kit.js';
import { API_GROUP_VERSION, KINDS } from '../../../src/api/kinds.js';
import { SECRETS, type ServerConnection, type TenantDatabaseContext } from '../context.js';
import type { RoleKind } from '../../../src/postgres/database/privileges.js';

export const ROTATE_ANNOTATION = 'tenantdb.io/rotate-credentials';
/** On a connection Secret: the rotate-credentials value its password was generated for. */
export const ROTATED_FOR_ANNOTATION = 'tenantdb.io/credentials-rotation';
export const OWNER_LABEL = 'tenantdb.io/tenantdatabase';
export const ROLE_LABEL = 'tenantdb.io/role';
export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'tenantdb-operator' };

export function secretNameFor(ctx: { name: string; spec: { connectionSecret?: { name: string } | undefined } }, kind: RoleKind): string {
  if (kind === 'application') return ctx.spec.connectionSecret?.name ?? `${ctx.name}-connection`;
  return `${ctx.name}-${kind}-connection`;
}

/** Label values hold at most 63 characters; longer object names are shortened with a hash suffix. */
export function ownerLabelValue(name: string): string {
  if (name.length <= 63) return name;
  return `${name.slice(0, 52).replace(/[-.]+$/, '')}-${createHash('sha256').update(name).digest('hex').slice(0, 10)}`;
}

const enc = encodeURIComponent;
const pgpassEscape = (v: string) => v.replace(/\\/g, '\\\\').replace(/:/g, '\\:');

export function connectionData(conn: ServerConnection, database: string, user: string, password: string, caPem: string | undefined): Record<string, string> {
  const hostPort = `${conn.host}:${conn.port}`;
  const data: Record<string, string> = {
    host: conn.host,
    port: String(conn.port),
    dbname: database,
    username: user,
    password,
    sslmode: conn.sslMode,
    uri: `postgresql://${enc(user)}:${enc(password)}@${hostPort}/${enc(database)}?sslmode=${conn.sslMode}`,
    'jdbc-uri': `jdbc:postgresql://${hostPort}/${enc(database)}?user=${enc(user)}&password=${enc(password)}&sslmode=${conn.sslMode}`,
    pgpass: `${pgpassEscape(conn.host)}:${conn.port}:${pgpassEscape(database)}:${pgpassEscape(user)}:${pgpassEscape(password)}\n`,
  };
  if (caPem) data['ca.crt'] = caPem;
  if (conn.pooler) {
    data['pooler-host'] = conn.host;
    data['pooler-port'] = String(conn.pooler.port);
    data['pooler-uri'] = `postgresql://${enc(user)}:${enc(password)}@${conn.host}:${conn.pooler.port}/${enc(database)}?sslmode=${conn.sslMode}`;
  }
  return data;
}

/** Decoded data of a Secret ({} when there is none). */
export function decodeData(secret: KubeObject | undefined): Record<string, string> {
  return decodeSecret(secret) ?? {};
}

/** resourceVersion of each Secret as this process last wrote it (namespace/name -> rv). */
const written = new Map<string, string>();

/** The Secret as it is now: the cache, unless the cache may predate our last write of it. */
export async function currentSecret(ctx: TenantDatabaseContext, name: string): Promise<KubeObject | undefined> {
  const cached = ctx.secret(name);
  const key = `${ctx.namespace}/${name}`;
  const mine = written.get(key);
  if (mine === undefined || cached?.metadata.resourceVersion === mine) return cached;
  try {
    return await ctx.mgr.client.get(SECRETS, ctx.namespace, name);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export function isOurs(ctx: TenantDatabaseContext, secret: KubeObject): boolean {
  const refs = (secret.metadata.ownerReferences ?? []) as Array<{ uid?: string }>;
  return secret.metadata.labels?.[OWNER_LABEL] === ownerLabelValue(ctx.name) || refs.some((r) => r.uid === ctx.obj.metadata.uid);
}

function ownerReference(ctx: TenantDatabaseContext) {
  return { apiVersion: API_GROUP_VERSION, kind: KINDS.TenantDatabase.kind, name: ctx.name, uid: ctx.obj.metadata.uid as string, controller: true, blockOwnerDeletion: true };
}

type OwnerRef = ReturnType<typeof ownerReference>;

/**
 * Makes the Secret hold exactly `data` with our labels, owner reference and annotations. Returns whether
 * it wrote (create or patch). Keys someone added are removed; labels and owners of others are kept.
 */
export async function ensureSecret(ctx: TenantDatabaseContext, name: string, kind: RoleKind, data: Record<string, string>, annotations: Record<string, string>, existing: KubeObject | undefined): Promise<boolean> {
  const labels = { ...MANAGED_BY, [OWNER_LABEL]: ownerLabelValue(ctx.name), [ROLE_LABEL]: kind };
  const b64 = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')]));
  const key = `${ctx.namespace}/${name}`;
  if (!existing) {
    const created = await ctx.mgr.client.create<KubeObject>(SECRETS, ctx.namespace, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace: ctx.namespace, labels, annotations, ownerReferences: [ownerReference(ctx)] },
      type: 'Opaque',
      data: b64,
    });
    if (created.metadata.resourceVersion) written.set(key, created.metadata.resourceVersion);
    return true;
  }
  const have = secretRawData(existing);
  const dataPatch: Record<string, string | null> = {};
  for (const [k, v] of Object.entries(b64)) if (have[k] !== v) dataPatch[k] = v;
  for (const k of Object.keys(have)) if (!(k in b64)) dataPatch[k] = null;
  const labelPatch = Object.fromEntries(Object.entries(labels).filter(([k, v]) => existing.metadata.labels?.[k] !== v));
  const annotationPatch = Object.fromEntries(Object.entries(annotations).filter(([k, v]) => existing.metadata.annotations?.[k] !== v));
  const refs = (existing.metadata.ownerReferences ?? []) as OwnerRef[];
  const hasRef = refs.some((r) => r.uid === ctx.obj.metadata.uid);
  if (!Object.keys(dataPatch).length && !Object.keys(labelPatch).length && !Object.keys(annotationPatch).length && hasRef) return false;
  const metadata: Record<string, unknown> = {};
  if (Object.keys(labelPatch).length) metadata.labels = labelPatch;
  if (Object.keys(annotationPatch).length) metadata.annotations = annotationPatch;
  if (!hasRef) metadata.ownerReferences = [...refs.filter((r) => !r.controller), ownerReference(ctx)];
  // The resourceVersion makes this a compare-and-swap: a concurrent edit fails it and the next pass rereads.
  metadata.resourceVersion = existing.metadata.resourceVersion;
  const patched = await ctx.mgr.client.patch<KubeObject>(SECRETS, ctx.namespace, name, 'merge', { metadata, ...(Object.keys(dataPatch).length ? { data: dataPatch } : {}) }, { fieldManager: ctx.mgr.fieldManager });
  if (patched.metadata.resourceVersion) written.set(key, patched.metadata.resourceVersion);
  return true;
}

/** Retain: our owner reference taken off, so garbage collection leaves the Secret when the object goes. */
export async function releaseSecret(ctx: TenantDatabaseContext, name: string): Promise<void> {
  const s = await currentSecret(ctx, name);
  if (!s || !isOurs(ctx, s)) return;
  const refs = (s.metadata.ownerReferences ?? []) as OwnerRef[];
  if (!refs.some((r) => r.uid === ctx.obj.metadata.uid)) return;
  try {
    const patched = await ctx.mgr.client.patch<KubeObject>(
      SECRETS,
      ctx.namespace,
      name,
      'merge',
      { metadata: { resourceVersion: s.metadata.resourceVersion, ownerReferences: refs.filter((r) => r.uid !== ctx.obj.metadata.uid) } },
      { fieldManager: ctx.mgr.fieldManager },
    );
    if (patched.metadata.resourceVersion) written.set(`${ctx.namespace}/${name}`, patched.metadata.resourceVersion);
  } catch (err) {
    // Gone meanwhile (a namespace being deleted): nothing left to release.
    if (!isNotFound(err)) throw err;
  }
}

/** Delete: the Secret removed (its role is gone); garbage collection would too, where it runs. */
export async function deleteSecret(ctx: TenantDatabaseContext, name: string): Promise<void> {
  const s = await currentSecret(ctx, name);
  if (!s || !isOurs(ctx, s)) return;
  try {
    await ctx.mgr.client.delete(SECRETS, ctx.namespace, name);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  written.delete(`${ctx.namespace}/${name}`);
}
