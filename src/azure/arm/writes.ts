// Every long-running ARM write of every controller, as a record kept in the object's status: started
// here (the read cache forgets what it touches, the resource group's server list re-reads the servers
// it touches, the next poll is paced after Retry-After), then resumed on later passes — also by a
// restarted operator, from the recorded poller state — and polled once per pass until it ends. Nothing
// here waits for an operation to finish, and every call has a deadline (timeout.ts).
import type { Server } from '@azure/arm-postgresql-flexible';
import type { AzureClients } from '../clients.js';
import { classifyArmError, type ArmErrorInfo } from '../errors.js';
import { isOperationKind, pollOperation, startOperation, TARGETS_A_SERVER, type OperationKind } from './operations.js';
import { clearPoll, invalidate, pollWait, serverKey, setNextPoll } from './read-cache.js';
import { serversOf } from './server-directory.js';

/** Where an operation acts: the server (and its resource group) it concerns, with the clients to reach it. */
export interface ArmScope {
  clients: AzureClients;
  resourceGroup: string;
  /** The server the operation concerns (its parent for a child resource; the source of a restore). */
  server: string;
}

/** An operation in flight, as status keeps it (see armOperationSchema in src/api/arm-operation.ts). */
export interface OperationRecord {
  kind: OperationKind;
  /** Name of the resource it acts on (a server, rule, parameter, backup...). */
  target: string;
  startedAt: string;
  pollerState: string;
}

export const DEFAULT_POLL_MS = 5_000;
const MAX_POLL_MS = 60_000;

/** Requeue delay after an answer with this Retry-After (default 5 s, bounded to 0.5-60 s). */
export const pollDelay = (ms: number | undefined): number => Math.min(Math.max(ms ?? DEFAULT_POLL_MS, 500), MAX_POLL_MS);

/** In-memory key of an operation (poll pacing, callers' own bookkeeping). */
export function operationKey(op: OperationRecord): string {
  return `${op.kind}|${op.target}|${op.startedAt}`;
}

/** The operation may be polled again no earlier than `ms` from now (an early reconcile then waits). */
export function paceOperation(op: OperationRecord, ms: number): void {
  setNextPoll(operationKey(op), Date.now() + ms);
}

function serverTarget(scope: ArmScope, kind: OperationKind, target: string): string | undefined {
  return TARGETS_A_SERVER.has(kind) && target.toLowerCase() !== scope.server.toLowerCase() ? target : undefined;
}

export type Started = { done: true; result: unknown } | { done: false; record: OperationRecord; retryAfterMs: number | undefined };

/**
 * Sends the write (and one poll, unless `poll: false` for a create whose end the caller watches through
 * the server list). Throws what the SDK throws (a refused request).
 */
export async function beginOperation(scope: ArmScope, kind: OperationKind, target: string, body?: unknown, opts: { poll?: boolean } = {}): Promise<Started> {
  const { clients, resourceGroup: rg, server } = scope;
  const other = serverTarget(scope, kind, target);
  invalidate(serverKey(clients, rg, server));
  if (other) invalidate(serverKey(clients, rg, other));
  const dir = serversOf(clients, rg);
  let r: Awaited<ReturnType<typeof startOperation>>;
  try {
    r = await startOperation(clients.postgres, kind, rg, server, target, body, opts);
  } finally {
    // Sent (or maybe sent): later reads of these servers must not predate the write.
    dir.touch(server);
    if (other) dir.touch(other);
  }
  if (r.done) return { done: true, result: r.result };
  const record: OperationRecord = { kind, target, startedAt: new Date().toISOString(), pollerState: r.pollerState! };
  paceOperation(record, pollDelay(r.retryAfterMs));
  return { done: false, record, retryAfterMs: r.retryAfterMs };
}

export type Resumed =
  /** Polled too early (before Retry-After): wait this long, keep the record. */
  | { state: 'early'; waitMs: number }
  /** Still running: keep this (updated) record; the caller paces the next poll. */
  | { state: 'running'; record: OperationRecord; retryAfterMs: number | undefined }
  | { state: 'done'; result: unknown }
  /**
   * ARM no longer knows the operation: look at the resource again. `rejected`: the record read back
   * from status was never ours to poll (an unknown kind, URLs off the ARM endpoint); it is dropped
   * unpolled and the caller reports it with a Warning Event.
   */
  | { state: 'gone'; rejected?: string }
  /** The operation ended Failed (or ARM refused it for good): drop the record. */
  | { state: 'failed'; error: ArmErrorInfo }
  /** The poll itself failed (throttled, network): keep the record and poll again. */
  | { state: 'retry'; error: unknown };

/** Stops pacing a finished operation. */
export function forgetOperation(op: OperationRecord): void {
  clearPoll(operationKey(op));
}

/**
 * Status is output, never input: a poll carries the operator's ARM token to the URLs of the recorded
 * poller state, so they must be on the clients' own ARM endpoint. A state naming another origin (or not
 * parseable) is treated as an operation ARM no longer knows.
 */
export function pollsOwnEndpoint(clients: AzureClients, pollerState: string): boolean {
  let state: unknown;
  try {
    state = JSON.parse(pollerState);
  } catch {
    return false;
  }
  const origin = new URL(clients.armEndpoint).origin;
  const urls: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === 'string' && /^https?:\/\//i.test(v)) urls.push(v);
    else if (v && typeof v === 'object') for (const x of Object.values(v)) walk(x);
  };
  walk(state);
  return urls.every((u) => URL.canParse(u) && new URL(u).origin === origin);
}

/** A record as read back from status (its kind checked before use). */
export type RecordedOperation = Omit<OperationRecord, 'kind'> & { kind: string };

/** Why a record read back from status is not polled (status is output, never input), or undefined. */
export function rejectedRecord(clients: AzureClients, recorded: RecordedOperation): string | undefined {
  const kind = String(recorded.kind).slice(0, 64);
  if (!isOperationKind(recorded.kind)) return `the recorded operation has an unknown kind "${kind}"; it was dropped without polling`;
  if (!pollsOwnEndpoint(clients, recorded.pollerState)) {
    return `the recorded ${kind} operation points outside the ARM endpoint ${new URL(clients.armEndpoint).host}; it was dropped without polling (no token was sent)`;
  }
  return undefined;
}

/** Polls a recorded operation once (unless its Retry-After has not passed). */
export async function resumeOperation(scope: ArmScope, recorded: RecordedOperation): Promise<Resumed> {
  const { clients, resourceGroup: rg, server } = scope;
  const rejected = rejectedRecord(clients, recorded);
  if (rejected) {
    clearPoll(operationKey(recorded as OperationRecord));
    return { state: 'gone', rejected };
  }
  const op = recorded as OperationRecord;
  const early = pollWait(operationKey(op));
  if (early > 0) return { state: 'early', waitMs: early };
  const polledAt = Date.now();
  const other = serverTarget(scope, op.kind, op.target);
  try {
    const r = await pollOperation(clients.postgres, rg, server, op);
    if (!r.done) return { state: 'running', record: { ...op, pollerState: r.pollerState ?? op.pollerState }, retryAfterMs: r.retryAfterMs };
    forgetOperation(op);
    invalidate(serverKey(clients, rg, server));
    if (other) invalidate(serverKey(clients, rg, other));
    // The final GET of a server PUT/PATCH is the server as it is now: no need to read it again.
    const res = r.result as Server | undefined;
    if ((op.kind === 'servers.create' || op.kind === 'servers.update') && res?.name?.toLowerCase() === op.target.toLowerCase() && res.state) {
      serversOf(clients, rg).remember(op.target, res, polledAt);
    }
    return { state: 'done', result: r.result };
  } catch (err) {
    forgetOperation(op);
    invalidate(serverKey(clients, rg, server));
    serversOf(clients, rg).touch(op.target);
    const e = classifyArmError(err);
    if (e.kind === 'not-found' && e.code !== 'ResourceGroupNotFound') return { state: 'gone' };
    if (e.kind === 'operation-failed' || e.kind === 'quota' || e.kind === 'server') return { state: 'failed', error: e };
    return { state: 'retry', error: err };
  }
}

/** Human label of an operation for conditions and Events. */
export const operationLabel = (op: Pick<OperationRecord, 'kind' | 'target'>): string => `${op.kind} of ${op.target}`;
