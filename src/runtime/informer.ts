// An informer: a local cache of one resource kind in one namespace (or all), kept current by list+watch.
// Beyond what @kubernetes/client-node's informer does, it asks for bookmarks (so a quiet watch still
// advances its resourceVersion and resumes without a relist), picks a jittered server-side watch timeout
// (so a fleet of watches does not reconnect in lockstep), relists on 410 Gone (whether the answer or an
// ERROR event inside the stream), restarts a watch that has gone silent, and backs off while the
// apiserver is unreachable. A relist diffs against the cache, so objects created, changed or deleted
// while the watch was down still reach the handlers.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { ACCEPT_METADATA_LIST, ACCEPT_METADATA_WATCH, ApiError, isGone, resourcePath, type KubeClient, type KubeObject, type ResourceRef, type Status, type WatchHandle } from './kubeclient.js';

export interface InformerHandler {
  onAdd?(obj: KubeObject): void;
  onUpdate?(oldObj: KubeObject, newObj: KubeObject): void;
  onDelete?(obj: KubeObject): void;
}

export interface InformerOptions {
  client: KubeClient;
  resource: ResourceRef;
  /** Namespace to watch; undefined watches all namespaces. */
  namespace?: string | undefined;
  logger: Logger;
  /** Only objects whose labels match (list and watch), e.g. `app.kubernetes.io/managed-by=tenantdb-operator`. */
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
  /** Cache metadata only (PartialObjectMetadata): names, labels, resourceVersions, no spec or data. */
  metadataOnly?: boolean;
  pageSize?: number;
  /** Watches time out server-side after between this and twice this many seconds. */
  minWatchTimeoutSeconds?: number;
  /** How long past the watch timeout a silent stream is tolerated before it is dropped. */
  watchdogGraceMs?: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Applied to every object before it is cached (e.g. leanCacheTransform in cache-transform.ts). */
  transform?: (obj: KubeObject) => KubeObject;
}

export function objectKey(obj: Pick<KubeObject, 'metadata'>): string {
  return obj.metadata.namespace ? `${obj.metadata.namespace}/${obj.metadata.name}` : obj.metadata.name;
}

interface ListResponse {
  metadata: { resourceVersion?: string; continue?: string };
  items: KubeObject[];
}

class WatchStalledError extends Error {
  override name = 'WatchStalledError';
}

export class Informer {
  private readonly store = new Map<string, KubeObject>();
  private readonly handlers: InformerHandler[] = [];
  private resourceVersion = '';
  private synced = false;
  private syncWaiters: Array<() => void> = [];
  private running: Promise<void> | undefined;
  private readonly stopController = new AbortController();
  private currentWatch: WatchHandle | undefined;
  private readonly log: Logger;
  /** Counters describing what the informer went through; exposed for diagnostics and tests. */
  readonly stats = { lists: 0, pages: 0, watches: 0, bookmarks: 0, errorEvents: 0, gone: 0, stalls: 0, errors: 0 };

  constructor(private readonly opts: InformerOptions) {
    this.log = opts.logger.child({
      informer: `${opts.resource.plural}${opts.resource.group ? '.' + opts.resource.group : ''}`,
      namespace: opts.namespace ?? '*',
      ...(opts.labelSelector ? { labelSelector: opts.labelSelector } : {}),
    });
  }

  get namespace(): string | undefined {
    return this.opts.namespace;
  }

  addHandler(h: InformerHandler): void {
    this.handlers.push(h);
    // Late handlers see the cache as adds, as with client-go's shared informers.
    if (this.synced) for (const obj of this.store.values()) h.onAdd?.(obj);
  }

  get(namespace: string | undefined, name: string): KubeObject | undefined {
    return this.store.get(namespace ? `${namespace}/${name}` : name);
  }

  list(): KubeObject[] {
    return [...this.store.values()];
  }

  hasSynced(): boolean {
    return this.synced;
  }

  lastSyncResourceVersion(): string {
    return this.resourceVersion;
  }

  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  start(): void {
    if (this.running) return;
    this.running = this.run();
  }

  async stop(): Promise<void> {
    this.stopController.abort();
    this.currentWatch?.abort();
    await this.running;
  }

  private get stopped(): boolean {
    return this.stopController.signal.aborted;
  }

  private async run(): Promise<void> {
    const initial = this.opts.initialBackoffMs ?? 800;
    const max = this.opts.maxBackoffMs ?? 30_000;
    let backoff = initial;
    let needList = true;
    while (!this.stopped) {
      try {
        if (needList) {
          await this.relist();
          needList = false;
        }
        await this.watchOnce();
        backoff = initial;
      } catch (err) {
        if (this.stopped) break;
        if (isGone(err)) {
          // The resourceVersion is older than the apiserver's history: only a fresh list can catch up.
          this.stats.gone++;
          this.log.info({ resourceVersion: this.resourceVersion }, 'resourceVersion expired; relisting');
          needList = true;
          continue;
        }
        if (err instanceof WatchStalledError) {
          this.stats.stalls++;
          this.log.warn({ err: err.message }, 'watch went silent; restarting it');
          continue;
        }
        this.stats.errors++;
        const delay = backoff * (0.5 + Math.random() * 0.5);
        this.log.warn({ err: errMessage(err), retryInMs: Math.round(delay) }, 'list/watch failed; retrying');
        backoff = Math.min(max, backoff * 2);
        await sleep(delay, undefined, { signal: this.stopController.signal }).catch(() => undefined);
      }
    }
  }

  private async relist(): Promise<void> {
    this.stats.lists++;
    const path = resourcePath(this.opts.resource, this.opts.namespace);
    const fresh = new Map<string, KubeObject>();
    let cont: string | undefined;
    let rv = '';
    for (;;) {
      let page: ListResponse;
      try {
        page = await this.opts.client.request<ListResponse>('GET', path, {
          query: { limit: this.opts.pageSize ?? 500, continue: cont, labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector },
          signal: this.stopController.signal,
          timeoutMs: 60_000,
          ...(this.opts.metadataOnly ? { accept: ACCEPT_METADATA_LIST } : {}),
        });
      } catch (err) {
        if (isGone(err) && cont) {
          // The continue token expired (compaction) between pages; start the list again.
          cont = undefined;
          fresh.clear();
          continue;
        }
        throw err;
      }
      this.stats.pages++;
      // An empty PartialObjectMetadataList comes back with `items: null` (Go's nil slice), not [].
      for (const item of page.items ?? []) fresh.set(objectKey(item), this.opts.transform ? this.opts.transform(item) : item);
      rv = page.metadata.resourceVersion ?? rv;
      cont = page.metadata.continue || undefined;
      if (!cont) break;
    }
    const old = new Map(this.store);
    this.store.clear();
    for (const [k, v] of fresh) this.store.set(k, v);
    this.resourceVersion = rv;
    for (const [k, obj] of fresh) {
      const prev = old.get(k);
      if (!prev) this.emit('add', obj);
      else if (prev.metadata.resourceVersion !== obj.metadata.resourceVersion) this.emit('update', obj, prev);
    }
    for (const [k, prev] of old) if (!fresh.has(k)) this.emit('delete', prev);
    this.log.debug({ count: fresh.size, resourceVersion: rv }, 'listed');
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  private async watchOnce(): Promise<void> {
    this.stats.watches++;
    const minTimeout = this.opts.minWatchTimeoutSeconds ?? 300;
    const timeoutSeconds = Math.floor(minTimeout * (1 + Math.random()));
    const graceMs = this.opts.watchdogGraceMs ?? 30_000;
    let failure: Error | undefined;
    let watchdog: NodeJS.Timeout | undefined;
    let handle: WatchHandle | undefined;
    const fail = (e: Error): void => {
      failure ??= e;
      handle?.abort();
    };
    const arm = (): void => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => fail(new WatchStalledError(`no data for ${timeoutSeconds}s + ${graceMs}ms`)), timeoutSeconds * 1000 + graceMs);
      watchdog.unref();
    };
    try {
      arm();
      handle = await this.opts.client.watch(
        resourcePath(this.opts.resource, this.opts.namespace),
        {
          resourceVersion: this.resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds,
          labelSelector: this.opts.labelSelector,
          fieldSelector: this.opts.fieldSelector,
        },
        (ev) => {
          if (failure) return;
          try {
            this.onWatchEvent(ev.type, ev.object);
          } catch (e) {
            fail(e as Error);
          }
        },
        arm,
        this.opts.metadataOnly ? ACCEPT_METADATA_WATCH : undefined,
      );
      this.currentWatch = handle;
      if (this.stopped) handle.abort();
      await handle.done;
    } catch (err) {
      failure ??= err as Error;
    } finally {
      clearTimeout(watchdog);
      this.currentWatch = undefined;
    }
    if (failure && !this.stopped) throw failure;
  }

  private onWatchEvent(type: string, object: KubeObject | Status): void {
    if (type === 'ERROR') {
      this.stats.errorEvents++;
      const st = object as Status;
      throw new ApiError(st.code ?? 500, st.reason ?? 'Unknown', `watch error: ${st.message ?? ''}`);
    }
    const obj = object as KubeObject;
    const rv = obj.metadata?.resourceVersion;
    if (type === 'BOOKMARK') {
      this.stats.bookmarks++;
      if (rv) this.resourceVersion = rv;
      return;
    }
    const key = objectKey(obj);
    const prev = this.store.get(key);
    if (type === 'ADDED' || type === 'MODIFIED') {
      const cached = this.opts.transform ? this.opts.transform(obj) : obj;
      this.store.set(key, cached);
      if (prev) this.emit('update', cached, prev);
      else this.emit('add', cached);
    } else if (type === 'DELETED') {
      this.store.delete(key);
      this.emit('delete', prev ?? obj);
    }
    if (rv) this.resourceVersion = rv;
  }

  private emit(kind: 'add' | 'update' | 'delete', obj: KubeObject, prev?: KubeObject): void {
    for (const h of this.handlers) {
      try {
        if (kind === 'add') h.onAdd?.(obj);
        else if (kind === 'update') h.onUpdate?.(prev as KubeObject, obj);
        else h.onDelete?.(obj);
      } catch (err) {
        this.log.error({ err: errMessage(err) }, 'informer handler failed');
      }
    }
  }
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
