// The TenantDatabase reconcile: on the kit (src/runtime/reconcile-kit.ts: cache read, finalizer, spec
// validation), the parts in order (server, then the parts inside it), Ready composed from their
// conditions and status written once. Level-based: every pass reads the object from the cache and the
// actual state from Azure/PostgreSQL; a converged object writes nothing (each part diffs before it
// applies, and status is patched only when it changed). On deletion the parts finalize in reverse.
import { referencedSecrets } from '../../src/tenantdatabase/index.js';
import { validateTenantDatabase, type TenantDatabaseSpec, type TenantDatabaseStatus } from '../../src/api/tenantdatabase.js';
import { resourceOf } from '../../src/api/resources.js';
import { setCondition, type Condition, type Health } from '../../src/runtime/conditions.js';
import type { ReconcileFn, Result } from '../../src/runtime/controller.js';
import type { Manager } from '../../src/runtime/manager.js';
import { reconcileWith, type FinalizeOutcome, type ObjectContext } from '../../src/runtime/reconcile-kit.js';
import { patchStatus } from '../../src/runtime/status.js';
import { FailureBackoff } from '../../src/runtime/backoff.js';
import type { ControllerSettings } from '../../src/settings.js';
import type { DatabasePart, FinalizeStep, PartCondition, PartOutcome, ServerPart, TenantDatabaseContext } from './context.js';
import { databasePart } from './database/index.js';
import { externalServerPart } from './server-external.js';
import { azureServerPart } from './server-azure/index.js';
import { tenancyPart } from './tenancy/index.js';
import { maintenancePart } from './maintenance/index.js';
import { healthPart } from './health/index.js';

const RESOURCE = resourceOf('TenantDatabase');

export interface TenantDatabaseParts {
  azure: ServerPart;
  external: ServerPart;
  /** In order: each runs only when the ones before it are in shape. */
  inside: DatabasePart[];
}

export function defaultParts(): TenantDatabaseParts {
  return { azure: azureServerPart, external: externalServerPart, inside: [databasePart, tenancyPart, healthPart, maintenancePart()] };
}

/** Overall health from the parts' conditions: the first part not in shape gives the reason. */
export function composeHealth(conditions: PartCondition[]): Health {
  const bad = conditions.find((c) => !c.ok && !c.informational);
  if (!bad) return { state: 'Ready', reason: 'Ready', message: 'server, database and everything below are in shape' };
  return { state: bad.stalled ? 'Stalled' : 'Reconciling', reason: bad.reason, message: bad.message };
}

function partConditions(current: Condition[] | undefined, parts: PartCondition[], generation: number | undefined): Condition[] {
  let list = current;
  for (const p of parts) {
    list = setCondition(list, {
      type: p.type,
      status: p.ok ? 'True' : 'False',
      reason: p.reason,
      message: p.message,
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
    });
  }
  return list ?? [];
}

function serverPart(parts: TenantDatabaseParts, spec: TenantDatabaseSpec): ServerPart {
  return spec.server.azure ? parts.azure : parts.external;
}

function partContext(kit: ObjectContext<TenantDatabaseStatus>, spec: TenantDatabaseSpec, settings: ControllerSettings): TenantDatabaseContext {
  return {
    mgr: kit.mgr,
    obj: kit.obj,
    namespace: kit.namespace,
    name: kit.name,
    generation: kit.generation,
    spec,
    status: kit.status,
    settings,
    log: kit.log,
    signal: kit.signal,
    event: (type, reason, message) => kit.event(type, reason, message),
    secret: kit.secret,
    secretValue: kit.secretValue,
  };
}

/** Failed cleanups of objects being deleted, retried with growing delays (5 s doubling to 5 min). */
const deletionBackoff = new FailureBackoff();

function again(ctx: TenantDatabaseContext, r: FinalizeStep): Result {
  const key = `${ctx.namespace}/${ctx.name}`;
  if (r.failed) return { requeueAfterMs: deletionBackoff.next(key, r.requeueAfterMs ?? 0) };
  deletionBackoff.reset(key);
  return r.requeueAfterMs ? { requeueAfterMs: r.requeueAfterMs } : { requeue: true };
}

/** Deletion: the inside parts in reverse order (each once, recorded in status), then the server. */
async function finalizeParts(ctx: TenantDatabaseContext, parts: TenantDatabaseParts): Promise<FinalizeOutcome> {
  const server = serverPart(parts, ctx.spec);
  const finalized = new Set(ctx.status.finalizedParts ?? []);
  const pending = [...parts.inside].reverse().filter((p) => p.finalize && p.applies(ctx.spec) && !finalized.has(p.name));
  if (pending.length > 0) {
    const conn = await server.connectionForCleanup(ctx);
    for (const part of pending) {
      const r = await (part.finalize as NonNullable<DatabasePart['finalize']>)(ctx, conn);
      if (!r.done) return again(ctx, r);
      finalized.add(part.name);
    }
    // Recorded before the server goes: once it is being deleted the inside parts cannot be reached.
    await patchStatus(ctx.mgr.client, RESOURCE, ctx.obj, { finalizedParts: [...finalized].sort() }, ctx.mgr.fieldManager);
  }
  const r = await server.finalize(ctx);
  if (!r.done) return again(ctx, r);
  deletionBackoff.reset(`${ctx.namespace}/${ctx.name}`);
  ctx.log.info('cleanup done; finalizer removed');
  return 'done';
}

/** The parts in order; a part not in shape stops the ones that depend on it. */
async function runParts(ctx: TenantDatabaseContext, parts: TenantDatabaseParts): Promise<PartOutcome[]> {
  const outcomes: PartOutcome[] = [];
  const so = await serverPart(parts, ctx.spec).reconcile(ctx);
  // A server part that reports in shape but gives no way in would make Ready claim what nobody checked.
  if (so.condition.ok && !so.connection) so.condition = { ...so.condition, ok: false, stalled: false, reason: 'NoConnection', message: 'the server is in shape but gave no connection for the database' };
  outcomes.push(so);
  if (!so.condition.ok || !so.connection) return outcomes;
  for (const part of parts.inside) {
    if (!part.applies(ctx.spec)) continue;
    const o = await part.reconcile(ctx, so.connection);
    outcomes.push(o);
    if (!o.condition.ok && !o.condition.informational) break;
  }
  return outcomes;
}

/** Reports of informational parts the spec no longer asks for: their status fields and conditions go. */
async function retireReports(ctx: TenantDatabaseContext, parts: TenantDatabaseParts): Promise<{ fields: Record<string, null>; conditions: Set<string> }> {
  const out = { fields: {} as Record<string, null>, conditions: new Set<string>() };
  const status = ctx.status as Record<string, unknown>;
  for (const part of parts.inside) {
    if (!part.report || part.applies(ctx.spec)) continue;
    const { condition, status: field } = part.report;
    if (status[field] === undefined && !ctx.status.conditions?.some((c) => c.type === condition)) continue;
    await part.retire?.(ctx);
    out.fields[field] = null;
    out.conditions.add(condition);
  }
  return out;
}

function nextLook(outcomes: PartOutcome[]): Result {
  if (outcomes.some((o) => o.retry)) return { requeue: true };
  const delays = outcomes.map((o) => o.requeueAfterMs).filter((d): d is number => d !== undefined && d > 0);
  return delays.length ? { requeueAfterMs: Math.min(...delays) } : {};
}

export function tenantDatabaseReconciler(mgr: Manager, settings: ControllerSettings, parts: TenantDatabaseParts): ReconcileFn {
  return reconcileWith<TenantDatabaseSpec, TenantDatabaseStatus>(mgr, {
    kind: 'TenantDatabase',
    validate: validateTenantDatabase,
    // An invalid spec: nothing we made can be identified safely from it, so everything is kept.
    // The Secrets the spec names (credentials, administrator password, CA), read by name: the operator
    // caches only the Secrets it writes itself.
    secrets: (spec) => referencedSecrets(spec),
    finalize: async (kit) => (kit.spec ? finalizeParts(partContext(kit, kit.spec, settings), parts) : 'done'),
    reconcile: async (kit) => {
      const ctx = partContext(kit, kit.spec, settings);
      const outcomes = await runParts(ctx, parts);
      const conds = outcomes.map((o) => o.condition);
      const retired = await retireReports(ctx, parts);
      const statusFields: Record<string, unknown> = { ...retired.fields };
      for (const o of outcomes) Object.assign(statusFields, o.status ?? {});
      const kept = retired.conditions.size ? kit.status.conditions?.filter((c) => !retired.conditions.has(c.type)) : kit.status.conditions;
      const conditions = partConditions(kept, conds, kit.generation);
      await kit.writeHealth(composeHealth(conds), statusFields, { conditions });
      return nextLook(outcomes);
    },
  });
}

