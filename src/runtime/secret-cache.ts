// How the operator reads Secrets without caching every Secret of the cluster (as cert-manager does since
// 1.12): the Secrets it writes itself (the connection Secrets, labelled app.kubernetes.io/managed-by) are
// cached in full by a label-selected informer; every other Secret is watched for metadata only
// (PartialObjectMetadata: name, labels, resourceVersion; no data), which keeps the watches that reconcile
// an object when the Secret it refers to appears or changes, and tells which Secrets exist. The data of
// a referenced Secret is read by name (GET) on first use and kept in a small bounded cache, valid while
// its resourceVersion matches the metadata watch (a change or delete drops it at once) and dropped when
// not read for a while. Before the metadata watch has synced, an entry is trusted for `ttlMs` only.
import type { Logger } from 'pino';
import { Informer } from './informer.js';
import { isNotFound, type KubeClient, type KubeObject, type ResourceRef } from './kubeclient.js';
import type { CacheTransform } from './cache-transform.js';

export const SECRETS: ResourceRef = { group: '', version: 'v1', plural: 'secrets' };
/** The label on every Secret the operator writes (controllers/tenantdatabase/database/secrets.ts). */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'tenantdb-operator';

export interface SecretCacheOptions {
  client: KubeClient;
  logger: Logger;
  /** Creates (or returns) the shared informer; the Manager's factory, so caches start and stop with it. */
  informer: (namespace: string | undefined, opts: { labelSelector: string; metadataOnly: boolean }) => Informer;
  /** Namespaces watched; [undefined] for all. */
  namespaces: Array<string | undefined>;
  /** Secrets read by name that are kept at most (least recently read go first). */
  maxEntries?: number;
  /** An entry not read for this long is dropped; before the metadata watch syncs, also its validity. */
  ttlMs?: number;
  transform?: CacheTransform | undefined;
}

interface Entry {
  secret: KubeObject;
  at: number;
}

export class SecretCache {
  private readonly managed = new Map<string | undefined, Informer>();
  private readonly metadata = new Map<string | undefined, Informer>();
  private readonly byName = new Map<string, Entry>();
  private readonly inFlight = new Map<string, Promise<KubeObject | undefined>>();
  private readonly maxEntries: number;
  private readonly ttlMs: number;
  /** Counters for diagnostics and tests: reads answered by each path. */
  readonly stats = { managedHits: 0, cacheHits: 0, gets: 0, absent: 0 };

  constructor(private readonly opts: SecretCacheOptions) {
    this.maxEntries = opts.maxEntries ?? 4096;
    this.ttlMs = opts.ttlMs ?? 10 * 60_000;
    for (const ns of opts.namespaces) {
      this.managed.set(ns, opts.informer(ns, { labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`, metadataOnly: false }));
      const meta = opts.informer(ns, { labelSelector: `${MANAGED_BY_LABEL}!=${MANAGED_BY_VALUE}`, metadataOnly: true });
      // A changed or deleted Secret is read again next time (the resourceVersion check would too; this frees it early).
      meta.addHandler({ onUpdate: (_o, n) => this.drop(n), onDelete: (o) => this.drop(o) });
      this.metadata.set(ns, meta);
    }
  }

  /** Every informer behind this cache: a controller that watches Secrets watches all of them. */
  informers(namespace: string | undefined): Informer[] {
    return [this.managed.get(namespace), this.metadata.get(namespace)].filter((i): i is Informer => i !== undefined);
  }

  /** The Secret as cached now, without a request: an owned Secret, or a read one still valid. */
  peek(namespace: string, name: string): KubeObject | undefined {
    const own = this.informerFor(this.managed, namespace)?.get(namespace, name);
    if (own) return own;
    const e = this.byName.get(key(namespace, name));
    return e && this.valid(namespace, name, e, Date.now()) ? e.secret : undefined;
  }

  /** The Secret `namespace/name`, or undefined when it does not exist. */
  async get(namespace: string, name: string): Promise<KubeObject | undefined> {
    const own = this.informerFor(this.managed, namespace)?.get(namespace, name);
    if (own) {
      this.stats.managedHits++;
      return own;
    }
    const meta = this.informerFor(this.metadata, namespace);
    if (meta?.hasSynced() && !meta.get(namespace, name)) {
      // Not among the unmanaged ones; the managed informer may lag a create of ours by a moment.
      this.stats.absent++;
      return this.informerFor(this.managed, namespace)?.hasSynced() ? undefined : this.fetch(namespace, name);
    }
    const k = key(namespace, name);
    const e = this.byName.get(k);
    const now = Date.now();
    this.sweep(now);
    if (e && this.valid(namespace, name, e, now)) {
      this.stats.cacheHits++;
      e.at = now;
      // Most recently read last: Map keeps insertion order, so re-insert.
      this.byName.delete(k);
      this.byName.set(k, e);
      return e.secret;
    }
    return this.fetch(namespace, name);
  }

  /** Decoded data (base64 `data` and any `stringData`) of the Secret, or undefined when it does not exist. */
  async data(namespace: string, name: string): Promise<Record<string, string> | undefined> {
    const s = await this.get(namespace, name);
    return s ? decodeSecret(s) : undefined;
  }

  private informerFor(m: Map<string | undefined, Informer>, namespace: string): Informer | undefined {
    return m.get(namespace) ?? m.get(undefined);
  }

  /** Valid while the metadata watch shows the same resourceVersion; before it syncs, for the TTL. */
  private valid(namespace: string, name: string, e: Entry, now: number): boolean {
    const meta = this.informerFor(this.metadata, namespace);
    if (meta?.hasSynced()) return meta.get(namespace, name)?.metadata.resourceVersion === e.secret.metadata.resourceVersion;
    return now - e.at < this.ttlMs;
  }

  private fetch(namespace: string, name: string): Promise<KubeObject | undefined> {
    const k = key(namespace, name);
    let p = this.inFlight.get(k);
    if (p) return p;
    this.stats.gets++;
    p = this.opts.client
      .request<KubeObject>('GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(name)}`, { timeoutMs: 15_000 })
      .then(
        (s) => {
          const secret = this.opts.transform ? this.opts.transform(s) : s;
          // Ours are cached by the managed informer; only others take a place here.
          if (secret.metadata.labels?.[MANAGED_BY_LABEL] !== MANAGED_BY_VALUE) this.store(k, secret);
          return secret;
        },
        (err: unknown) => {
          if (isNotFound(err)) return undefined;
          throw err;
        },
      )
      .finally(() => this.inFlight.delete(k));
    this.inFlight.set(k, p);
    return p;
  }

  private store(k: string, secret: KubeObject): void {
    this.byName.delete(k);
    this.byName.set(k, { secret, at: Date.now() });
    while (this.byName.size > this.maxEntries) {
      const oldest = this.byName.keys().next().value as string;
      this.byName.delete(oldest);
    }
  }

  private sweep(now: number): void {
    // Oldest read first: stop at the first one still fresh.
    for (const [k, e] of this.byName) {
      if (now - e.at < this.ttlMs) break;
      this.byName.delete(k);
    }
  }

  private drop(obj: KubeObject): void {
    this.byName.delete(key(obj.metadata.namespace ?? '', obj.metadata.name));
  }
}

function key(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** A Secret's values as text: base64 `data` decoded, `stringData` (never stored, but accepted) on top. */
export function decodeSecret(secret: KubeObject): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(((secret as { data?: Record<string, string> }).data ?? {}) as Record<string, string>)) out[k] = Buffer.from(v, 'base64').toString('utf8');
  for (const [k, v] of Object.entries(((secret as { stringData?: Record<string, string> }).stringData ?? {}) as Record<string, string>)) out[k] = v;
  return out;
}
