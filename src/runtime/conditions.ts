// Status conditions exactly as metav1.Condition defines them, and the Ready/Reconciling/Stalled trio that
// kstatus (Flux) and Argo CD's health checks read. Pure functions: they return new arrays and never touch
// lastTransitionTime unless the status really changed, so a converged object compares equal and costs
// no write.

import type { Condition, ConditionStatus } from '../api/status.js';

export type { Condition, ConditionStatus };

export interface ConditionInput {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  observedGeneration?: number;
}

export const READY = 'Ready';
export const RECONCILING = 'Reconciling';
export const STALLED = 'Stalled';

/** metav1.Time has second precision (RFC 3339 without fractions). */
export function metaTime(d: Date = new Date()): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === 'True';
}

/**
 * Sets one condition. lastTransitionTime is kept when the status is unchanged (even if reason or message
 * change), as apimachinery's meta.SetStatusCondition does.
 */
export function setCondition(conditions: readonly Condition[] | undefined, input: ConditionInput, now: Date = new Date()): Condition[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === input.type);
  const existing = i >= 0 ? list[i] : undefined;
  const next: Condition = {
    type: input.type,
    status: input.status,
    ...(input.observedGeneration !== undefined ? { observedGeneration: input.observedGeneration } : {}),
    lastTransitionTime: existing && existing.status === input.status ? existing.lastTransitionTime : metaTime(now),
    reason: input.reason,
    message: input.message,
  };
  if (i >= 0) list[i] = next;
  else list.push(next);
  return list;
}

export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}

export type Health =
  | { state: 'Ready'; reason: string; message: string }
  | { state: 'Reconciling'; reason: string; message: string }
  | { state: 'Stalled'; reason: string; message: string };

/**
 * Writes the three kstatus conditions for one overall state. kstatus treats Reconciling=True as "in
 * progress" and Stalled=True as "failed"; both are abnormal-true conditions, so they are kept at False
 * when they do not apply (Argo CD and Flux accept either absent or False).
 */
export function setHealth(conditions: readonly Condition[] | undefined, health: Health, generation: number | undefined, now: Date = new Date()): Condition[] {
  const g = generation !== undefined ? { observedGeneration: generation } : {};
  let list = setCondition(
    conditions,
    { type: READY, status: health.state === 'Ready' ? 'True' : 'False', reason: health.reason, message: health.message, ...g },
    now,
  );
  // Reconciling and Stalled are each True exactly in the health state of the same name.
  for (const type of [RECONCILING, STALLED] satisfies Array<Health['state']>) {
    list = setCondition(
      list,
      health.state === type
        ? { type, status: 'True', reason: health.reason, message: health.message, ...g }
        : { type, status: 'False', reason: health.state === 'Ready' ? 'Succeeded' : health.reason, message: '', ...g },
      now,
    );
  }
  return list;
}

/** True when both lists hold the same conditions (order-insensitive), i.e. writing would change nothing. */
export function conditionsEqual(a: readonly Condition[] | undefined, b: readonly Condition[] | undefined): boolean {
  const x = a ?? [];
  const y = b ?? [];
  if (x.length !== y.length) return false;
  for (const c of x) {
    const d = findCondition(y, c.type);
    if (!d) return false;
    if (
      d.status !== c.status ||
      d.reason !== c.reason ||
      d.message !== c.message ||
      d.lastTransitionTime !== c.lastTransitionTime ||
      d.observedGeneration !== c.observedGeneration
    )
      return false;
  }
  return true;
}
