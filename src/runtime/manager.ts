// The Manager owns everything controllers share: the API client, informers (one per resource and
// namespace, shared by all controllers that watch it), the event recorder, leader election, the
// metrics/health endpoints and the shutdown sequence. Caches run on every replica (so a successor has
// warm caches when it takes over); controllers run only on the leader.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { Controller, type ReconcileFn, type Request } from './controller.js';
import { EventRecorder } from './events.js';
import { FieldIndex, type IndexFunc } from './field-index.js';
import { Informer } from './informer.js';
import { KubeClient, type KubeObject, type ResourceRef } from './kubeclient.js';
import { LeaderElector } from './leader-election.js';
import { SECRETS, SecretCache, decodeSecret } from './secret-cache.js';
import { metricsRegistry } from './metrics.js';
import type { RateLimiter } from './ratelimit.js';
import { HttpEndpoint } from './server.js';

export interface LeaderElectionOptions {
  enabled: boolean;
  namespace: string;
  id: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  identity?: string;
}

export interface ManagerOptions {
  kubeConfig: KubeConfig;
  logger: Logger;
  /** Namespaces to watch; empty watches all. */
  namespaces?: string[];
  leaderElection?: LeaderElectionOptions;
  metricsBindAddress?: string;
  healthProbeBindAddress?: string;
  maxConcurrentReconciles?: number;
  /** Every object is reconciled at least this often; 0 disables. */
  syncPeriodMs?: number;
  gracefulShutdownTimeoutMs?: number;
  fieldManager?: string;
  /** Informer tuning, mostly for tests. */
  /** transform: what informers keep of each object (src/runtime/cache-transform.ts); default: everything. */
  /** transformFor: a transform per resource (cacheTransformFor), used instead of `transform` when set. */
  informer?: {
    minWatchTimeoutSeconds?: number;
    watchdogGraceMs?: number;
    maxBackoffMs?: number;
    transform?: (obj: KubeObject) => KubeObject;
    transformFor?: (resource: ResourceRef) => ((obj: KubeObject) => KubeObject) | undefined;
  };
  /**
   * Sharding (--watch-label-selector): the informers of the resources `appliesTo` accepts list and watch
   * only objects matching `labelSelector`, so one process reconciles one shard of them.
   */
  watchSelector?: { labelSelector: string; appliesTo: (resource: ResourceRef) => boolean };
  /**
   * How Secrets are read (getSecret). 'selective' (default): the operator's own Secrets (managed-by
   * label) are cached, the others watched for metadata only and read by name into a bounded cache
   * (secret-cache.ts); getCached/listCached of Secrets then throw, as their answer would be incomplete.
   * 'cluster': one informer caches every Secret in full (for tools that list Secrets).
   */
  secrets?: { cache: 'cluster' | 'selective'; maxEntries?: number; ttlMs?: number };
}

/**
 * A related kind whose changes reach this controller's queue, as controller-runtime's Watches with
 * EnqueueRequestsFromMapFunc: `map` turns a changed object (old and new copy on update) into the keys of
 * the objects to look at again. Level-based, so mapping too much only costs a no-op reconcile.
 */
export interface WatchSpec {
  resource: ResourceRef;
  map: (obj: KubeObject) => Request[];
  /**
   * A kind that may not be installed (Flux's sources): its cache neither holds back readiness nor the
   * controllers, and while the apiserver does not serve it the informer lists again with a backoff of up
   * to OPTIONAL_MAX_BACKOFF_MS. Readers ask `cacheSynced` before trusting the cache.
   */
  optional?: boolean;
}

/** How often, at most, an optional kind that is not installed is listed again. */
export const OPTIONAL_MAX_BACKOFF_MS = 5 * 60_000;

export interface ControllerSpec {
  name: string;
  resource: ResourceRef;
  reconcile: ReconcileFn;
  /** Related kinds to watch (Secrets, ConfigMaps, another kind the object refers to). */
  watches?: WatchSpec[];
  /** Kinds this controller creates with an owner reference to its objects (controller-runtime's Owns). */
  owns?: ResourceRef[];
  maxConcurrentReconciles?: number;
  rateLimiter?: RateLimiter<string>;
}

export type StopReason = 'stopped' | 'leadership-lost';

export class Manager {
  readonly client: KubeClient;
  readonly events: EventRecorder;
  readonly logger: Logger;
  readonly fieldManager: string;
  private readonly informers = new Map<string, Informer>();
  /** Keys of informers on kinds that may not be installed (WatchSpec.optional). */
  private readonly optionalInformers = new Set<string>();
  private readonly indexes = new Map<string, FieldIndex>();
  private readonly secretCache: SecretCache | undefined;
  private readonly controllers: Array<{ controller: Controller; spec: ControllerSpec }> = [];
  private elector: LeaderElector | undefined;
  private readonly electionAbort = new AbortController();
  private servers: HttpEndpoint[] = [];
  private started = false;
  private stopping: Promise<void> | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private renewing: Promise<boolean> | undefined;
  private resolveDone!: (r: StopReason) => void;
  /** Settles when the manager has stopped, saying why. */
  readonly done: Promise<StopReason>;

  constructor(private readonly opts: ManagerOptions) {
    this.logger = opts.logger;
    this.client = new KubeClient(opts.kubeConfig);
    this.events = new EventRecorder(this.client, opts.logger);
    this.fieldManager = opts.fieldManager ?? 'tenantdb-operator';
    this.done = new Promise((r) => (this.resolveDone = r));
    if (opts.secrets?.cache !== 'cluster') {
      this.secretCache = new SecretCache({
        client: this.client,
        logger: this.logger,
        namespaces: this.namespaces(),
        informer: (ns, o) => this.informer(SECRETS, ns, o),
        transform: this.transformFor(SECRETS),
        ...(opts.secrets?.maxEntries !== undefined ? { maxEntries: opts.secrets?.maxEntries } : {}),
        ...(opts.secrets?.ttlMs !== undefined ? { ttlMs: opts.secrets?.ttlMs } : {}),
      });
    }
  }

  private transformFor(resource: ResourceRef): ((obj: KubeObject) => KubeObject) | undefined {
    const i = this.opts.informer;
    return i?.transformFor ? i.transformFor(resource) : i?.transform;
  }

  private namespaces(): Array<string | undefined> {
    const ns = this.opts.namespaces ?? [];
    return ns.length === 0 ? [undefined] : ns;
  }

  /**
   * The shared informer for `resource` in `namespace` (undefined: all namespaces), created on demand.
   * Objects are those matching the watch selector (sharding) when it applies to `resource`, or `select`.
   */
  informer(resource: ResourceRef, namespace: string | undefined, select: { labelSelector?: string; metadataOnly?: boolean; optional?: boolean } = {}): Informer {
    const labelSelector = this.selectorFor(resource, select);
    const key = this.informerKey(resource, namespace, select);
    let inf = this.informers.get(key);
    // Required as soon as anyone requires it.
    if (!select.optional) this.optionalInformers.delete(key);
    if (!inf) {
      const { transformFor: _per, transform: _one, ...tuning } = this.opts.informer ?? {};
      const transform = this.transformFor(resource);
      inf = new Informer({
        client: this.client,
        resource,
        namespace,
        logger: this.logger,
        ...tuning,
        ...(transform ? { transform } : {}),
        ...(labelSelector ? { labelSelector } : {}),
        ...(select.metadataOnly ? { metadataOnly: true } : {}),
        ...(select.optional ? { maxBackoffMs: OPTIONAL_MAX_BACKOFF_MS } : {}),
      });
      this.informers.set(key, inf);
      if (select.optional) this.optionalInformers.add(key);
      if (this.started) inf.start();
    }
    return inf;
  }

  private selectorFor(resource: ResourceRef, select: { labelSelector?: string }): string | undefined {
    const sharded = this.opts.watchSelector?.appliesTo(resource) ? this.opts.watchSelector.labelSelector : undefined;
    return select.labelSelector ?? sharded;
  }

  private informerKey(resource: ResourceRef, namespace: string | undefined, select: { labelSelector?: string; metadataOnly?: boolean }): string {
    const labelSelector = this.selectorFor(resource, select);
    return `${resourceKey(resource)}@${namespace ?? '*'}?${labelSelector ?? ''}${select.metadataOnly ? '#meta' : ''}`;
  }

  /** Whether the cache of `resource` for `namespace` holds a full list (an optional kind's may never). */
  cacheSynced(resource: ResourceRef, namespace: string): boolean {
    const watched = this.namespaces().filter((ns) => ns === undefined || ns === namespace);
    return watched.length > 0 && watched.every((ns) => this.informers.get(this.informerKey(resource, ns, {}))?.hasSynced() === true);
  }

  /** The informers a controller watching `resource` listens to (Secrets: both of the selective cache). */
  private informersFor(resource: ResourceRef, namespace: string | undefined): Informer[] {
    if (this.secretCache && isSecrets(resource)) return this.secretCache.informers(namespace);
    return [this.informer(resource, namespace)];
  }

  /**
   * A Secret by name, or undefined when it does not exist: how controllers read Secrets (never through
   * getCached, which cannot answer for Secrets with the selective cache).
   */
  async getSecret(namespace: string, name: string): Promise<KubeObject | undefined> {
    if (this.secretCache) return this.secretCache.get(namespace, name);
    return this.getCached(SECRETS, namespace, name);
  }

  /**
   * The Secret as held now, without a request: one the operator owns (cached by label) or one read by name
   * and still valid. For reads after getSecret warmed the cache, and for the operator's own Secrets.
   */
  peekSecret(namespace: string, name: string): KubeObject | undefined {
    if (this.secretCache) return this.secretCache.peek(namespace, name);
    return this.getCached(SECRETS, namespace, name);
  }

  /** The decoded values of a Secret (base64 `data`, `stringData` on top), or undefined when it does not exist. */
  async getSecretData(namespace: string, name: string): Promise<Record<string, string> | undefined> {
    const s = await this.getSecret(namespace, name);
    return s ? decodeSecret(s) : undefined;
  }

  /** Reads an object from the cache of the informers watching `resource`. */
  getCached(resource: ResourceRef, namespace: string | undefined, name: string): KubeObject | undefined {
    this.assertCachedKind(resource);
    for (const ns of this.namespaces()) {
      if (ns !== undefined && ns !== namespace) continue;
      const obj = this.informer(resource, ns).get(namespace, name);
      if (obj) return obj;
    }
    return undefined;
  }

  /** Every cached object of `resource`, in one namespace or all watched ones. */
  listCached(resource: ResourceRef, namespace?: string): KubeObject[] {
    this.assertCachedKind(resource);
    const out: KubeObject[] = [];
    for (const ns of this.namespaces()) {
      if (ns !== undefined && namespace !== undefined && ns !== namespace) continue;
      for (const obj of this.informer(resource, ns).list()) if (namespace === undefined || obj.metadata.namespace === namespace) out.push(obj);
    }
    return out;
  }

  /**
   * Registers a field index on `resource` (controller-runtime's IndexField), kept current by the
   * informers' handlers. Registering the same name again keeps the first function: a name is one meaning.
   */
  indexField(resource: ResourceRef, name: string, fn: IndexFunc): void {
    const key = `${resourceKey(resource)}#${name}`;
    if (this.indexes.has(key)) return;
    const index = new FieldIndex(name, fn);
    this.indexes.set(key, index);
    for (const ns of this.namespaces()) {
      this.informer(resource, ns).addHandler({
        onAdd: (obj) => index.upsert(obj),
        onUpdate: (_old, obj) => index.upsert(obj),
        onDelete: (obj) => index.delete(obj),
      });
    }
  }

  /** Cached objects of `resource` in `namespace` that index `name` finds under `value`. */
  byIndex(resource: ResourceRef, name: string, namespace: string | undefined, value: string): KubeObject[] {
    const index = this.indexes.get(`${resourceKey(resource)}#${name}`);
    if (!index) throw new Error(`no index ${name} on ${resource.plural}: register it with indexField first`);
    const out: KubeObject[] = [];
    for (const key of index.keys(namespace, value)) {
      const i = key.indexOf('/');
      const obj = i < 0 ? this.getCached(resource, undefined, key) : this.getCached(resource, key.slice(0, i), key.slice(i + 1));
      if (obj) out.push(obj);
    }
    return out;
  }

  private assertCachedKind(resource: ResourceRef): void {
    if (this.secretCache && isSecrets(resource)) throw new Error('Secrets are not cached cluster-wide here: read them with mgr.getSecret(namespace, name)');
  }

  addController(spec: ControllerSpec): Controller {
    if (this.started) throw new Error('controllers must be added before the manager starts');
    const controller = new Controller({
      name: spec.name,
      reconcile: spec.reconcile,
      maxConcurrentReconciles: spec.maxConcurrentReconciles ?? this.opts.maxConcurrentReconciles ?? 1,
      logger: this.logger,
      ...(spec.rateLimiter ? { rateLimiter: spec.rateLimiter } : {}),
    });
    for (const ns of this.namespaces()) controller.watch(this.informer(spec.resource, ns));
    const owned = (spec.owns ?? []).map((resource): WatchSpec => ({ resource, map: ownerRequests(spec.resource) }));
    for (const w of [...(spec.watches ?? []), ...owned]) {
      for (const ns of this.namespaces()) {
        const infs = w.optional ? [this.informer(w.resource, ns, { optional: true })] : this.informersFor(w.resource, ns);
        for (const inf of infs) controller.watchMapped(inf, w.map);
      }
    }
    this.controllers.push({ controller, spec });
    return controller;
  }

  private requiredInformers(): Informer[] {
    return [...this.informers.entries()].filter(([k]) => !this.optionalInformers.has(k)).map(([, i]) => i);
  }

  cachesSynced(): boolean {
    return this.requiredInformers().every((i) => i.hasSynced());
  }

  isLeader(): boolean {
    return this.elector ? this.elector.isLeader() : true;
  }

  /** Starts endpoints, caches and (once leading) controllers; returns once endpoints listen. */
  async start(): Promise<void> {
    if (this.started) throw new Error('manager already started');
    this.started = true;
    const metrics = await HttpEndpoint.listen(this.opts.metricsBindAddress ?? ':8080', { registry: metricsRegistry });
    if (metrics) this.servers.push(metrics);
    const health = await HttpEndpoint.listen(this.opts.healthProbeBindAddress ?? ':8081', {
      healthz: () => !this.stopping,
      readyz: () => !this.stopping && this.cachesSynced(),
    });
    if (health) this.servers.push(health);
    for (const inf of this.informers.values()) inf.start();
    const le = this.opts.leaderElection;
    if (le?.enabled) {
      this.elector = new LeaderElector({
        client: this.client,
        namespace: le.namespace,
        name: le.id,
        logger: this.logger,
        ...(le.identity ? { identity: le.identity } : {}),
        ...(le.leaseDurationMs ? { leaseDurationMs: le.leaseDurationMs } : {}),
        ...(le.renewDeadlineMs ? { renewDeadlineMs: le.renewDeadlineMs } : {}),
        ...(le.retryPeriodMs ? { retryPeriodMs: le.retryPeriodMs } : {}),
      });
      void this.lead(this.elector);
    } else {
      void this.runControllers();
    }
  }

  /** Ports actually bound (useful with ":0"). */
  ports(): number[] {
    return this.servers.map((s) => s.port());
  }

  private async lead(elector: LeaderElector): Promise<void> {
    const signal = this.electionAbort.signal;
    if (!(await elector.acquire(signal))) return;
    await this.runControllers();
    this.renewing = elector.renewLoop(signal);
    const keptOnPurpose = await this.renewing;
    if (!keptOnPurpose && !this.stopping) {
      // Another replica may already be reconciling; continuing would mean two writers. Stop everything
      // at once, as controller-runtime does, and let the process restart as a candidate.
      this.logger.error('leader election lost; stopping');
      await this.shutdown(0, false);
      this.resolveDone('leadership-lost');
    }
  }

  private async runControllers(): Promise<void> {
    await Promise.all(this.requiredInformers().map((i) => i.waitForSync()));
    if (this.stopping) return;
    this.logger.info('caches synced; starting controllers');
    for (const { controller } of this.controllers) controller.start();
    const period = this.opts.syncPeriodMs ?? 10 * 60 * 60 * 1000;
    if (period > 0) this.scheduleResync(period);
  }

  private scheduleResync(periodMs: number): void {
    // Jittered so replicas and restarts do not all resync at the same moment.
    const delay = periodMs * (0.9 + Math.random() * 0.2);
    this.resyncTimer = setTimeout(() => {
      for (const { controller, spec } of this.controllers) {
        for (const ns of this.namespaces()) for (const obj of this.informer(spec.resource, ns).list()) controller.enqueue(keyOf(obj));
      }
      this.scheduleResync(periodMs);
    }, delay);
    this.resyncTimer.unref();
  }

  /**
   * Graceful stop: controllers stop taking work and finish in-flight reconciles (bounded), then the
   * lease is released so a successor starts at once, then caches and endpoints close.
   */
  stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = this.shutdown(this.opts.gracefulShutdownTimeoutMs ?? 30_000, true).then(() => this.resolveDone('stopped'));
    }
    return this.stopping;
  }

  private async shutdown(graceMs: number, release: boolean): Promise<void> {
    this.stopping ??= Promise.resolve();
    clearTimeout(this.resyncTimer);
    this.electionAbort.abort();
    await Promise.all(this.controllers.map(({ controller }) => controller.stop(graceMs)));
    // A renewal still in flight could land after the release and hold the lease again.
    await this.renewing;
    if (release && this.elector) await this.elector.release();
    await Promise.all([...this.informers.values()].map((i) => i.stop()));
    await Promise.all(this.servers.map((s) => s.close()));
    this.servers = [];
    this.client.close();
    this.logger.info('manager stopped');
  }
}

/** Maps an object to its owners of the controller's kind (by ownerReferences, group and plural-free kind match). */
export function ownerRequests(owner: ResourceRef): (obj: KubeObject) => Request[] {
  const apiVersion = owner.group === '' ? owner.version : `${owner.group}/${owner.version}`;
  const group = owner.group;
  return (obj) => {
    const refs = (obj.metadata.ownerReferences ?? []) as Array<{ apiVersion: string; kind: string; name: string }>;
    return refs
      .filter((r) => r.apiVersion === apiVersion || r.apiVersion.split('/')[0] === group)
      .filter((r) => kindMatchesPlural(r.kind, owner.plural))
      .map((r) => ({ namespace: obj.metadata.namespace, name: r.name }));
  };
}

function kindMatchesPlural(kind: string, plural: string): boolean {
  const k = kind.toLowerCase();
  return plural === `${k}s` || plural === `${k}es` || plural === `${k.replace(/y$/, '')}ies` || plural === k;
}

function resourceKey(r: ResourceRef): string {
  return `${r.group}/${r.version}/${r.plural}`;
}

function isSecrets(r: ResourceRef): boolean {
  return r.group === '' && r.plural === 'secrets';
}

function keyOf(obj: KubeObject): string {
  return obj.metadata.namespace ? `${obj.metadata.namespace}/${obj.metadata.name}` : obj.metadata.name;
}
