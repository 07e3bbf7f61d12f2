// The reconcile kit: the steps every controller of this operator takes before and around its own work,
// written once (controller-runtime's reconcile.Reconciler plus the usual helpers around it).
//
// How to use it:
//
//   const reconcile = reconcileWith<FooSpec, FooStatus>(mgr, {
//     kind: 'Foo',                                   // resource, apiVersion/kind of Events, FINALIZER
//     validate: validateFoo,                         // the kind's zod validator (src/api/foo.ts)
//     finalize: async (ctx) => 'done',               // optional: cleanup while the finalizer is held
//     reconcile: async (ctx) => {                     // ctx.spec is the parsed, valid spec
//       await ctx.writeHealth({ state: 'Ready', reason: 'Ready', message: '...' }, { someField: 1 });
//       return {};
//     },
//   });
//   mgr.addController({ name: controllerName('Foo'), resource: resourceOf('Foo'), reconcile, watches });
//
// What the kit does on each pass, in order:
//   1. reads the object from the informer cache (gone: `gone(key)`, then nothing); an object without
//      FINALIZER (and not being deleted) gets it, and the pass continues with the patched object (with
//      `finalizerAlongside`, the patch runs while the pass does, and ctx.finalizerHeld says when it held);
//   2. `before` (optional) may answer first (e.g. "my cache is older than my last write: come back");
//   3. being deleted: runs `finalize` (with the spec, or undefined when it does not validate) until it
//      says 'done', then removes FINALIZER; without `finalize` the finalizer is just removed;
//   4. spec does not validate: Stalled/InvalidSpec in status and one Warning Event per distinct message;
//   5. `reconcile` with the parsed spec; it writes status with ctx.writeHealth / ctx.patchStatus, which
//      write only when something changed (a converged object costs no write).
// Secrets: SECRETS, decodeSecret and ctx.secretValue are the one way to read them (never log values).
// The Secrets a pass reads are named up front (`secrets`, or ctx.readSecrets for those found on the way)
// and read by name once per pass: the operator caches only the Secrets it owns, not every Secret of the
// cluster, so a read is a request unless the small by-name cache still holds it.
import type { Logger } from 'pino';
import { redactValues, scrubDeep } from './scrub.js';
import type { z } from 'zod';
import { API_GROUP_VERSION, KINDS, type KindName } from '../api/kinds.js';
import type { ValidationResult } from '../api/object.js';
import { FINALIZER, resourceOf } from '../api/resources.js';
import { findCondition, setHealth, type Condition, type Health } from './conditions.js';
import type { ReconcileFn, Request, Result } from './controller.js';
import type { EventType } from './events.js';
import { ensureFinalizer, hasFinalizer, isBeingDeleted, removeFinalizer } from './finalizers.js';
import type { KubeObject, ResourceRef } from './kubeclient.js';
import type { Manager } from './manager.js';
import { patchStatus } from './status.js';

export { FINALIZER };
export const SECRETS: ResourceRef = { group: '', version: 'v1', plural: 'secrets' };
export const CONFIGMAPS: ResourceRef = { group: '', version: 'v1', plural: 'configmaps' };

/** The fields of a core/v1 Secret the operator reads. */
interface SecretFields {
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

/** A Secret's `data` as stored (base64 values); {} when there is none. For compare-before-write. */
export function secretRawData(secret: KubeObject | undefined): Record<string, string> {
  return (secret as SecretFields | undefined)?.data ?? {};
}

/** Decoded data of a Secret (base64 `data`, then `stringData` over it); undefined when there is no Secret. */
export function decodeSecret(secret: KubeObject | undefined): Record<string, string> | undefined {
  if (!secret) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(secretRawData(secret))) out[k] = Buffer.from(v, 'base64').toString('utf8');
  for (const [k, v] of Object.entries((secret as SecretFields).stringData ?? {})) out[k] = v;
  return out;
}

/** Decoded value of one key of a Secret; undefined when the Secret or the key is missing. */
export function secretValue(secret: KubeObject | undefined, key: string): string | undefined {
  return decodeSecret(secret)?.[key];
}


// Parsed specs and statuses per schema, keyed by the cached object's field: the informer replaces an
// object on every change, so an entry is valid as long as the cached copy lives, and goes with it.
const parsed = new WeakMap<z.ZodType, WeakMap<object, unknown>>();

function parsedField<S extends z.ZodType>(value: unknown, schema: S): z.output<S> | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  let cache = parsed.get(schema);
  if (!cache) parsed.set(schema, (cache = new WeakMap()));
  if (cache.has(value)) return cache.get(value) as z.output<S> | undefined;
  const r = schema.safeParse(value);
  const out = r.success ? r.data : undefined;
  cache.set(value, out);
  return out;
}

/**
 * A cached object's spec parsed with the kind's zod schema (defaults applied), or undefined when it does
 * not validate. The typed way for map and index functions to read another object's spec (no casts);
 * memoized per cached copy, so calling it from every watch event costs one parse per change.
 */
export function specOf<S extends z.ZodType>(obj: KubeObject, schema: S): z.output<S> | undefined {
  return parsedField(obj.spec, schema);
}

/** A cached object's status parsed with its schema (undefined when absent or not valid), memoized as specOf. */
export function statusOf<S extends z.ZodType>(obj: KubeObject, schema: S): z.output<S> | undefined {
  return parsedField(obj.status, schema);
}

/** Replaces every occurrence of the given secret values in a text, raw or as an error may echo them
 * (percent-encoded, JSON-escaped: ARM echoes request bodies in errors). */
export function redact(text: string, secrets: Iterable<string>): string {
  return redactValues(text, secrets);
}

/** The work-queue request for an object (watch map functions). */
export function requestFor(obj: KubeObject): Request {
  return { namespace: obj.metadata.namespace, name: obj.metadata.name };
}

/** The object as an Event's `regarding` needs it (cached objects may lack apiVersion/kind). */
export function regardingOf(obj: KubeObject, kind: KindName): KubeObject {
  return { ...obj, apiVersion: API_GROUP_VERSION, kind: KINDS[kind].kind };
}

/** True when `health` changes Ready's status or reason: worth an Event (progress messages are not). */
export function readyChanged(prev: readonly Condition[] | undefined, health: Health): boolean {
  const before = findCondition(prev, 'Ready');
  return before?.status !== (health.state === 'Ready' ? 'True' : 'False') || before?.reason !== health.reason;
}

/** True when `health` moves the object into or out of Stalled. */
export function stalledChanged(prev: readonly Condition[] | undefined, health: Health): boolean {
  return (health.state === 'Stalled') !== (findCondition(prev, 'Stalled')?.status === 'True');
}

/** True when `health` changes Ready's reason or message (InvalidSpec: one Event per distinct problem). */
export function readyMessageChanged(prev: readonly Condition[] | undefined, health: Health): boolean {
  const before = findCondition(prev, 'Ready');
  return before?.reason !== health.reason || before?.message !== health.message;
}

/** Stalled/InvalidSpec for a validation error (the message is capped to what a condition holds). */
export function invalidSpecHealth(message: string): Health {
  return { state: 'Stalled', reason: 'InvalidSpec', message: message.slice(0, 32_000) };
}

export interface WriteHealthOptions {
  /** Conditions to start from instead of the stored ones (e.g. with the parts' own conditions set). */
  conditions?: Condition[];
  /** When the write deserves an Event (given the stored conditions); default readyChanged; false: never. */
  event?: false | ((prev: readonly Condition[] | undefined, health: Health) => boolean);
  /** Post-process the desired status before the compare-and-write (e.g. drop undefined fields). */
  normalize?: (desired: Record<string, unknown>) => Record<string, unknown>;
}

/** What every step of a kind's reconcile gets: the cached object and ways to write back. */
export interface ObjectContext<Status> {
  mgr: Manager;
  obj: KubeObject;
  /** namespace/name, the work-queue key. */
  key: string;
  namespace: string;
  name: string;
  generation: number | undefined;
  /** Status as last written (output, never input for where a secret or write goes). */
  status: Status;
  regarding: KubeObject;
  log: Logger;
  reconcileID: string;
  signal: AbortSignal;
  /** Records an Event on the object (action defaults to the kind's). Never pass secret material. */
  event(type: EventType, reason: string, note: string, action?: string): Promise<void>;
  /** Merge-patches status fields; undefined (no write) when they already hold these values. */
  patchStatus(desired: Record<string, unknown>): Promise<KubeObject | undefined>;
  /** Writes observedGeneration + Ready/Reconciling/Stalled (+ `extra`); Event per `opts.event`. True when written. */
  writeHealth(health: Health, extra?: Record<string, unknown>, opts?: WriteHealthOptions): Promise<boolean>;
  /** Reads Secrets of the object's namespace by name (a request unless cached); secret/secretValue then answer. */
  readSecrets(names: Iterable<string>): Promise<void>;
  /** A Secret of the object's namespace read this pass (readSecrets), or one the operator owns. */
  secret(name: string): KubeObject | undefined;
  /** Decoded value of `key` in Secret `name` of the object's namespace. */
  secretValue(name: string, key: string): string | undefined;
}

export interface SpecContext<Spec, Status> extends ObjectContext<Status> {
  spec: Spec;
  /**
   * Settles when the object holds FINALIZER (at once unless `finalizerAlongside` added it this pass).
   * A pass awaits it before its first change outside the object's own status.
   */
  finalizerHeld: Promise<void>;
}

export type FinalizeOutcome = 'done' | Result;

export interface KindReconciler<Spec, Status> {
  kind: KindName;
  /** The kind's validator from src/api (called with status stripped: status is never input). */
  validate: (obj: unknown) => ValidationResult<{ spec: Spec }>;
  /** Event action for ctx.event; default 'Reconcile'. */
  action?: string;
  /** The object is no longer in the cache. */
  gone?: (key: string, namespace: string | undefined, name: string) => Promise<void> | void;
  /** Runs first on every pass that has an object; a Result ends the pass. */
  before?: (ctx: ObjectContext<Status>) => Result | undefined | Promise<Result | undefined>;
  /** Cleanup while FINALIZER is held; spec is undefined when it does not validate. 'done' lets the object go. */
  finalize?: (ctx: ObjectContext<Status> & { spec: Spec | undefined }) => Promise<FinalizeOutcome>;
  /** The Secrets of the object's namespace the pass reads (read before finalize and reconcile). */
  secrets?: (spec: Spec | undefined, ctx: ObjectContext<Status>) => Iterable<string>;
  reconcile: (ctx: SpecContext<Spec, Status>) => Promise<Result | void>;
  /**
   * A new object's finalizer patch runs alongside the pass instead of before it: a kind whose first
   * change elsewhere comes after reads of its own (the Migration's history) awaits ctx.finalizerHeld
   * there and saves the patch's round trip. A failed patch fails the pass all the same.
   */
  finalizerAlongside?: boolean;
}

// Secret keys whose values are names and addresses, not secrets: status and messages keep them.
const PUBLIC_SECRET_KEYS = /^(username|user|host|port|dbname|database|sslmode|tenantId|clientId|subscriptionId|[a-z.]*\.crt|pooler-host|pooler-port)$/i;

/** Builds the ObjectContext for one cached object (exported for controllers with steps outside reconcileWith). */
export function objectContext<Status>(
  mgr: Manager,
  kind: KindName,
  obj: KubeObject,
  rctx: { log: Logger; reconcileID: string; signal: AbortSignal },
  action = 'Reconcile',
): ObjectContext<Status> {
  const resource = resourceOf(kind);
  const namespace = obj.metadata.namespace ?? 'default';
  const generation = obj.metadata.generation;
  const status = (obj.status ?? {}) as Status;
  const regarding = regardingOf(obj, kind);
  const prevConditions = (status as { conditions?: Condition[] }).conditions;
  const read = new Map<string, KubeObject | undefined>();
  const secret = (name: string): KubeObject | undefined => (read.has(name) ? read.get(name) : mgr.peekSecret(namespace, name));
  // Every Secret value this pass reads: status, Events and log fields are scrubbed of them on the way
  // out, whatever error echoed them (a pg error naming a mistyped user, ARM echoing a request body).
  const seen = new Set<string>();
  const remember = (key: string, v: string | undefined): string | undefined => {
    if (v !== undefined && v.length >= 6 && !PUBLIC_SECRET_KEYS.test(key)) seen.add(v);
    return v;
  };
  const clean = <T>(v: T): T => scrubDeep(v, seen);
  const log = rctx.log.child({}, { formatters: { log: (o: object) => clean(o) } });
  const ctx: ObjectContext<Status> = {
    mgr,
    obj,
    key: `${namespace}/${obj.metadata.name}`,
    namespace,
    name: obj.metadata.name,
    generation,
    status,
    regarding,
    log,
    reconcileID: rctx.reconcileID,
    signal: rctx.signal,
    event: (type, reason, note, a = action) => mgr.events.event(regarding, type, reason, a, clean(note)),
    patchStatus: (desired) => patchStatus(mgr.client, resource, obj, clean(desired), mgr.fieldManager),
    writeHealth: async (health, extra = {}, opts = {}) => {
      let desired: Record<string, unknown> = { ...extra, observedGeneration: generation, conditions: setHealth(opts.conditions ?? prevConditions, health, generation) };
      if (opts.normalize) desired = opts.normalize(desired);
      const updated = await ctx.patchStatus(desired);
      if (!updated) return false;
      const due = opts.event === false ? false : (opts.event ?? readyChanged)(prevConditions, health);
      if (due) await ctx.event(health.state === 'Stalled' ? 'Warning' : 'Normal', health.reason, health.message);
      log.info({ generation, state: health.state, reason: health.reason }, 'status updated');
      return true;
    },
    readSecrets: async (names) => {
      const todo = [...new Set(names)].filter((n) => !read.has(n));
      const got = await Promise.all(todo.map((n) => mgr.getSecret(namespace, n)));
      todo.forEach((n, i) => read.set(n, got[i]));
    },
    secret: (name) => {
      const sec = secret(name);
      for (const [k, v] of Object.entries(decodeSecret(sec) ?? {})) remember(k, v);
      return sec;
    },
    secretValue: (name, key) => remember(key, secretValue(secret(name), key)),
  };
  return ctx;
}

/** The reconcile function for a kind: cache read, finalizer, validation, then the kind's own steps. */
export function reconcileWith<Spec, Status>(mgr: Manager, r: KindReconciler<Spec, Status>): ReconcileFn {
  const resource = resourceOf(r.kind);
  return async (rctx, req) => {
    let obj = mgr.getCached(resource, req.namespace, req.name);
    if (!obj) {
      await r.gone?.(`${req.namespace ?? 'default'}/${req.name}`, req.namespace, req.name);
      return {};
    }
    // A new object gets the finalizer first and the pass goes on with the object the patch returned:
    // waiting for the watch to bring it back would add a round trip before any real work starts (and
    // that update brings no second pass: controller.ts). `finalizerAlongside` takes the patch off the
    // path too; the pass awaits ctx.finalizerHeld before it changes anything.
    let held: Promise<unknown> = Promise.resolve();
    if (!isBeingDeleted(obj) && !hasFinalizer(obj, FINALIZER)) {
      const adding = ensureFinalizer(mgr.client, resource, obj, FINALIZER, mgr.fieldManager);
      if (r.finalizerAlongside) held = settled(adding);
      else obj = await adding;
    }
    const ctx = objectContext<Status>(mgr, r.kind, obj, rctx, r.action);
    const early = await r.before?.(ctx);
    if (early) return early;
    const validation = r.validate({ ...obj, status: undefined });
    const spec = validation.ok ? validation.value.spec : undefined;
    if (r.secrets) await ctx.readSecrets(r.secrets(spec, ctx));

    if (isBeingDeleted(obj)) {
      if (!hasFinalizer(obj, FINALIZER)) return {};
      if (r.finalize) {
        const out = await r.finalize({ ...ctx, spec });
        if (out !== 'done') return out;
      }
      await removeFinalizer(mgr.client, resource, obj, FINALIZER, mgr.fieldManager);
      return {};
    }
    if (!validation.ok) {
      await ctx.writeHealth(invalidSpecHealth(validation.error.message), {}, { event: readyMessageChanged });
      return {};
    }
    const out = await r.reconcile({ ...ctx, spec: validation.value.spec, finalizerHeld: settled(held.then(() => undefined)) });
    await held;
    return out ?? {};
  };
}

/** The promise, with its rejection marked handled: whoever awaits it still sees the error. */
function settled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}
