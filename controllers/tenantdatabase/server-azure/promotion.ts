// Issue 18: promotion of a read replica, declared in spec.server.azure.promotion and run once per
// requestId. Two steps:
//  - followPromotion (first in a pass): when ARM confirms that the replica the spec names is a primary
//    now and ours (src/tenantdatabase/promotion.ts), the whole pass works on it: the server steps, the
//    connection the database part writes Secrets from, replicas (the old primary is never deleted).
//  - requestPromotion: the diff is ARM's state (the named replica still replicates from our primary),
//    the apply one PATCH of properties.replica.promoteMode/promoteOption as a recorded operation. Before
//    it the WAL positions are read (what a Forced promotion loses); after it the first connection to the
//    new primary ends the measured RTO. status.promotion is the report of it, never the reason to act.
import type { Server } from '@azure/arm-postgresql-flexible';
import { DEFAULT_POLL_MS } from '../../../src/azure/arm/index.js';
import { acceptsWrites, currentWalPosition, postgresConnections, replicaPosition, walBytesBetween, type DbTarget } from '../../../src/postgres/index.js';
import { describePgError } from '../../../src/postgres/connections.js';
import { confirmedPrimary, isReplicaServer } from '../../../src/tenantdatabase/promotion.js';
import type { TenantDatabaseStatus } from '../../../src/api/tenantdatabase.js';
import type { ServerOutcome } from '../context.js';
import { begin } from './apply.js';
import { OWNER_TAG, ownershipOf } from './desired.js';
import { cond, getServer, outcome, STALLED_RECHECK_MS, type Pass } from './pass.js';

type PromotionStatus = NonNullable<TenantDatabaseStatus['promotion']>;
type Request = NonNullable<Pass['az']['promotion']>;

const nowIso = () => new Date().toISOString();

/** Step 0: the pass works on the promoted replica once ARM confirms it is our primary. */
export async function followPromotion(p: Pass): Promise<ServerOutcome | undefined> {
  const spec = p.az;
  const target = spec.promotion?.replica;
  if (!target) return undefined;
  const r = await getServer(p.clients, spec.resourceGroup, target);
  if (!confirmedPrimary(r, p.owner, OWNER_TAG)) return undefined;
  p.primaryFrom = spec.name;
  const readReplicas = spec.readReplicas?.filter((x) => x.name !== target);
  p.az = {
    ...spec,
    name: target,
    location: spec.readReplicas?.find((x) => x.name === target)?.location ?? spec.location,
    ...(readReplicas ? { readReplicas } : {}),
  };
  return undefined;
}

/** The status record of this request, when status has one (a report: its times and figures only). */
function recordOf(p: Pass, req: Request): PromotionStatus | undefined {
  const rec = p.ctx.status.promotion;
  return rec && rec.requestId === req.requestId && rec.replica === req.replica ? rec : undefined;
}

/** Administrator target on one server's `postgres` database (undefined without password authentication). */
function adminOn(p: Pass, s: Server | undefined): DbTarget | undefined {
  const user = s?.administratorLogin ?? p.az.administratorLogin;
  if (!s?.fullyQualifiedDomainName || !user || p.admin?.password === undefined) return undefined;
  return { host: s.fullyQualifiedDomainName, port: 5432, sslMode: 'verify-full', user, password: p.admin.password, database: 'postgres' };
}

/** Where the replica stood just before promoting: what it had still to replay and, Forced, what it never received. */
async function measureLag(p: Pass, req: Request, primary: Server | undefined, replica: Server): Promise<Partial<PromotionStatus> & { note?: string }> {
  const conns = postgresConnections(p.ctx.settings.postgres);
  const rt = adminOn(p, replica);
  if (!rt) return { note: 'WAL positions not read (no password login to the servers)' };
  const out: Partial<PromotionStatus> & { note?: string } = {};
  try {
    const pos = await replicaPosition(conns, rt);
    if (pos.lastReplayedAt) out.lastReplayedAt = pos.lastReplayedAt.toISOString();
    const pt = adminOn(p, primary);
    const current = pt ? await currentWalPosition(conns, pt).catch(() => undefined) : undefined;
    if (pos.replayed && (current ?? pos.received)) out.replayLagBytes = walBytesBetween(pos.replayed, (current ?? pos.received)!);
    if (req.option !== 'Forced') return out;
    if (!current) return { ...out, note: 'the primary did not answer: the lost window is unknown (see lastReplayedAt)' };
    // Promotion still applies what the replica received: what it never received is what Forced loses.
    const got = pos.received ?? pos.replayed;
    if (got) out.lostWindowBytes = walBytesBetween(got, current);
  } catch (err) {
    out.note = `WAL positions not read: ${describePgError(err).message}`;
  }
  return out;
}

/** Why the replica cannot be promoted by this object (a condition), or undefined. */
function refusal(p: Pass, replica: Server, primaryName: string): string | undefined {
  const own = ownershipOf(replica.tags, p.owner);
  if (own.kind !== 'ours') return `server ${replica.name} is not held by this TenantDatabase (tag ${OWNER_TAG}); it is never promoted by it`;
  if (!isReplicaServer(replica)) return `server ${replica.name} is not a replica of ${primaryName}`;
  const src = (replica.sourceServerResourceId ?? '').toLowerCase();
  if (!src.endsWith(`/flexibleservers/${primaryName.toLowerCase()}`)) return `server ${replica.name} replicates from ${src.split('/').pop() || 'an unknown source'}, not from ${primaryName}`;
  return undefined;
}

/** Sends the promotion of `replica` (ARM says it still replicates from our primary). */
async function sendPromotion(p: Pass, req: Request, replica: Server): Promise<ServerOutcome> {
  const rg = p.az.resourceGroup;
  const primary = await getServer(p.clients, rg, p.az.name);
  const prev = recordOf(p, req);
  const lag = await measureLag(p, req, primary, replica);
  const { note, ...figures } = lag;
  const rec: PromotionStatus = {
    requestId: req.requestId,
    replica: req.replica,
    fromServer: p.az.name,
    mode: req.mode,
    option: req.option,
    phase: 'Promoting',
    requestedAt: prev?.requestedAt ?? nowIso(),
    ...figures,
    ...(note ? { message: note } : {}),
  };
  p.fields.promotion = rec;
  const lost = rec.lostWindowBytes !== undefined ? `; ${rec.lostWindowBytes} bytes of WAL not received by the replica are lost` : '';
  const body = { replica: { promoteMode: req.mode, promoteOption: req.option } };
  return begin(p, 'servers.update', req.replica, body, 'Promoting', `promoting read replica ${req.replica} (${req.mode}, ${req.option}, request ${req.requestId}) to primary in place of ${p.az.name}${lost}`);
}

/** After ARM confirmed the promotion: the first connection to the new primary ends the RTO. */
async function completePromotion(p: Pass, req: Request): Promise<ServerOutcome | undefined> {
  const prev = recordOf(p, req);
  if (prev?.completedAt || prev?.phase === 'AlreadyPrimary') {
    p.fields.promotion = prev;
    return undefined;
  }
  if (!prev) {
    // Nothing this object sent under this request: the replica was already the primary.
    p.fields.promotion = { requestId: req.requestId, replica: req.replica, phase: 'AlreadyPrimary', message: `server ${req.replica} was already the primary; nothing was sent to Azure` };
    await p.ctx.event('Normal', 'PromotionNotNeeded', `request ${req.requestId}: server ${req.replica} is already the primary; nothing sent`);
    return undefined;
  }
  const s = await getServer(p.clients, p.az.resourceGroup, req.replica);
  const rec: PromotionStatus = { ...prev, phase: 'Promoted', promotedAt: prev.promotedAt ?? nowIso() };
  const target = adminOn(p, s);
  let ok = target === undefined; // without a password login, ARM's word ends the measure
  if (target) {
    try {
      ok = await acceptsWrites(postgresConnections(p.ctx.settings.postgres), target);
    } catch (err) {
      rec.message = `waiting for the first connection to ${req.replica}: ${describePgError(err).message}`.slice(0, 1024);
    }
  }
  p.fields.promotion = rec;
  if (!ok) return outcome(p, cond(false, 'Promoting', `server ${req.replica} is promoted; waiting for it to accept connections`, false), { requeueAfterMs: 1_000 });
  rec.completedAt = nowIso();
  const started = Date.parse(rec.requestedAt ?? rec.promotedAt!);
  rec.rtoSeconds = Math.max(0, (Date.parse(rec.completedAt) - started) / 1000);
  const lost = rec.lostWindowBytes !== undefined ? `, lost window ${rec.lostWindowBytes} bytes of WAL` : '';
  const from = prev.fromServer ?? p.primaryFrom;
  const oldOne = req.mode === 'Switchover' ? `the old primary ${from} is now its replica` : `the old primary ${from} is left as it is (see README, Promotion)`;
  rec.message = `server ${req.replica} is the primary; RTO ${rec.rtoSeconds.toFixed(1)} s${lost}; ${oldOne}`;
  await p.ctx.event('Normal', 'Promoted', rec.message);
  return undefined;
}

/** Step 2b: a promotion the spec asks for: sent when ARM shows the replica still replicating from our primary. */
export async function requestPromotion(p: Pass): Promise<ServerOutcome | undefined> {
  const req = p.az.promotion;
  if (!req) {
    if (p.ctx.status.promotion) p.fields.promotion = null;
    return undefined;
  }
  if (p.primaryFrom) return completePromotion(p, req);
  const replica = await getServer(p.clients, p.az.resourceGroup, req.replica);
  // Not there yet: the replicas step creates it; the request waits for it.
  if (!replica) return undefined;
  if (confirmedPrimary(replica, p.owner, OWNER_TAG)) {
    // Promoted since this pass began (the operation just ended): the next pass follows it.
    return outcome(p, cond(false, 'Promoting', `server ${req.replica} is promoted; following it`, false), { requeueAfterMs: 200 });
  }
  const refused = refusal(p, replica, p.az.name);
  if (refused) return outcome(p, cond(false, 'PromotionRefused', `promotion request ${req.requestId}: ${refused}`, true), { requeueAfterMs: STALLED_RECHECK_MS });
  if (replica.state !== 'Ready') {
    return outcome(p, cond(false, 'Promoting', `promotion request ${req.requestId}: waiting for replica ${req.replica} (${replica.state ?? 'unknown'}) to be Ready`, false), { requeueAfterMs: DEFAULT_POLL_MS });
  }
  return sendPromotion(p, req, replica);
}
