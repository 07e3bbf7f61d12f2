// One controller: informer events become namespace/name keys in a work queue; a bounded pool of workers
// takes keys and calls the kind's reconcile function, which reads the object from the cache (level-based:
// the key says "look again", not "this changed"). The queue guarantees a key is never reconciled twice at
// once; failures back off per key; `requeueAfterMs` schedules a later look.
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import type { Informer } from './informer.js';
import { objectKey } from './informer.js';
import type { KubeObject } from './kubeclient.js';
import { reconcileLogger } from './logging.js';
import { activeWorkers, maxConcurrentReconciles, queueMetricsFor, reconcileErrors, reconcileTime, reconcileTotal, terminalReconcileErrors } from './metrics.js';
import type { RateLimiter } from './ratelimit.js';
import { WorkQueue } from './workqueue.js';
import { FINALIZER } from '../api/resources.js';

export interface Request {
  namespace: string | undefined;
  name: string;
}

export interface Result {
  /** Look at the object again after this many milliseconds (resets its failure backoff). */
  requeueAfterMs?: number;
  /** Look again after the rate limiter's backoff, without counting as an error. */
  requeue?: boolean;
}

export interface ReconcileContext {
  log: Logger;
  reconcileID: string;
  /** Aborted when the manager shuts down and the graceful period runs out. */
  signal: AbortSignal;
}

export type ReconcileFn = (ctx: ReconcileContext, req: Request) => Promise<Result | void>;

/** An error retrying cannot fix (the reconcile reports it in status); the key is not requeued. */
export class TerminalError extends Error {
  override name = 'TerminalError';
}

export interface ControllerOptions {
  name: string;
  reconcile: ReconcileFn;
  maxConcurrentReconciles?: number;
  rateLimiter?: RateLimiter<string>;
  logger: Logger;
}

export function requestFromKey(key: string): Request {
  const i = key.indexOf('/');
  return i < 0 ? { namespace: undefined, name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/**
 * The update only added this operator's finalizer: the pass that added it went on with the patched
 * object (reconcile-kit.ts), so reacting would repeat that pass while its work starts. A finalizer
 * removed (ours or another's) or another added still brings a reconcile.
 */
function onlyOursAdded(before: string[] | undefined, after: string[] | undefined): boolean {
  const b = before ?? [];
  const a = after ?? [];
  return a.length === b.length + 1 && a.includes(FINALIZER) && !b.includes(FINALIZER) && b.every((f) => a.includes(f));
}

/**
 * An update worth a reconcile: anything but a change confined to status (which this operator writes
 * itself, so reacting to it would only produce no-op reconciles). The periodic resync still catches
 * status edited by someone else.
 */
export function updateNeedsReconcile(oldObj: KubeObject, newObj: KubeObject): boolean {
  if (oldObj.metadata.generation !== newObj.metadata.generation) return true;
  const o = oldObj.metadata;
  const n = newObj.metadata;
  if (o.deletionTimestamp !== n.deletionTimestamp) return true;
  if (!isDeepStrictEqual(o.finalizers, n.finalizers) && !onlyOursAdded(o.finalizers, n.finalizers)) return true;
  if (!isDeepStrictEqual(o.labels, n.labels) || !isDeepStrictEqual(o.annotations, n.annotations)) return true;
  // Objects without a generation (no status subresource) change only through their main resource.
  if (newObj.metadata.generation === undefined) return o.resourceVersion !== n.resourceVersion;
  return false;
}

export class Controller {
  readonly name: string;
  readonly queue: WorkQueue<string>;
  private readonly workers: number;
  private readonly log: Logger;
  private running: Promise<void>[] = [];
  private readonly abort = new AbortController();
  private started = false;

  constructor(private readonly opts: ControllerOptions) {
    this.name = opts.name;
    this.workers = Math.max(1, opts.maxConcurrentReconciles ?? 1);
    this.log = opts.logger.child({ controller: opts.name });
    this.queue = new WorkQueue<string>({ metrics: queueMetricsFor(opts.name), ...(opts.rateLimiter ? { rateLimiter: opts.rateLimiter } : {}) });
    maxConcurrentReconciles.set({ controller: opts.name }, this.workers);
    activeWorkers.set({ controller: opts.name }, 0);
  }

  /** Feeds the queue from an informer. */
  watch(informer: Informer): void {
    informer.addHandler({
      onAdd: (obj) => this.queue.add(objectKey(obj)),
      onUpdate: (oldObj, newObj) => {
        if (updateNeedsReconcile(oldObj, newObj)) this.queue.add(objectKey(newObj));
      },
      onDelete: (obj) => this.queue.add(objectKey(obj)),
    });
  }

  /** Feeds the queue from an informer of a related kind, through a map to this kind's keys. */
  watchMapped(informer: Informer, map: (obj: KubeObject) => Request[]): void {
    const add = (obj: KubeObject) => {
      let reqs: Request[];
      try {
        reqs = map(obj);
      } catch (err) {
        this.log.error({ err: err instanceof Error ? err.message : String(err) }, 'watch map function failed');
        return;
      }
      for (const r of reqs) this.queue.add(r.namespace ? `${r.namespace}/${r.name}` : r.name);
    };
    informer.addHandler({
      onAdd: add,
      onUpdate: (oldObj, newObj) => {
        if (oldObj.metadata.resourceVersion === newObj.metadata.resourceVersion) return; // a resync, not a change
        add(oldObj);
        add(newObj);
      },
      onDelete: add,
    });
  }

  enqueue(key: string): void {
    this.queue.add(key);
  }

  isStarted(): boolean {
    return this.started;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.log.info({ workers: this.workers }, 'starting workers');
    for (let i = 0; i < this.workers; i++) this.running.push(this.worker());
  }

  /** Stops taking work and waits up to `timeoutMs` for in-flight reconciles; then aborts them. */
  async stop(timeoutMs: number): Promise<boolean> {
    const drained = await this.queue.shutDownWithDrain(timeoutMs);
    if (!drained) this.log.warn({ timeoutMs }, 'reconciles still running at the end of the graceful period');
    this.abort.abort();
    await Promise.race([Promise.all(this.running), new Promise((r) => setTimeout(r, 1_000).unref())]);
    this.running = [];
    return drained;
  }

  private async worker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      try {
        await this.process(key);
      } finally {
        this.queue.done(key);
      }
    }
  }

  private async process(key: string): Promise<void> {
    const req = requestFromKey(key);
    const reconcileID = randomUUID();
    const log = reconcileLogger(this.opts.logger, this.name, req.namespace, req.name, reconcileID);
    const labels = { controller: this.name };
    activeWorkers.inc(labels);
    const end = reconcileTime.startTimer(labels);
    try {
      const res = (await this.opts.reconcile({ log, reconcileID, signal: this.abort.signal }, req)) ?? {};
      if (res.requeueAfterMs !== undefined && res.requeueAfterMs > 0) {
        this.queue.forget(key);
        this.queue.addAfter(key, res.requeueAfterMs);
        reconcileTotal.inc({ ...labels, result: 'requeue_after' });
      } else if (res.requeue) {
        this.queue.addRateLimited(key);
        reconcileTotal.inc({ ...labels, result: 'requeue' });
      } else {
        this.queue.forget(key);
        reconcileTotal.inc({ ...labels, result: 'success' });
      }
    } catch (err) {
      reconcileErrors.inc(labels);
      reconcileTotal.inc({ ...labels, result: 'error' });
      const message = err instanceof Error ? err.message : String(err);
      if (err instanceof TerminalError) {
        terminalReconcileErrors.inc(labels);
        this.queue.forget(key);
        log.error({ err: message }, 'reconcile failed terminally');
      } else {
        this.queue.addRateLimited(key);
        log.error({ err: message, requeues: this.queue.numRequeues(key) }, 'reconcile failed; will retry');
      }
    } finally {
      end();
      activeWorkers.dec(labels);
    }
  }
}
