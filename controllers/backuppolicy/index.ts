// The BackupPolicy controller. For a TenantDatabase on Azure it is the one writer of the server's
// backup retention (PATCH only when it differs), checks geo-redundancy (fixed at creation, so a mismatch
// is reported, not fixed), takes on-demand backups on a UTC schedule (one catch-up after downtime, `keep`
// of its own kept, nobody else's touched), and runs restore drills (drill.ts) whose state lives in
// status. Every ARM call goes through src/azure/arm: the server comes from its resource group's shared
// list, the retention PATCH is a recorded operation (status.operation, resumed after a restart), backups
// and the drill's throw-away server are written as operations too. Every pass: the server from the list
// (+1 list of backups when on-demand backups are on); a converged policy writes nothing, to Kubernetes
// or Azure.
import { isDeepStrictEqual } from 'node:util';
import { isoDurationSeconds } from '../../src/api/fields.js';
import { API_GROUP_VERSION, KINDS } from '../../src/api/kinds.js';
import { validateBackupPolicy, type BackupPolicySpec } from '../../src/api/backuppolicy.js';
import { azureClientsFor } from '../../src/azure/provider.js';
import type { AzureClients } from '../../src/azure/clients.js';
import { classifyArmError } from '../../src/azure/errors.js';
import { armCall, armList, beginOperation, paceOperation, pollDelay, resumeOperation, serversOf, type ArmScope, type OperationRecord } from '../../src/azure/arm/index.js';
import { SECRETS, TENANT_DATABASES, lookupAzureServer, referrersOf, secretData, type AzureServerRef } from '../../src/databaseref/azure-server.js';
import { backupPolicyOwning } from '../../src/databaseref/backup-owner.js';
import { postgresConnections } from '../../src/postgres/connections.js';
import { setCondition, setHealth, type Condition, type Health } from '../../src/runtime/conditions.js';
import type { ReconcileContext, Request, Result } from '../../src/runtime/controller.js';
import { ensureFinalizer, hasFinalizer, isBeingDeleted, removeFinalizer } from '../../src/runtime/finalizers.js';
import type { KubeObject } from '../../src/runtime/kubeclient.js';
import type { Manager } from '../../src/runtime/manager.js';
import { patchStatus } from '../../src/runtime/status.js';
import { DEFAULT_CONTROLLER_SETTINGS, type ControllerSettings } from '../../src/settings.js';
import { FINALIZER, resourceOf } from '../../src/api/resources.js';
import { advanceDrill, startDrill, DRILL_TAG, type DrillEnv, type DrillRecord } from './drill.js';
import { drillLastPassed, drillRpoSeconds, drillRtoSeconds, drillsTotal } from './metrics.js';
import { backupName, backupPrefix, backupsToDelete } from './naming.js';
import { decide } from './schedule.js';

export { FINALIZER };
/** A user (or script) asks for a drill / backup now by setting a new value. */
export const RUN_DRILL_ANNOTATION = 'tenantdb.io/run-drill';
export const RUN_BACKUP_ANNOTATION = 'tenantdb.io/run-backup';
const RESOURCE = resourceOf('BackupPolicy');
const RESYNC_MS = 10 * 60_000;
const POLL_MS = 5_000;
/** An on-demand backup not visible after this long is reported Failed. */
const BACKUP_GIVE_UP_MS = 2 * 60 * 60_000;

interface BackupRecord {
  name: string;
  startedAt?: string;
  completedAt?: string;
  state?: 'Running' | 'Succeeded' | 'Failed';
}

interface Status {
  observedGeneration?: number;
  conditions?: Condition[];
  lastBackup?: BackupRecord;
  nextBackupTime?: string;
  lastDrill?: DrillRecord;
  nextDrillTime?: string;
  handledBackupRequest?: string;
  handledDrillRequest?: string;
  operation?: OperationRecord;
}

export function registerBackupPolicyController(mgr: Manager, settings: ControllerSettings = DEFAULT_CONTROLLER_SETTINGS): void {
  mgr.addController({
    name: KINDS.BackupPolicy.singular,
    resource: RESOURCE,
    reconcile: (ctx, req) => reconcile(mgr, settings, ctx, req),
    watches: [
      { resource: TENANT_DATABASES, map: referrersOf(mgr, RESOURCE) },
      // The TenantDatabase's credentials and administrator password Secrets.
      { resource: SECRETS, map: (s) => secretReferrers(mgr, s) },
      // A policy that goes away hands its database to the next one naming it.
      {
        resource: RESOURCE,
        map: (p) => {
          const db = ((p.spec ?? {}) as { databaseRef?: { name?: string } }).databaseRef?.name;
          return mgr
            .listCached(RESOURCE, p.metadata.namespace)
            .filter((o) => o.metadata.name !== p.metadata.name && ((o.spec ?? {}) as { databaseRef?: { name?: string } }).databaseRef?.name === db)
            .map((o) => ({ namespace: o.metadata.namespace, name: o.metadata.name }));
        },
      },
    ],
  });
}

function secretReferrers(mgr: Manager, secret: KubeObject): Request[] {
  const tds = mgr.listCached(TENANT_DATABASES, secret.metadata.namespace).filter((td) => {
    const az = ((td.spec ?? {}) as { server?: { azure?: { credentialsSecretRef?: { name: string }; administratorPasswordSecretRef?: { name: string } } } }).server?.azure;
    return az?.credentialsSecretRef?.name === secret.metadata.name || az?.administratorPasswordSecretRef?.name === secret.metadata.name;
  });
  return tds.flatMap(referrersOf(mgr, RESOURCE));
}

const regarding = (obj: KubeObject): KubeObject => ({ ...obj, apiVersion: API_GROUP_VERSION, kind: KINDS.BackupPolicy.kind });

function clientsFor(settings: ControllerSettings, s: AzureServerRef): AzureClients {
  return azureClientsFor(settings.azure, { subscriptionId: s.subscriptionId, ...(s.credentialsSecretData ? { credentialsSecretData: s.credentialsSecretData } : {}) });
}

function annotation(obj: KubeObject, key: string): string | undefined {
  return (obj.metadata.annotations as Record<string, string> | undefined)?.[key];
}

// resourceVersion of our last status write per object. A drill step acts on status (its state machine),
// so a pass must not start from a cached copy older than what the previous pass wrote: it would, e.g.,
// see a finished drill as still Restoring and create its throw-away server again.
const written = new Map<string, string>();

function staleCache(key: string, obj: KubeObject): boolean {
  const ours = written.get(key);
  const cached = obj.metadata.resourceVersion;
  if (!ours || !cached || !/^\d+$/.test(ours) || !/^\d+$/.test(cached)) return false;
  return BigInt(cached) < BigInt(ours);
}

async function reconcile(mgr: Manager, settings: ControllerSettings, ctx: ReconcileContext, req: Request): Promise<Result> {
  const obj = mgr.getCached(RESOURCE, req.namespace, req.name);
  const key = `${req.namespace ?? ''}/${req.name}`;
  if (!obj) {
    written.delete(key);
    return {};
  }
  if (staleCache(key, obj)) return { requeueAfterMs: 200 };
  const status = (obj.status ?? {}) as Status;
  const owner = `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
  const generation = obj.metadata.generation;
  const labels = { namespace: obj.metadata.namespace ?? '', policy: obj.metadata.name };
  const spec0 = obj.spec as BackupPolicySpec;
  const drillEnv = (server: AzureServerRef, clients: AzureClients, spec: BackupPolicySpec): DrillEnv => ({
    clients,
    server,
    owner,
    checks: spec.restoreDrill?.checks ?? [],
    timeoutSeconds: isoDurationSeconds(spec.restoreDrill?.timeout ?? 'PT1H') ?? 3600,
    conns: postgresConnections(settings.postgres),
    secretValue: (name, key) => secretData(mgr, req.namespace, name)?.[key],
  });

  if (isBeingDeleted(obj)) {
    if (!hasFinalizer(obj, FINALIZER)) return {};
    // A drill in flight: its throw-away server goes first. Backups stay (they are data), retention too.
    const drill = status.lastDrill;
    if (drill?.result === 'Running' && drill.serverName) {
      const lookup = lookupAzureServer(mgr, req.namespace, spec0.databaseRef.name, 'BackupPolicy');
      if (lookup.ok) {
        const env = drillEnv(lookup.server, clientsFor(settings, lookup.server), spec0);
        const cleaning = drill.phase === 'CleaningUp' ? drill : { ...drill, phase: 'CleaningUp' as const, pendingResult: 'Failed' as const, message: 'the BackupPolicy was deleted during the drill' };
        const step = await advanceDrill(env, cleaning, new Date());
        if (!step.finished) {
          const updated = await patchStatus(mgr.client, RESOURCE, obj, { lastDrill: step.drill }, mgr.fieldManager);
          if (updated?.metadata.resourceVersion) written.set(key, updated.metadata.resourceVersion);
          return { requeueAfterMs: step.requeueMs };
        }
      }
    }
    await removeFinalizer(mgr.client, RESOURCE, obj, FINALIZER, mgr.fieldManager);
    return {};
  }
  if (!hasFinalizer(obj, FINALIZER)) {
    await ensureFinalizer(mgr.client, RESOURCE, obj, FINALIZER, mgr.fieldManager);
    return {};
  }

  let conditions = status.conditions;
  const write = async (health: Health, extra: Partial<Record<keyof Status | 'earliestRestoreTime' | 'retentionDays', unknown>> = {}) => {
    const desired: Record<string, unknown> = { observedGeneration: generation, conditions: setHealth(conditions, health, generation), ...extra };
    // Records are replaced whole: a merge patch would otherwise keep the previous run's fields.
    for (const key of ['lastDrill', 'lastBackup'] as const) {
      if (desired[key] === undefined) continue;
      desired[key] = JSON.parse(JSON.stringify(desired[key]));
      if (isDeepStrictEqual(desired[key], status[key])) delete desired[key];
      else desired[key] = replacing(status[key] as Record<string, unknown> | undefined, desired[key] as Record<string, unknown>);
    }
    const updated = await patchStatus(mgr.client, RESOURCE, obj, desired, mgr.fieldManager);
    if (updated?.metadata.resourceVersion) written.set(key, updated.metadata.resourceVersion);
    const prev = status.conditions?.find((c) => c.type === 'Ready');
    if (updated && health.state === 'Stalled' && (prev?.reason !== health.reason || prev?.message !== health.message)) {
      await mgr.events.event(regarding(obj), 'Warning', health.reason, 'Reconcile', health.message);
    }
  };

  const validation = validateBackupPolicy({ ...obj, status: undefined });
  if (!validation.ok) {
    await write({ state: 'Stalled', reason: 'InvalidSpec', message: validation.error.message.slice(0, 32_000) });
    return {};
  }
  const spec = validation.value.spec;
  // One writer per property: the oldest policy naming the database owns its backups; others stand by.
  const holder = backupPolicyOwning(mgr, obj.metadata.namespace, spec.databaseRef.name);
  if (holder && holder.metadata.name !== obj.metadata.name) {
    await write({
      state: 'Stalled',
      reason: 'ConflictingPolicy',
      message: `BackupPolicy ${holder.metadata.name} already governs the backups of TenantDatabase ${spec.databaseRef.name}; only one policy per database applies`,
    });
    return { requeueAfterMs: RESYNC_MS };
  }
  const lookup = lookupAzureServer(mgr, req.namespace, spec.databaseRef.name, 'BackupPolicy');
  if (!lookup.ok) {
    await write({ state: lookup.state, reason: lookup.reason, message: lookup.message });
    // Waiting on the TenantDatabase (or its Secrets): the watch on it brings this object back when it
    // changes, so a fleet of waiting objects costs no polling.
    return {};
  }
  const server = lookup.server;
  const clients = clientsFor(settings, server);
  const now = new Date();
  const extra: Record<string, unknown> = {};
  const requeues: number[] = [RESYNC_MS];
  const notes: string[] = [];

  try {
    // ---- the server: retention (ours to write, one recorded PATCH at a time), geo-redundancy
    // (reported), earliest restore point. The server comes from its resource group's shared list.
    const scope: ArmScope = { clients, resourceGroup: server.resourceGroup, server: server.serverName };
    let operation = status.operation;
    if (operation) {
      const r = await resumeOperation(scope, operation);
      if (r.state === 'early') requeues.push(r.waitMs);
      else if (r.state === 'running') {
        operation = r.record;
        paceOperation(operation, pollDelay(r.retryAfterMs));
        requeues.push(pollDelay(r.retryAfterMs));
      } else if (r.state === 'retry') {
        extra.operation = operation;
        throw r.error;
      } else {
        if (r.state === 'failed') {
          // The retention below still differs: the next PATCH goes out on this pass, as a new operation.
          await mgr.events.event(regarding(obj), 'Warning', 'RetentionUpdateFailed', 'Update', `backup retention change of ${server.serverName} failed: ${r.error.code}: ${r.error.message}`.slice(0, 1000));
        }
        operation = undefined;
      }
    }
    const s = (await serversOf(clients, server.resourceGroup).get(server.serverName)) ?? (await armCall((o) => clients.postgres.servers.get(server.resourceGroup, server.serverName, o)));
    const retention = s.backup?.backupRetentionDays;
    const geo = s.backup?.geoRedundantBackup === 'Enabled';
    if (s.backup?.earliestRestoreDate) extra.earliestRestoreTime = new Date(s.backup.earliestRestoreDate).toISOString();
    if (retention !== undefined) extra.retentionDays = retention;
    let retentionPending = operation !== undefined;
    if (!operation && retention !== spec.retentionDays) {
      retentionPending = true;
      if (s.state === 'Ready') {
        const r = await beginOperation(scope, 'servers.update', server.serverName, { backup: { backupRetentionDays: spec.retentionDays } });
        if (!r.done) operation = r.record;
        ctx.log.info({ from: retention, to: spec.retentionDays }, 'backup retention updated');
        await mgr.events.event(regarding(obj), 'Normal', 'RetentionUpdated', 'Update', `backup retention of server ${server.serverName}: ${retention ?? 'unset'} → ${spec.retentionDays} days`);
      }
      requeues.push(POLL_MS);
    }
    extra.operation = operation ?? null;

    // ---- restore drill in flight: one step
    let drill = status.lastDrill;
    if (drill?.result === 'Running') {
      const step = await advanceDrill(drillEnv(server, clients, spec), drill, now);
      drill = step.drill;
      extra.lastDrill = drill;
      requeues.push(step.requeueMs);
      if (step.finished) await drillFinished(mgr, obj, labels, drill);
    } else if (spec.restoreDrill) {
      // ---- a drill due (schedule unless suspended, or a new run-drill annotation value)
      const asked = annotation(obj, RUN_DRILL_ANNOTATION);
      const byAnnotation = asked !== undefined && asked !== status.handledDrillRequest;
      const sched = decide(spec.restoreDrill.schedule, status.nextDrillTime ? new Date(status.nextDrillTime) : undefined, now);
      extra.nextDrillTime = spec.suspend ? null : sched.next.toISOString();
      if (byAnnotation || (sched.due && !spec.suspend)) {
        const trigger = byAnnotation ? `annotation ${RUN_DRILL_ANNOTATION}=${asked}` : 'schedule';
        if (byAnnotation) extra.handledDrillRequest = asked;
        try {
          drill = await startDrill(drillEnv(server, clients, spec), trigger, now);
          ctx.log.info({ runId: drill.runId, server: drill.serverName, restorePoint: drill.restorePoint }, 'restore drill started');
          await mgr.events.event(regarding(obj), 'Normal', 'DrillStarted', 'Drill', `restore drill ${drill.runId} (${trigger}): restoring ${server.serverName} at ${drill.restorePoint} to ${drill.serverName}`);
          requeues.push(1);
        } catch (err) {
          drill = { result: 'Failed', phase: 'Done', trigger, startedAt: now.toISOString(), completedAt: now.toISOString(), message: (err instanceof Error ? err.message : String(err)).slice(0, 4000) };
          await drillFinished(mgr, obj, labels, drill);
        }
        extra.lastDrill = drill;
      }
      if (!spec.suspend) requeues.push(Math.max(1_000, sched.next.getTime() - now.getTime()));
    } else {
      extra.nextDrillTime = null;
    }
    if (drill?.result === 'Failed' && drill.phase === 'Done') conditions = setCondition(conditions, { type: 'DrillPassed', status: 'False', reason: 'DrillFailed', message: drill.message ?? 'the last restore drill failed', observedGeneration: generation });
    else if (drill?.result === 'Passed') conditions = setCondition(conditions, { type: 'DrillPassed', status: 'True', reason: 'DrillPassed', message: drill.message ?? 'the last restore drill passed', observedGeneration: generation });

    // ---- on-demand backups (one operation at a time: the server takes one write at once)
    if (spec.onDemand) {
      const prefix = backupPrefix(obj.metadata.namespace, obj.metadata.name);
      const last = status.lastBackup;
      const backups: Array<{ name?: string; completedTime?: Date }> = [];
      backups.push(...(await armList((o) => clients.postgres.backupsAutomaticAndOnDemand.listByServer(server.resourceGroup, server.serverName, o))));
      const busyDrill = drill?.result === 'Running' && drill.phase === 'Restoring';
      if (last?.state === 'Running') {
        const found = backups.find((b) => b.name === last.name);
        if (found?.completedTime) {
          extra.lastBackup = { ...last, state: 'Succeeded', completedAt: new Date(found.completedTime).toISOString() };
          requeues.push(1_000); // keep-N next
          await mgr.events.event(regarding(obj), 'Normal', 'BackupCompleted', 'Backup', `on-demand backup ${last.name} completed`);
        } else if (now.getTime() - Date.parse(last.startedAt ?? now.toISOString()) > BACKUP_GIVE_UP_MS) {
          extra.lastBackup = { ...last, state: 'Failed' };
          await mgr.events.event(regarding(obj), 'Warning', 'BackupFailed', 'Backup', `on-demand backup ${last.name} did not complete within 2 h`);
        } else requeues.push(POLL_MS);
      } else {
        const asked = annotation(obj, RUN_BACKUP_ANNOTATION);
        const byAnnotation = asked !== undefined && asked !== status.handledBackupRequest;
        const sched = decide(spec.onDemand.schedule, status.nextBackupTime ? new Date(status.nextBackupTime) : undefined, now);
        extra.nextBackupTime = spec.suspend ? null : sched.next.toISOString();
        if (!spec.suspend) requeues.push(Math.max(1_000, sched.next.getTime() - now.getTime()));
        const excess = backupsToDelete(backups, prefix, spec.onDemand.keep);
        if ((byAnnotation || (sched.due && !spec.suspend)) && !retentionPending && !busyDrill) {
          if (byAnnotation) extra.handledBackupRequest = asked;
          const name = backupName(obj.metadata.namespace, obj.metadata.name, now);
          // Followed through the backups list (status.lastBackup), so the operation itself is not recorded.
          await beginOperation(scope, 'backups.create', name);
          extra.lastBackup = { name, startedAt: now.toISOString(), state: 'Running' };
          ctx.log.info({ backup: name }, 'on-demand backup started');
          await mgr.events.event(regarding(obj), 'Normal', 'BackupStarted', 'Backup', `on-demand backup ${name} started (${byAnnotation ? `annotation ${RUN_BACKUP_ANNOTATION}` : 'schedule'})`);
          requeues.push(POLL_MS);
        } else if ((byAnnotation || sched.due) && !spec.suspend) {
          // Due but the server is busy (retention change, restore): the run waits for the next pass.
          if (!byAnnotation) extra.nextBackupTime = status.nextBackupTime ?? sched.next.toISOString();
          requeues.push(POLL_MS);
        } else if (excess.length > 0 && !retentionPending) {
          const victim = excess[0]!;
          await beginOperation(scope, 'backups.delete', victim.name!);
          ctx.log.info({ backup: victim.name, keep: spec.onDemand.keep }, 'old on-demand backup deleted');
          await mgr.events.event(regarding(obj), 'Normal', 'BackupDeleted', 'Backup', `on-demand backup ${victim.name} deleted (keep ${spec.onDemand.keep})`);
          requeues.push(POLL_MS);
        }
      }
    } else {
      extra.nextBackupTime = null;
    }

    const health: Health = geo !== spec.geoRedundant
      ? {
          state: 'Stalled',
          reason: 'GeoRedundancyMismatch',
          message: `the policy asks for geoRedundant ${spec.geoRedundant} but server ${server.serverName} has geo-redundant backup ${geo ? 'enabled' : 'disabled'}; Azure fixes this at server creation, so it cannot be changed here`,
        }
      : retentionPending
        ? { state: 'Reconciling', reason: 'UpdatingRetention', message: `setting backup retention of ${server.serverName} to ${spec.retentionDays} days (server is ${s.state ?? 'unknown'})` }
        : { state: 'Ready', reason: 'Applied', message: [`backup retention ${spec.retentionDays} days on ${server.serverName}`, ...notes].join('; ') };
    await write(health, extra);
    return { requeueAfterMs: Math.max(1, Math.min(...requeues)) };
  } catch (err) {
    const e = classifyArmError(err);
    const message = `${e.code}: ${e.message}`;
    if (!e.retryable) {
      await write({ state: 'Stalled', reason: 'AzureRejected', message: `Azure refused a request: ${message}` }, extra);
      return { requeueAfterMs: RESYNC_MS };
    }
    await write({ state: 'Reconciling', reason: 'AzureRetrying', message: `will retry: ${message}` }, extra);
    return e.retryAfterMs ? { requeueAfterMs: e.retryAfterMs } : { requeue: true };
  }
}

/** `next` plus null for every field of `prev` it lacks (merge-patch removal). */
function replacing(prev: Record<string, unknown> | undefined, next: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...next };
  for (const k of Object.keys(prev ?? {})) if (!(k in next) || next[k] === undefined) out[k] = null;
  return out;
}

async function drillFinished(mgr: Manager, obj: KubeObject, labels: { namespace: string; policy: string }, drill: DrillRecord): Promise<void> {
  const passed = drill.result === 'Passed';
  drillsTotal.inc({ ...labels, result: drill.result ?? 'Failed' });
  drillLastPassed.set(labels, passed ? 1 : 0);
  if (drill.rtoSeconds !== undefined) drillRtoSeconds.set(labels, drill.rtoSeconds);
  if (drill.rpoSeconds !== undefined) drillRpoSeconds.set(labels, drill.rpoSeconds);
  const figures = `RTO ${drill.rtoSeconds ?? '?'} s, RPO ${drill.rpoSeconds ?? '?'} s`;
  await mgr.events.event(
    regarding(obj),
    passed ? 'Normal' : 'Warning',
    passed ? 'DrillPassed' : 'DrillFailed',
    'Drill',
    passed ? `restore drill ${drill.runId} passed (${figures}); throw-away server ${drill.serverName} deleted` : `restore drill ${drill.runId ?? ''} failed${drill.failedChecks?.length ? ` (checks: ${drill.failedChecks.join(', ')})` : ''}: ${drill.message ?? ''}`.slice(0, 1000),
  );
}

export { DRILL_TAG };
