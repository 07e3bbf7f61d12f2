// Long-running ARM operations without blocking a worker: start one (the SDK sends the initial request
// and polls once), keep the SDK's serialised poller state in status, and on later passes resume the
// poller from that state and poll once more. Nothing here waits for an operation to finish.
import type { OperationOptions } from '@azure/core-client';
import type { PostgreSQLManagementFlexibleServerClient, Server } from '@azure/arm-postgresql-flexible';
import { retryAfterMs } from '../../../src/azure/budget.js';

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
  | 'administrators.delete';

export interface OperationRecord {
  kind: OperationKind;
  target: string;
  startedAt: string;
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
  'servers.restart': (c, rg, _s, target, _b, o) => c.servers.beginRestart(rg, target, o),
  'servers.delete': (c, rg, _s, target, _b, o) => c.servers.beginDelete(rg, target, o),
  'replicas.delete': (c, rg, _s, target, _b, o) => c.servers.beginDelete(rg, target, o),
  'firewallRules.createOrUpdate': (c, rg, s, target, body, o) => c.firewallRules.beginCreateOrUpdate(rg, s, target, body as never, o),
  'firewallRules.delete': (c, rg, s, target, _b, o) => c.firewallRules.beginDelete(rg, s, target, o),
  'configurations.update': (c, rg, s, target, body, o) => c.configurations.beginUpdate(rg, s, target, body as never, o),
  'administrators.create': (c, rg, s, target, body, o) => c.administratorsMicrosoftEntra.beginCreateOrUpdate(rg, s, target, body as never, o),
  'administrators.delete': (c, rg, s, target, _b, o) => c.administratorsMicrosoftEntra.beginDelete(rg, s, target, o),
};

function capture(): { options: OperationOptions; retryAfter: () => number | undefined } {
  let ra: number | undefined;
  return {
    options: {
      onResponse: (raw) => {
        const v = retryAfterMs(raw.headers);
        if (v !== undefined) ra = v;
      },
    },
    retryAfter: () => ra,
  };
}

/** Sends the operation's request (and one poll). Throws what the SDK throws (a refused request, or a failed operation). */
export async function startOperation(
  client: PostgreSQLManagementFlexibleServerClient,
  kind: OperationKind,
  rg: string,
  server: string,
  target: string,
  body?: unknown,
): Promise<PollOutcome> {
  const c = capture();
  const poller = await BEGIN[kind](client, rg, server, target, body, c.options);
  const ra = c.retryAfter();
  if (poller.isDone()) return { done: true, result: poller.getResult() };
  return { done: false, pollerState: poller.toString(), ...(ra !== undefined ? { retryAfterMs: ra } : {}) };
}

/** Polls a recorded operation once. Throws the operation's error when it ended Failed. */
export async function pollOperation(client: PostgreSQLManagementFlexibleServerClient, rg: string, server: string, op: OperationRecord): Promise<PollOutcome> {
  const c = capture();
  const poller = await BEGIN[op.kind](client, rg, server, op.target, {}, { ...c.options, resumeFrom: op.pollerState });
  const ra = c.retryAfter();
  if (poller.isDone()) return { done: true, result: poller.getResult() };
  return { done: false, pollerState: poller.toString(), ...(ra !== undefined ? { retryAfterMs: ra } : {}) };
}
