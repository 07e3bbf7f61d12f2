// Long-running ARM operations without blocking a worker: start one (the SDK sends the initial request
// and polls once), keep the SDK's serialised poller state in status, and on later passes resume the
// poller from that state and poll once more. Nothing here waits for an operation to finish.
//
// Creates whose end the caller watches elsewhere (the resource group's server list) can be started
// with `poll: false`: the SDK's poll right after the initial request is not sent (it would only say
// InProgress and costs a read of the subscription's bucket), and the state the SDK would have saved
// after the initial response is recorded instead, so later polls resume exactly as before.
import type { OperationOptions } from '@azure/core-client';
import type { PostgreSQLManagementFlexibleServerClient, Server } from '@azure/arm-postgresql-flexible';
import { retryAfterMs } from '../budget.js';
import { deadline, withDeadline } from './timeout.js';

export type OperationKind =
  | 'servers.create'
  | 'servers.update'
  | 'servers.restart'
  | 'servers.delete'
  | 'replicas.create'
  | 'replicas.delete'
  | 'firewallRules.createOrUpdate'
  | 'firewallRules.delete'
  | 'configurations.update'
  | 'administrators.create'
  | 'administrators.delete'
  | 'backups.create'
  | 'backups.delete'
  | 'virtualEndpoints.create';

/** What a poll needs of a recorded operation (writes.ts has the whole record). */
export interface PollableOperation {
  kind: OperationKind;
  target: string;
  pollerState: string;
}

export interface PollOutcome {
  done: boolean;
  /** When not done: the state to keep for the next poll. */
  pollerState?: string;
  /** Retry-After of the last answer, for the requeue. */
  retryAfterMs?: number;
  /** When done: the operation's final result (the resource after a PUT/PATCH), if it has one. */
  result?: unknown;
}

interface PollerLike {
  isDone(): boolean;
  toString(): string;
  getResult(): unknown;
}

type Begin = (client: PostgreSQLManagementFlexibleServerClient, rg: string, server: string, target: string, body: unknown, options: OperationOptions & { resumeFrom?: string }) => Promise<PollerLike>;

// One entry per kind: the SDK method that starts it, also used to resume it (the initial request is
// not sent again when `resumeFrom` is given).
const BEGIN: Record<OperationKind, Begin> = {
  'servers.create': (c, rg, _s, target, body, o) => c.servers.beginCreateOrUpdate(rg, target, body as Server, o),
  'replicas.create': (c, rg, _s, target, body, o) => c.servers.beginCreateOrUpdate(rg, target, body as Server, o),
  'servers.update': (c, rg, _s, target, body, o) => c.servers.beginUpdate(rg, target, body as never, o),
  // A body is the RestartParameter (restartWithFailover, failoverMode); none: a plain restart.
  'servers.restart': (c, rg, _s, target, body, o) => c.servers.beginRestart(rg, target, body ? { ...o, parameters: body as never } : o),
  'servers.delete': (c, rg, _s, target, _b, o) => c.servers.beginDelete(rg, target, o),
  'replicas.delete': (c, rg, _s, target, _b, o) => c.servers.beginDelete(rg, target, o),
  'firewallRules.createOrUpdate': (c, rg, s, target, body, o) => c.firewallRules.beginCreateOrUpdate(rg, s, target, body as never, o),
  'firewallRules.delete': (c, rg, s, target, _b, o) => c.firewallRules.beginDelete(rg, s, target, o),
  'configurations.update': (c, rg, s, target, body, o) => c.configurations.beginUpdate(rg, s, target, body as never, o),
  'administrators.create': (c, rg, s, target, body, o) => c.administratorsMicrosoftEntra.beginCreateOrUpdate(rg, s, target, body as never, o),
  'administrators.delete': (c, rg, s, target, _b, o) => c.administratorsMicrosoftEntra.beginDelete(rg, s, target, o),
  'backups.create': (c, rg, s, target, _b, o) => c.backupsAutomaticAndOnDemand.beginCreate(rg, s, target, o),
  'backups.delete': (c, rg, s, target, _b, o) => c.backupsAutomaticAndOnDemand.beginDelete(rg, s, target, o),
  'virtualEndpoints.create': (c, rg, s, target, body, o) => c.virtualEndpoints.beginCreate(rg, s, target, body as never, o),
};

/** True for the kinds this module can start and resume (a record read back from status is checked). */
export function isOperationKind(kind: string): kind is OperationKind {
  return Object.hasOwn(BEGIN, kind);
}

/** Kinds whose target is a server (a write to it touches that server, not only the parent). */
export const TARGETS_A_SERVER: ReadonlySet<OperationKind> = new Set(['servers.create', 'servers.update', 'servers.restart', 'servers.delete', 'replicas.create', 'replicas.delete']);

function capture(): { options: OperationOptions; retryAfter: () => number | undefined } {
  let ra: number | undefined;
  return {
    options: {
      abortSignal: deadline(),
      onResponse: (raw) => {
        const v = retryAfterMs(raw.headers);
        if (v !== undefined) ra = v;
      },
    },
    retryAfter: () => ra,
  };
}

/** The path template of `servers.beginCreateOrUpdate` (what the SDK's poller keeps as the resource location of a PUT). */
const SERVER_PUT_PATH = '/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.DBforPostgreSQL/flexibleServers/{serverName}';
const UNPOLLED: ReadonlySet<OperationKind> = new Set(['servers.create', 'replicas.create']);

/** The polling URL of an initial LRO response, as core-lro picks it (Operation-Location, else Azure-AsyncOperation). */
function pollingUrl(headers: { get(name: string): string | undefined }): string | undefined {
  return headers.get('operation-location') ?? headers.get('azure-asyncoperation') ?? undefined;
}

/**
 * A server PUT without the SDK's first poll: the initial request goes through the SDK (serialisation,
 * pipeline, budget, retries); once its answer names a polling URL the poll that would follow is aborted
 * before it leaves the process, and the poller state is the one core-lro's createHttpPoller builds from
 * that answer (status running, mode OperationLocation, the PUT's path as resource location).
 */
async function startUnpolled(client: PostgreSQLManagementFlexibleServerClient, kind: OperationKind, rg: string, server: string, target: string, body: unknown): Promise<PollOutcome> {
  const ac = new AbortController();
  let initial: { url: string; retryAfterMs: number | undefined } | undefined;
  let ra: number | undefined;
  const options: OperationOptions = {
    abortSignal: deadline(ac.signal),
    onResponse: (raw) => {
      const v = retryAfterMs(raw.headers);
      if (v !== undefined) ra = v;
      if (initial) return;
      const url = pollingUrl(raw.headers);
      if (url === undefined || raw.status < 200 || raw.status >= 300) return;
      initial = { url, retryAfterMs: v };
      ac.abort();
    },
  };
  let poller: PollerLike;
  try {
    poller = await BEGIN[kind](client, rg, server, target, body, options);
  } catch (err) {
    if (!initial || !ac.signal.aborted) throw err;
    const state = { status: 'running', config: { metadata: { mode: 'OperationLocation' }, operationLocation: initial.url, resourceLocation: SERVER_PUT_PATH } };
    return { done: false, pollerState: JSON.stringify({ state }), ...(initial.retryAfterMs !== undefined ? { retryAfterMs: initial.retryAfterMs } : {}) };
  }
  // No polling URL in the answer: the SDK polled as usual.
  if (poller.isDone()) return { done: true, result: poller.getResult() };
  return { done: false, pollerState: poller.toString(), ...(ra !== undefined ? { retryAfterMs: ra } : {}) };
}

/**
 * Sends the operation's request (and one poll, unless `poll: false` for a create). Throws what the SDK
 * throws (a refused request, or a failed operation).
 */
export async function startOperation(
  client: PostgreSQLManagementFlexibleServerClient,
  kind: OperationKind,
  rg: string,
  server: string,
  target: string,
  body?: unknown,
  opts: { poll?: boolean } = {},
): Promise<PollOutcome> {
  if (opts.poll === false && UNPOLLED.has(kind)) return startUnpolled(client, kind, rg, server, target, body);
  const c = capture();
  const poller = await BEGIN[kind](client, rg, server, target, body, c.options);
  const ra = c.retryAfter();
  if (poller.isDone()) return { done: true, result: poller.getResult() };
  return { done: false, pollerState: poller.toString(), ...(ra !== undefined ? { retryAfterMs: ra } : {}) };
}

/** Polls a recorded operation once. Throws the operation's error when it ended Failed. */
export async function pollOperation(client: PostgreSQLManagementFlexibleServerClient, rg: string, server: string, op: PollableOperation): Promise<PollOutcome> {
  const c = capture();
  const poller = await BEGIN[op.kind](client, rg, server, op.target, {}, { ...c.options, resumeFrom: op.pollerState });
  const ra = c.retryAfter();
  if (poller.isDone()) return { done: true, result: poller.getResult() };
  return { done: false, pollerState: poller.toString(), ...(ra !== undefined ? { retryAfterMs: ra } : {}) };
}
