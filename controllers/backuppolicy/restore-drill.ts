// Step 2: restore drills. A drill in flight advances one step of its state machine (drill.ts); else a
// drill starts when due (the schedule unless suspended, or a new tenantdb.io/run-drill value). The
// outcome is kept in status.lastDrill and the DrillPassed condition; a finished drill feeds the metrics.
import { isoDurationSeconds } from '../../src/api/fields.js';
import type { AzureClients } from '../../src/azure/clients.js';
import type { AzureServerRef } from '../../src/tenantdatabase/index.js';
import { postgresConnections } from '../../src/postgres/connections.js';
import { setCondition } from '../../src/runtime/conditions.js';
import type { ControllerSettings } from '../../src/settings.js';
import type { BackupPolicySpec } from '../../src/api/backuppolicy.js';
import type { ObjectContext } from '../../src/runtime/reconcile-kit.js';
import { advanceDrill, startDrill, type DrillEnv } from './drill.js';
import { drillLastPassed, drillRpoSeconds, drillRtoSeconds, drillsTotal } from './metrics.js';
import { annotation, labelsOf, type DrillRecord, type PolicyContext, type PolicyPass } from './pass.js';
import { decide } from '../../src/runtime/schedule.js';

/** A user (or script) asks for a drill now by setting a new value. */
export const RUN_DRILL_ANNOTATION = 'tenantdb.io/run-drill';

export function drillEnv(ctx: ObjectContext<unknown>, settings: ControllerSettings, server: AzureServerRef, clients: AzureClients, spec: BackupPolicySpec): DrillEnv {
  return {
    clients,
    server,
    owner: `${ctx.obj.metadata.namespace ?? ''}/${ctx.name}`,
    checks: spec.restoreDrill?.checks ?? [],
    timeoutSeconds: isoDurationSeconds(spec.restoreDrill?.timeout ?? 'PT1H') ?? 3600,
    kind: spec.restoreDrill?.kind ?? 'PointInTimeRestore',
    ...(spec.restoreDrill?.location ? { location: spec.restoreDrill.location } : {}),
    conns: postgresConnections(settings.postgres),
    secretValue: (name, key) => ctx.secretValue(name, key),
  };
}

/** Metrics and an Event for a drill that ended. */
async function drillFinished(ctx: PolicyContext, drill: DrillRecord): Promise<void> {
  const labels = labelsOf(ctx);
  const passed = drill.result === 'Passed';
  drillsTotal.inc({ ...labels, result: drill.result ?? 'Failed' });
  drillLastPassed.set(labels, passed ? 1 : 0);
  if (drill.rtoSeconds !== undefined) drillRtoSeconds.set(labels, drill.rtoSeconds);
  if (drill.rpoSeconds !== undefined) drillRpoSeconds.set(labels, drill.rpoSeconds);
  const figures = `RTO ${drill.rtoSeconds ?? '?'} s, RPO ${drill.rpoSeconds ?? '?'} s`;
  const note = passed
    ? `restore drill ${drill.runId} passed (${figures}); throw-away server ${drill.serverName} deleted`
    : `restore drill ${drill.runId ?? ''} failed${drill.failedChecks?.length ? ` (checks: ${drill.failedChecks.join(', ')})` : ''}: ${drill.message ?? ''}`;
  await ctx.event(passed ? 'Normal' : 'Warning', passed ? 'DrillPassed' : 'DrillFailed', note.slice(0, 1000), 'Drill');
}

/** Why a GeoRestore drill cannot run on this server (no geo-redundant backup), or undefined. */
export function geoDrillRefusal(p: PolicyPass): string | undefined {
  if (p.ctx.spec.restoreDrill?.kind !== 'GeoRestore' || p.retention?.geoRedundant !== false) return undefined;
  return `a GeoRestore drill needs geo-redundant backup, but server ${p.server.serverName} was created without it (Azure fixes this at creation): use restoreDrill.kind PointInTimeRestore, or point the policy at a server created with backup.geoRedundant true`;
}

/** Starts a due drill; a drill that cannot start (the source not writable, no geo backup for GeoRestore) is recorded Failed. */
async function start(p: PolicyPass, trigger: string): Promise<DrillRecord> {
  const { ctx, now } = p;
  try {
    const refusal = geoDrillRefusal(p);
    if (refusal) throw new Error(refusal);
    const drill = await startDrill(drillEnv(ctx, p.settings, p.server, p.clients, ctx.spec), trigger, now);
    ctx.log.info({ runId: drill.runId, server: drill.serverName, restorePoint: drill.restorePoint }, 'restore drill started');
    const how = drill.kind === 'GeoRestore' ? `geo-restoring ${p.server.serverName} into ${drill.location}` : `restoring ${p.server.serverName}`;
    await ctx.event('Normal', 'DrillStarted', `restore drill ${drill.runId} (${trigger}): ${how} at ${drill.restorePoint} to ${drill.serverName}`, 'Drill');
    p.requeues.push(1);
    return drill;
  } catch (err) {
    const drill: DrillRecord = { result: 'Failed', phase: 'Done', trigger, startedAt: now.toISOString(), completedAt: now.toISOString(), message: (err instanceof Error ? err.message : String(err)).slice(0, 4000) };
    await drillFinished(ctx, drill);
    return drill;
  }
}

/** A drill due now: by a new annotation value, or by the schedule unless suspended. */
async function maybeStart(p: PolicyPass, schedule: string): Promise<void> {
  const { ctx, now, extra } = p;
  const status = ctx.status;
  const asked = annotation(ctx, RUN_DRILL_ANNOTATION);
  const byAnnotation = asked !== undefined && asked !== status.handledDrillRequest;
  const sched = decide(schedule, status.nextDrillTime ? new Date(status.nextDrillTime) : undefined, now);
  extra.nextDrillTime = ctx.spec.suspend ? null : sched.next.toISOString();
  if (byAnnotation || (sched.due && !ctx.spec.suspend)) {
    const trigger = byAnnotation ? `annotation ${RUN_DRILL_ANNOTATION}=${asked}` : 'schedule';
    if (byAnnotation) extra.handledDrillRequest = asked;
    p.drill = await start(p, trigger);
    extra.lastDrill = p.drill;
  }
  if (!ctx.spec.suspend) p.requeues.push(Math.max(1_000, sched.next.getTime() - now.getTime()));
}

export async function restoreDrill(p: PolicyPass): Promise<void> {
  const { ctx } = p;
  p.drill = ctx.status.lastDrill;
  if (p.drill?.result === 'Running') {
    const step = await advanceDrill(drillEnv(ctx, p.settings, p.server, p.clients, ctx.spec), p.drill, p.now);
    p.drill = step.drill;
    p.extra.lastDrill = p.drill;
    p.requeues.push(step.requeueMs);
    if (step.finished) await drillFinished(ctx, p.drill);
  } else if (ctx.spec.restoreDrill) {
    await maybeStart(p, ctx.spec.restoreDrill.schedule);
  } else {
    p.extra.nextDrillTime = null;
  }
  const drill = p.drill;
  const generation = ctx.generation;
  if (drill?.result === 'Failed' && drill.phase === 'Done') {
    p.conditions = setCondition(p.conditions, { type: 'DrillPassed', status: 'False', reason: 'DrillFailed', message: drill.message ?? 'the last restore drill failed', observedGeneration: generation });
  } else if (drill?.result === 'Passed') {
    p.conditions = setCondition(p.conditions, { type: 'DrillPassed', status: 'True', reason: 'DrillPassed', message: drill.message ?? 'the last restore drill passed', observedGeneration: generation });
  }
}
