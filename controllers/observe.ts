// The reconcile every kind runs until its real logic lands: hold a finalizer (so deletion will wait for
// the cleanup later issues add), validate the spec, and report through status that the current
// generation has been seen. Level-based: everything is recomputed from the cached object, and a
// converged object produces no write at all.
import { API_GROUP, API_GROUP_VERSION, API_VERSION, KINDS, type KindName } from '../src/api/kinds.js';
import type { ValidationResult } from '../src/api/object.js';
import { setHealth, type Condition, type Health } from '../src/runtime/conditions.js';
import type { ReconcileFn } from '../src/runtime/controller.js';
import { ensureFinalizer, hasFinalizer, isBeingDeleted, removeFinalizer } from '../src/runtime/finalizers.js';
import type { KubeObject, ResourceRef } from '../src/runtime/kubeclient.js';
import type { Manager } from '../src/runtime/manager.js';
import { patchStatus } from '../src/runtime/status.js';

export const FINALIZER = 'tenantdb.io/finalizer';

export interface KindRegistration {
  kind: KindName;
  validate: (obj: unknown) => ValidationResult<unknown>;
}

export function resourceOf(kind: KindName): ResourceRef {
  return { group: API_GROUP, version: API_VERSION, plural: KINDS[kind].plural };
}

export function controllerName(kind: KindName): string {
  return KINDS[kind].singular;
}

interface ObservedStatus {
  observedGeneration?: number;
  conditions?: Condition[];
}

/** The health an object has from this controller's point of view; pure, for unit tests. */
export function desiredHealth(kind: KindName, validation: ValidationResult<unknown>, generation: number | undefined): Health {
  if (!validation.ok) return { state: 'Stalled', reason: 'InvalidSpec', message: validation.error.message.slice(0, 32_000) };
  return {
    state: 'Ready',
    reason: 'Observed',
    message: `${KINDS[kind].kind} generation ${generation ?? 0} observed; provisioning is not implemented yet, so nothing was changed`,
  };
}

export function observeReconciler(mgr: Manager, reg: KindRegistration): ReconcileFn {
  const resource = resourceOf(reg.kind);
  return async (ctx, req) => {
    const obj = mgr.getCached(resource, req.namespace, req.name);
    if (!obj) return {}; // gone: nothing holds it any more, nothing to clean up

    if (isBeingDeleted(obj)) {
      if (hasFinalizer(obj, FINALIZER)) {
        // Cleanup of external resources goes here when the kind's real reconcile lands.
        await removeFinalizer(mgr.client, resource, obj, FINALIZER, mgr.fieldManager);
        ctx.log.info('cleanup done; finalizer removed');
      }
      return {};
    }

    if (!hasFinalizer(obj, FINALIZER)) {
      // The finalizer patch produces an update event that brings the object back with the finalizer in
      // the cache; status is written on that pass, so no pass works from a stale copy of its own write.
      await ensureFinalizer(mgr.client, resource, obj, FINALIZER, mgr.fieldManager);
      ctx.log.info('finalizer added');
      return {};
    }

    const generation = obj.metadata.generation;
    // Only the spec is the user's to get wrong; status is ours and checked by its own writes.
    const validation = reg.validate({ ...obj, status: undefined });
    const health = desiredHealth(reg.kind, validation, generation);
    const current = (obj.status ?? {}) as ObservedStatus;
    const desired = { observedGeneration: generation, conditions: setHealth(current.conditions, health, generation) };
    const updated = await patchStatus(mgr.client, resource, obj, desired, mgr.fieldManager);
    if (!updated) return {};

    ctx.log.info({ generation, ready: health.state === 'Ready', reason: health.reason }, 'status updated');
    // Events name the object by apiVersion and kind, which list items of some clients lack.
    const regarding: KubeObject = { ...obj, apiVersion: API_GROUP_VERSION, kind: KINDS[reg.kind].kind };
    if (!validation.ok) {
      const wasInvalid = current.conditions?.some((c) => c.type === 'Stalled' && c.status === 'True' && c.reason === 'InvalidSpec');
      if (!wasInvalid || current.observedGeneration !== generation) await mgr.events.event(regarding, 'Warning', 'InvalidSpec', 'Validate', health.message);
    } else if (current.observedGeneration === undefined) {
      await mgr.events.event(regarding, 'Normal', 'Observed', 'Reconcile', `${KINDS[reg.kind].kind} seen by the operator (generation ${generation ?? 0})`);
    }
    return {};
  };
}

/** Registers the kind's controller with the manager. */
export function registerObserver(mgr: Manager, reg: KindRegistration): void {
  mgr.addController({ name: controllerName(reg.kind), resource: resourceOf(reg.kind), reconcile: observeReconciler(mgr, reg) });
}
