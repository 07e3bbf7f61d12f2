// The BackupPolicy's status write: Ready/Reconciling/Stalled plus the steps' fields, only when
// something changed (the kit's writeHealth), one Warning Event per new Stalled reason or message. The
// drill and backup records are replaced whole (a merge patch would keep the previous run's fields).
// The resourceVersion of each write is remembered: a drill step acts on status (its state machine), so
// a pass must not start from a cached copy older than what the previous pass wrote (it would, e.g.,
// see a finished drill as still Restoring and create its throw-away server again).
import { isDeepStrictEqual } from 'node:util';
import type { Health } from '../../src/runtime/conditions.js';
import { readyMessageChanged, type ObjectContext } from '../../src/runtime/reconcile-kit.js';
import type { BackupPolicyStatus } from '../../src/api/backuppolicy.js';
import type { PolicyContext } from './pass.js';

const written = new Map<string, string>();

/** Every status write of this pass records its resourceVersion (installed before the pass runs). */
export function rememberWrites(ctx: ObjectContext<BackupPolicyStatus>): void {
  const patch = ctx.patchStatus;
  ctx.patchStatus = async (desired) => {
    const updated = await patch(desired);
    if (updated?.metadata.resourceVersion) written.set(ctx.key, updated.metadata.resourceVersion);
    return updated;
  };
}

export function forgetWrites(key: string): void {
  written.delete(key);
}

/** The cached object is older than our last status write. */
export function staleCache(ctx: ObjectContext<BackupPolicyStatus>): boolean {
  const ours = written.get(ctx.key);
  const cached = ctx.obj.metadata.resourceVersion;
  if (!ours || !cached || !/^\d+$/.test(ours) || !/^\d+$/.test(cached)) return false;
  return BigInt(cached) < BigInt(ours);
}

/** `next` plus null for every field of `prev` it lacks (merge-patch removal). */
function replacing(prev: Record<string, unknown> | undefined, next: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...next };
  for (const k of Object.keys(prev ?? {})) if (!(k in next) || next[k] === undefined) out[k] = null;
  return out;
}

export async function writeStatus(ctx: PolicyContext | ObjectContext<BackupPolicyStatus>, health: Health, extra: Record<string, unknown> = {}, conditions = ctx.status.conditions): Promise<void> {
  const status = ctx.status;
  const normalize = (desired: Record<string, unknown>) => {
    for (const key of ['lastDrill', 'lastBackup'] as const) {
      if (desired[key] === undefined) continue;
      desired[key] = JSON.parse(JSON.stringify(desired[key]));
      if (isDeepStrictEqual(desired[key], status[key])) delete desired[key];
      else desired[key] = replacing(status[key] as Record<string, unknown> | undefined, desired[key] as Record<string, unknown>);
    }
    return desired;
  };
  const event = (prev: Parameters<typeof readyMessageChanged>[0], h: Health) => h.state === 'Stalled' && readyMessageChanged(prev, h);
  await ctx.writeHealth(health, extra, { normalize, event, ...(conditions ? { conditions } : {}) });
}
