// Step 1: an operation in flight. A create is watched through the group's server list (the new server
// turns Ready: no poll of its own), and polled only when the list cannot tell (the server gone or in an
// unexpected state, which is how a Failed create shows, or the create running longer than
// LRO_CHECK_MS): that poll reports ARM's code and message. Other operations are polled once per pass,
// after Retry-After. The diff: is there a record in status? The apply: look at it, once.
import { DEFAULT_POLL_MS, invalidate, operationKey, operationLabel, paceOperation, pollDelay, pollWait, resumeOperation, serverKey, serversOf, WAIT_FRESH_MS, type OperationRecord } from '../../../src/azure/arm/index.js';
import type { ServerOutcome } from '../context.js';
import { forgetOp, lroPolledAt, operationEnded, unseenOperation, watchEvery, WATCHED } from './apply.js';
import { cond, currentServerFields, failure, outcome, scopeOf, type Pass } from './pass.js';

/** A create watched through the list is still polled this often, should its server never turn Ready. */
const LRO_CHECK_MS = 60_000;
/** States a server passes through while a create runs; any other (or none) sends us to the operation. */
const CREATING_STATES = new Set(['provisioning', 'updating', 'starting', 'restarting']);

function waiting(op: OperationRecord) {
  return cond(false, op.kind === 'servers.create' ? 'Provisioning' : 'Updating', `waiting for ${operationLabel(op)} (started ${op.startedAt})`, false);
}

/** The outcome that waits `ms` for the operation (the next pass looks no earlier). */
function waitFor(p: Pass, op: OperationRecord, ms: number): ServerOutcome {
  paceOperation(op, ms);
  p.fields = { ...p.fields, ...currentServerFields(p.ctx) };
  return outcome(p, waiting(op), { requeueAfterMs: ms });
}

/** A watched create: 'done' when the list shows it Ready, an outcome to wait, or 'poll' to ask its operation. */
async function watchCreate(p: Pass, op: OperationRecord): Promise<'done' | 'poll' | ServerOutcome> {
  const { clients, az } = p;
  const rg = az.resourceGroup;
  const key = operationKey(op);
  const started = Date.parse(op.startedAt);
  const startedAt = Number.isFinite(started) ? started : 0;
  // A list that started after the create was accepted (and recently): it shows the new server.
  const s = await serversOf(clients, rg).get(op.target, { notBefore: Math.max(startedAt, p.passStart - WAIT_FRESH_MS) });
  const state = (s?.state ?? '').toLowerCase();
  if (state === 'ready') {
    p.st.operation = undefined;
    forgetOp(op);
    operationEnded(p, op);
    invalidate(serverKey(clients, rg, az.name));
    if (op.kind === 'replicas.create') invalidate(serverKey(clients, rg, op.target));
    p.ctx.log.info({ kind: op.kind, target: op.target }, 'azure operation succeeded (server Ready)');
    return 'done';
  }
  if (s && CREATING_STATES.has(state) && Date.now() - (lroPolledAt.get(key) ?? startedAt) < LRO_CHECK_MS) {
    return waitFor(p, op, watchEvery.get(key) ?? DEFAULT_POLL_MS); // (unknown after a restart: the default poll interval)
  }
  lroPolledAt.set(key, Date.now());
  return 'poll';
}

/** Polls the operation once: undefined when it ended (successfully, or ARM forgot it), else the outcome. */
async function poll(p: Pass, op: OperationRecord): Promise<ServerOutcome | undefined> {
  const { ctx } = p;
  const r = await resumeOperation(scopeOf(p), op);
  if (r.state === 'early') return waitFor(p, op, r.waitMs);
  if (r.state === 'running') {
    p.st.operation = r.record;
    return waitFor(p, op, WATCHED.has(op.kind) ? (watchEvery.get(operationKey(op)) ?? pollDelay(r.retryAfterMs)) : pollDelay(r.retryAfterMs));
  }
  p.st.operation = undefined;
  forgetOp(op);
  if (r.state !== 'retry') operationEnded(p, op);
  if (r.state === 'done') ctx.log.info({ kind: op.kind, target: op.target }, 'azure operation succeeded');
  else if (r.state === 'gone' && r.rejected) {
    // Status is output, never input: a record someone else wrote is dropped, reported, and the pass
    // goes on from what ARM reports.
    ctx.log.warn({ target: String(op.target).slice(0, 256) }, 'recorded azure operation rejected');
    await ctx.event('Warning', 'OperationRecordRejected', r.rejected);
  } else if (r.state === 'gone') {
    // The operation is gone (the emulator or ARM forgot it): look at the resource again.
    ctx.log.info({ kind: op.kind, target: op.target }, 'azure operation no longer known; re-reading');
  } else if (r.state === 'failed') {
    const what = `${operationLabel(op)} failed: ${r.error.code}: ${r.error.message}`;
    await ctx.event('Warning', 'OperationFailed', what);
    return outcome(p, cond(false, 'OperationFailed', `${what}; retrying`, false), { retry: true });
  } else {
    p.st.operation = op; // a failed poll (throttled, network): keep polling the same operation
    return failure(p, r.error, `polling ${operationLabel(op)}`);
  }
  return undefined;
}

export async function operationInFlight(p: Pass): Promise<ServerOutcome | undefined> {
  // A cache older than our last status write: wait for it, and write nothing from it.
  const unseen = unseenOperation(p);
  if (unseen) return { condition: waiting(unseen), requeueAfterMs: 200 };
  const op = p.st.operation as OperationRecord | undefined;
  if (!op) return undefined;
  // Reconciled again before Retry-After (our own status write, a related object): do not look yet.
  const early = pollWait(operationKey(op));
  if (early > 0) return waitFor(p, op, early);
  if (WATCHED.has(op.kind)) {
    const watched = await watchCreate(p, op);
    if (watched === 'done') return undefined;
    if (watched !== 'poll') return watched;
  }
  return poll(p, op);
}
