// The one apply of every step: start a write as a recorded operation (src/azure/arm/writes.ts), keep
// its record in status.azure.operation, requeue after Retry-After. Also kept here, in memory only
// (losing them costs one read or poll): how often a watched create is looked at, and when its
// operation was last polled.
import { beginOperation, forgetOperation, MIN_LIST_INTERVAL_MS, operationKey, pollDelay, type OperationKind, type OperationRecord } from '../../../src/azure/arm/index.js';
import type { ServerOutcome } from '../context.js';
import { cond, outcome, scopeOf, type Pass } from './pass.js';

/** Creates whose end the group's list shows (the new server turns Ready). */
export const WATCHED: ReadonlySet<OperationKind> = new Set(['servers.create', 'replicas.create']);

export const watchEvery = new Map<string, number>();
export const lroPolledAt = new Map<string, number>();

// The operation this process last started per object and has not yet seen end. The next pass may
// start from an informer cache that predates the status write recording it (an event of an earlier
// write triggers it): acting on that older status could start a second write while this one runs, so
// such a pass waits for the cache instead (see operation.ts). A cache that never shows the record
// (its status write failed) is trusted again after STALE_CACHE_LIMIT_MS.
const started = new Map<string, { record: OperationRecord; at: number }>();
const STALE_CACHE_LIMIT_MS = 30_000;

const objectKey = (p: Pass) => `${p.ctx.namespace}/${p.ctx.name}/${p.ctx.obj.metadata.uid ?? ''}`;

/** The operation this process started for the object when the cached status does not show it yet. */
export function unseenOperation(p: Pass): OperationRecord | undefined {
  const mine = started.get(objectKey(p));
  if (!mine) return undefined;
  const cached = p.st.operation as OperationRecord | undefined;
  if (cached && operationKey(cached) === operationKey(mine.record)) return undefined;
  if (Date.now() - mine.at > STALE_CACHE_LIMIT_MS) {
    started.delete(objectKey(p));
    return undefined;
  }
  return mine.record;
}

/** The object's operation ended (or was let go). */
export function operationEnded(p: Pass, op: OperationRecord): void {
  const mine = started.get(objectKey(p));
  if (mine && operationKey(mine.record) === operationKey(op)) started.delete(objectKey(p));
}

export function forgetOp(op: OperationRecord): void {
  const k = operationKey(op);
  forgetOperation(op);
  watchEvery.delete(k);
  lroPolledAt.delete(k);
}

/** Starts one write; records it when it did not finish at once. */
export async function begin(p: Pass, kind: OperationKind, target: string, body: unknown, reason: string, message: string): Promise<ServerOutcome> {
  // A watched create needs no poll right after its PUT: the list shows when it is done.
  const r = await beginOperation(scopeOf(p), kind, target, body, { poll: !WATCHED.has(kind) });
  await p.ctx.event('Normal', reason, message);
  p.ctx.log.info({ kind, target }, 'azure operation started');
  if (r.done) return outcome(p, cond(false, reason, message, false), { requeueAfterMs: 500 });
  p.st.operation = r.record;
  started.set(objectKey(p), { record: r.record, at: Date.now() });
  // After Retry-After, a watched create is looked at as often as its group's list may refresh: looking
  // costs no read of its own, and the object is Ready as soon as a list shows it.
  if (WATCHED.has(kind)) watchEvery.set(operationKey(r.record), Math.min(pollDelay(r.retryAfterMs), MIN_LIST_INTERVAL_MS));
  return outcome(p, cond(false, reason, message, false), { requeueAfterMs: pollDelay(r.retryAfterMs) });
}
