// What one pass of the Azure part works with, and how it turns into the part's outcome: the condition
// (ARM failures classified into actionable reasons), status.azure as a merge patch, the requeue.
import type { Server } from '@azure/arm-postgresql-flexible';
import type { AzureServerSpec, TenantDatabaseStatus } from '../../../src/api/tenantdatabase.js';
import type { AzureClients } from '../../../src/azure/clients.js';
import { classifyArmError } from '../../../src/azure/errors.js';
import { armList, cachedRead, pollDelay, serverKey, serversOf, type ArmScope } from '../../../src/azure/arm/index.js';
import type { PartCondition, ServerOutcome, TenantDatabaseContext } from '../context.js';
import { ownerValue, type Ownership } from './desired.js';

export const STALLED_RECHECK_MS = 10 * 60_000;

export type AzureStatus = NonNullable<TenantDatabaseStatus['azure']>;

/** The administrator password as the spec's Secret holds it (absent with password authentication off). */
export interface AdminPassword {
  password?: string;
  /** resourceVersion of its Secret. */
  version?: string;
}

/** What a pass works with; the steps fill in what later steps need. */
export interface Pass {
  ctx: TenantDatabaseContext;
  az: AzureServerSpec;
  clients: AzureClients;
  owner: string;
  /** When the pass started (lists older than this may not end a wait). */
  passStart: number;
  /** The part's slice of status.azure as it will be written (mutated by the steps). */
  st: AzureStatus;
  fields: Record<string, unknown>;
  admin?: AdminPassword;
  server?: Server;
  ownership?: Ownership;
  /** Set when the pass works on a promoted replica (promotion.ts): the spec's server, the primary before. */
  primaryFrom?: string;
  /** The virtual endpoint's writer host name, when the spec asks for one and it exists (virtual-endpoint.ts). */
  writerHost?: string;
  /** What the Ready message says about parameters waiting for a restart. */
  restartNote: string;
}

/** One step: an outcome ends the pass (a write started, a wait, a problem); undefined moves on. */
export type Step = (p: Pass) => Promise<ServerOutcome | undefined>;

export function newPass(ctx: TenantDatabaseContext, az: AzureServerSpec, clients: AzureClients | undefined): Pass {
  return {
    ctx,
    az,
    clients: clients as AzureClients,
    owner: ownerValue(ctx.namespace, ctx.name),
    passStart: Date.now(),
    st: { ...(ctx.status.azure ?? {}) },
    fields: {},
    restartNote: '',
  };
}

export const scopeOf = (p: Pass): ArmScope => ({ clients: p.clients, resourceGroup: p.az.resourceGroup, server: p.az.name });

export function cond(ok: boolean, reason: string, message: string, stalled?: boolean): PartCondition {
  return { type: 'ServerReady', ok, reason, message, ...(stalled !== undefined && !ok ? { stalled } : {}) };
}

/** status.azure as a merge patch: keys the old status had and the new one lacks become null. */
function azurePatch(next: AzureStatus, prev: AzureStatus | undefined): Record<string, unknown> {
  const clean = Object.fromEntries(Object.entries(next).filter(([, v]) => v !== undefined));
  const removed = Object.keys(prev ?? {}).filter((k) => !(k in clean));
  if (!removed.length) return clean;
  return { ...clean, ...Object.fromEntries(removed.map((k) => [k, null])) };
}

export function outcome(p: Pass, condition: PartCondition, extra: Partial<ServerOutcome> = {}): ServerOutcome {
  return { condition, status: { ...p.fields, azure: azurePatch(p.st, p.ctx.status.azure) }, ...extra };
}

const REASON = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;

/** Condition for an ARM failure: transient ones retried with backoff, terminal ones Stalled with ARM's code. */
export function failure(p: Pass, err: unknown, doing: string): ServerOutcome {
  const name = (err as { name?: string }).name;
  if (name === 'AuthenticationError' || name === 'CredentialUnavailableError' || name === 'AuthenticationRequiredError') {
    // Entra refused the credentials (wrong secret, unknown client) or none is configured: a Secret
    // change brings the object back at once; otherwise retry with backoff.
    const msg = classifyArmError(err).message.split('\n')[0] ?? '';
    return outcome(p, cond(false, 'AuthenticationFailed', `Microsoft Entra refused the credentials for ${doing}: ${msg}`, false), { retry: true });
  }
  const e = classifyArmError(err);
  const what = `${doing}: ${e.code}: ${e.message}`;
  if (e.kind === 'unauthorized') return outcome(p, cond(false, 'AuthenticationFailed', what, false), { retry: true });
  if (e.kind === 'forbidden') return outcome(p, cond(false, 'AuthorizationFailed', `${what} (grant the operator's identity a role on the resource group)`, true), { requeueAfterMs: STALLED_RECHECK_MS });
  if (e.code === 'ResourceGroupNotFound') return outcome(p, cond(false, 'ResourceGroupNotFound', `${what}; the operator never creates resource groups`, false), { retry: true });
  if (e.kind === 'quota') return outcome(p, cond(false, 'QuotaExceeded', what, true), { requeueAfterMs: STALLED_RECHECK_MS });
  if (e.retryable) {
    const reason = e.kind === 'throttled' ? 'Throttled' : e.kind === 'conflict' ? 'ServerBusy' : 'AzureUnavailable';
    return outcome(p, cond(false, reason, what, false), e.retryAfterMs ? { requeueAfterMs: pollDelay(e.retryAfterMs) } : { retry: true });
  }
  const reason = REASON.test(e.code) && e.code.length <= 64 ? e.code : 'AzureRejected';
  return outcome(p, cond(false, reason, what, true), { requeueAfterMs: STALLED_RECHECK_MS });
}

/**
 * The server from its group's shared list. With `confirmAbsence` (the caller would create it, or let
 * go of it, on an absence) an absence is confirmed by a GET of the server itself.
 */
export async function getServer(clients: AzureClients, rg: string, name: string, confirmAbsence = false, notBefore?: number): Promise<Server | undefined> {
  const dir = serversOf(clients, rg);
  const s = await dir.get(name, notBefore !== undefined ? { notBefore } : {});
  if (s || !confirmAbsence) return s;
  return dir.read(name);
}

/**
 * The server as ARM has it now, for a write of its tags: ARM's PATCH replaces the whole tag map, and one
 * built from a list up to READ_TTL_MS old would drop a tag someone else set meanwhile. Read only before
 * such a write; falls back to the server already read when it is gone.
 */
export async function serverForTagWrite(p: Pass): Promise<Server> {
  p.server = (await getServer(p.clients, p.az.resourceGroup, p.az.name, false, Date.now())) ?? p.server;
  return p.server as Server;
}

/** A child list of the server (firewall rules, configurations...), from the read cache when fresh. */
export function cachedList<T>(p: Pass, what: string, list: (options: object) => AsyncIterable<T>): Promise<T[]> {
  return cachedRead(serverKey(p.clients, p.az.resourceGroup, p.az.name) + what, () => armList(list));
}

/** The server fields as status has them, for passes that do not read the server. */
export function currentServerFields(ctx: TenantDatabaseContext): Record<string, unknown> {
  const s = ctx.status;
  return Object.fromEntries(
    (['serverName', 'serverState', 'serverFQDN', 'serverVersion', 'azureResourceId'] as const).filter((k) => s[k] !== undefined).map((k) => [k, s[k]]),
  );
}
