// HA failover on request (spec highAvailability.failover { requestId, mode }): a new requestId asks Azure
// once for `restart` with restartWithFailover (failoverMode PlannedFailover or ForcedFailover); the
// standby becomes the primary behind the same host name, so connection Secrets stay as they are.
// Once is kept by the server's tag tenantdb-failover (desired.ts failoverAction): claimed before the
// restart, handled after it; status can hold a restart back, never cause one the tag does not ask for.
// The claim names the primary that answered then: an operator stopped between sending the restart and
// recording it leaves "claimed, not sent" in status, and its successor finds another primary answering
// and does not send it again (a second failover would fail the database back).
// status.azure.failover reports the request, when it started and ended, and the measured seconds
// until the database accepted a write again on another instance than before (probed every pass while the
// operation runs). Two steps: failoverInFlight (right after the operation step: it owns its recorded
// operation, polls it once per pass and holds the other steps back meanwhile) and failoverRequest (after
// the properties step, so HA is on before a failover is asked for).
import { beginOperation, pollDelay, resumeOperation, type OperationRecord } from '../../../src/azure/arm/index.js';
import { classifyArmError } from '../../../src/azure/errors.js';
import { postgresConnections, type DbTarget } from '../../../src/postgres/connections.js';
import { probeWrite, type WriteProbe } from '../../../src/postgres/write-probe.js';
import { adminTarget } from '../../../src/tenantdatabase/index.js';
import type { ServerOutcome } from '../context.js';
import { begin } from './apply.js';
import { FAILOVER_TAG, failoverAction, failoverMark, instanceFingerprint, parseFailoverMark } from './desired.js';
import { cond, currentServerFields, failure, getServer, outcome, scopeOf, serverForTagWrite, type AzureStatus, type Pass } from './pass.js';

type FailoverRecord = NonNullable<AzureStatus['failover']>;

/** While nobody knows yet whether the database accepts writes again, passes come this often. */
const PROBE_EVERY_MS = 300;
/** The instance that answered before each request (in memory: after an operator restart the end of the operation is the measure). */
const instanceBefore = new Map<string, string>();
const requestKey = (p: Pass, requestId: string) => `${p.ctx.namespace}/${p.ctx.name}/${p.ctx.obj.metadata.uid ?? ''}/${requestId}`;

/** The administrator's session on the database through the host name ARM reports, when it can be built. */
function probeTarget(p: Pass, fqdn: string | undefined): DbTarget | undefined {
  const t = adminTarget({ spec: p.ctx.spec }, (name, key) => p.ctx.secretValue(name, key), fqdn);
  return t.ok ? t.target : undefined;
}

/** Who answers as the primary through that host name now, and whether it takes a write; undefined without a target. */
async function probePrimary(p: Pass, fqdn: string | undefined): Promise<WriteProbe | undefined> {
  const target = probeTarget(p, fqdn);
  return target ? probeWrite(postgresConnections(p.ctx.settings.postgres), target) : undefined;
}

const seconds = (from: string, to: number) => Math.max(0, Math.round((to - Date.parse(from)) / 10) / 100);

function running(p: Pass, rec: FailoverRecord, ms: number): ServerOutcome {
  p.st.failover = rec;
  p.fields = { ...p.fields, ...currentServerFields(p.ctx) };
  const message = `failing over ${p.az.name} to its standby (${rec.mode}, request ${rec.requestId}, started ${rec.startedAt})`;
  return outcome(p, cond(false, 'FailingOver', message, false), { requeueAfterMs: ms });
}

/** Records a write accepted on another instance than before the request. */
async function probe(p: Pass, rec: FailoverRecord): Promise<FailoverRecord> {
  const before = instanceBefore.get(requestKey(p, rec.requestId));
  if (rec.writableAfterSeconds !== undefined || before === undefined) return rec;
  const s = await getServer(p.clients, p.az.resourceGroup, p.az.name);
  const r = await probePrimary(p, s?.fullyQualifiedDomainName);
  if (!r) return rec;
  return r.writable && r.instance !== before ? { ...rec, writableAfterSeconds: seconds(rec.startedAt, Date.now()) } : rec;
}

async function ended(p: Pass, rec: FailoverRecord, error?: string): Promise<undefined> {
  instanceBefore.delete(requestKey(p, rec.requestId));
  const now = Date.now();
  const { operation: _op, ...rest } = rec;
  if (error) {
    p.st.failover = { ...rest, phase: 'Failed', completedAt: new Date(now).toISOString(), message: error.slice(0, 1024) };
    await p.ctx.event('Warning', 'FailoverFailed', `failover ${rec.requestId} of ${p.az.name} failed: ${error}`.slice(0, 1000));
    return undefined;
  }
  const writable = rec.writableAfterSeconds ?? seconds(rec.startedAt, now);
  const message = `${rec.mode} failover done in ${seconds(rec.startedAt, now)} s; the database accepted writes again after ${writable} s`;
  p.st.failover = { ...rest, phase: 'Succeeded', completedAt: new Date(now).toISOString(), writableAfterSeconds: writable, message };
  await p.ctx.event('Normal', 'FailedOver', `failover ${rec.requestId} of ${p.az.name}: ${message}`);
  p.ctx.log.info({ requestId: rec.requestId, writableAfterSeconds: writable }, 'failover done');
  return undefined;
}

/** A failover in flight: probe writes, poll its operation once; the pass ends here until it is over. */
export async function failoverInFlight(p: Pass): Promise<ServerOutcome | undefined> {
  let rec = p.st.failover as FailoverRecord | undefined;
  if (rec?.phase !== 'Running') return undefined;
  const op = rec.operation;
  if (!op) return ended(p, rec, 'no operation was recorded for it');
  rec = await probe(p, rec);
  const r = await resumeOperation(scopeOf(p), op);
  const soon = (ms: number) => (rec!.writableAfterSeconds === undefined ? Math.min(ms, PROBE_EVERY_MS) : ms);
  switch (r.state) {
    case 'early':
      return running(p, rec, soon(r.waitMs));
    case 'running':
      return running(p, { ...rec, operation: r.record }, soon(pollDelay(r.retryAfterMs)));
    case 'done':
      return ended(p, rec);
    case 'failed':
      return ended(p, rec, `${r.error.code}: ${r.error.message}`);
    case 'gone':
      return ended(p, rec, r.rejected ?? 'Azure no longer knows the operation; request a new failover if it is still needed');
    default:
      p.st.failover = rec;
      return failure(p, r.error, `polling the failover of ${p.az.name}`);
  }
}

/** One PATCH of the server's tags (all others kept, as the server has them now) setting the failover marker. */
async function setMark(p: Pass, value: string, reason: string, message: string): Promise<ServerOutcome> {
  const tags = { ...((await serverForTagWrite(p)).tags ?? {}), [FAILOVER_TAG]: value };
  return begin(p, 'servers.update', p.az.name, { tags }, reason, message);
}

/**
 * A failover the spec asks for, decided by the server's tag (desired.ts failoverAction): the server is
 * claimed for the request first, the restart with failover sent once the claim is on the server and the
 * standby is healthy, and the request marked handled when it ended.
 */
export async function failoverRequest(p: Pass): Promise<ServerOutcome | undefined> {
  const want = p.az.highAvailability?.failover;
  if (!want) return undefined;
  const id = want.requestId;
  const rec = p.st.failover?.requestId === id ? (p.st.failover as FailoverRecord) : undefined;
  const action = failoverAction(p.server?.tags?.[FAILOVER_TAG], id, rec?.phase);
  if (action === 'handled') return undefined;
  if (action === 'handle') return setMark(p, failoverMark(id, 'handled'), 'FailoverRecorded', `failover ${id} of ${p.az.name} ${rec!.phase === 'Failed' ? 'failed' : 'ended'}: the server records it as handled`);
  if (action === 'unconfirmed') {
    return notConfirmed(p, want, `the server was claimed for failover ${id} but this object holds no record of it (its status was lost, or it was re-created): whether it ran is unknown, and a failover is never repeated on a guess; set a new requestId to fail over`);
  }
  const ha = p.server?.highAvailability;
  if (!ha || (ha.mode ?? 'Disabled') === 'Disabled' || ha.state !== 'Healthy') {
    const message = `failover ${id} waits for a healthy standby (highAvailability ${ha?.mode ?? 'Disabled'}, state ${ha?.state ?? 'unknown'})`;
    return outcome(p, cond(false, 'WaitingForStandby', message, false), { requeueAfterMs: 5_000 });
  }
  const primary = await probePrimary(p, p.server?.fullyQualifiedDomainName);
  if (action === 'claim') {
    p.st.failover = { requestId: id, mode: want.mode, phase: 'Requested', startedAt: new Date().toISOString() };
    return setMark(p, failoverMark(id, 'claimed', primary?.instance), 'FailoverRequested', `failover ${id} of ${p.az.name}: the server is tagged with the request before the restart`);
  }
  const claimed = parseFailoverMark(p.server?.tags?.[FAILOVER_TAG])?.primary;
  if (claimed && primary?.instance && instanceFingerprint(primary.instance) !== claimed) {
    return notConfirmed(p, want, `the server restarted after it was claimed for failover ${id} (another primary answers now) and this object has no record that the restart was sent, as an operator stopped right after sending it leaves things: a failover is never repeated on a guess; set a new requestId if the primary is not where it should be`);
  }
  return restartWithFailover(p, want, primary);
}

/** Whether the request ran is not known: it is marked handled without running again, and a person told. */
async function notConfirmed(p: Pass, want: FailoverWant, message: string): Promise<ServerOutcome> {
  const id = want.requestId;
  const now = new Date().toISOString();
  const startedAt = p.st.failover?.requestId === id ? p.st.failover.startedAt : now;
  p.st.failover = { requestId: id, mode: want.mode, phase: 'Failed', startedAt, completedAt: now, message };
  await p.ctx.event('Warning', 'FailoverNotConfirmed', message);
  return setMark(p, failoverMark(id, 'handled'), 'FailoverRecorded', `failover ${id} of ${p.az.name}: recorded as handled without running again`);
}

type FailoverWant = NonNullable<NonNullable<Pass['az']['highAvailability']>['failover']>;

/** Sends the restart with failover of a claimed request (measuring from here; `before`: who answered). */
async function restartWithFailover(p: Pass, want: FailoverWant, before: WriteProbe | undefined): Promise<ServerOutcome> {
  const startedAt = new Date().toISOString();
  const body = { restartWithFailover: true, failoverMode: want.mode === 'Forced' ? 'ForcedFailover' : 'PlannedFailover' };
  let operation: OperationRecord | undefined;
  try {
    const r = await beginOperation(scopeOf(p), 'servers.restart', p.az.name, body);
    if (!r.done) operation = r.record;
  } catch (err) {
    const e = classifyArmError(err);
    if (e.retryable) return failure(p, err, `requesting failover ${want.requestId} of ${p.az.name}`);
    // Refused for good: ended with Azure's reason (the next pass marks the request handled: run once).
    await ended(p, { requestId: want.requestId, mode: want.mode, phase: 'Running', startedAt }, `${e.code}: ${e.message}`);
    return failure(p, err, `requesting failover ${want.requestId} of ${p.az.name}`);
  }
  if (before?.instance) instanceBefore.set(requestKey(p, want.requestId), before.instance);
  const rec: FailoverRecord = { requestId: want.requestId, mode: want.mode, phase: 'Running', startedAt, ...(operation ? { operation } : {}) };
  await p.ctx.event('Normal', 'FailoverStarted', `failover ${want.requestId} of ${p.az.name} requested (${body.failoverMode})`);
  if (!operation) {
    await ended(p, rec);
    return outcome(p, cond(false, 'FailedOver', `failover ${want.requestId} of ${p.az.name} ended; recording it on the server`, false), { requeueAfterMs: 500 });
  }
  return running(p, rec, PROBE_EVERY_MS);
}
