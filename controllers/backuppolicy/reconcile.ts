// One BackupPolicy pass, through the reconcile kit (cache read, finalizer, validation): the policy that
// governs the database (one writer per property), its server on Azure, then the steps in order —
// retention, restore drill, on-demand backups — and one status write when something changed.
import { validateBackupPolicy, type BackupPolicySpec, type BackupPolicyStatus } from '../../src/api/backuppolicy.js';
import { TENANT_DATABASES, adminSecrets, backupPolicyOwning, lookupAzureServer, tenantDatabaseSpecOf } from '../../src/tenantdatabase/index.js';
import { classifyArmError } from '../../src/azure/errors.js';
import type { Health } from '../../src/runtime/conditions.js';
import type { Manager } from '../../src/runtime/manager.js';
import type { Result } from '../../src/runtime/controller.js';
import { reconcileWith, type ObjectContext } from '../../src/runtime/reconcile-kit.js';
import type { ControllerSettings } from '../../src/settings.js';
import { advanceDrill } from './drill.js';
import { onDemandBackups } from './on-demand.js';
import { RESYNC_MS, type PolicyContext, type PolicyPass } from './pass.js';
import { drillEnv, geoDrillRefusal, restoreDrill } from './restore-drill.js';
import { retention } from './retention.js';
import { forgetWrites, rememberWrites, staleCache, writeStatus } from './status.js';

/** The steps of a pass, in order (each reads what the earlier ones found). */
const STEPS: ReadonlyArray<(p: PolicyPass) => Promise<void>> = [retention, restoreDrill, onDemandBackups];

function healthOf(p: PolicyPass): Health {
  const { spec } = p.ctx;
  const { serverName } = p.server;
  const r = p.retention!;
  if (r.geoRedundant !== spec.geoRedundant) {
    const message = `the policy asks for geoRedundant ${spec.geoRedundant} but server ${serverName} has geo-redundant backup ${r.geoRedundant ? 'enabled' : 'disabled'}; Azure fixes this at server creation, so it cannot be changed here`;
    return { state: 'Stalled', reason: 'GeoRedundancyMismatch', message };
  }
  const geoRefusal = geoDrillRefusal(p);
  if (geoRefusal) return { state: 'Stalled', reason: 'GeoRestoreUnavailable', message: geoRefusal };
  if (r.pending) return { state: 'Reconciling', reason: 'UpdatingRetention', message: `setting backup retention of ${serverName} to ${spec.retentionDays} days (server is ${r.serverState ?? 'unknown'})` };
  return { state: 'Ready', reason: 'Applied', message: `backup retention ${spec.retentionDays} days on ${serverName}` };
}

/** The steps against the server; ARM failures become Stalled (refused) or Reconciling (retried). */
async function converge(p: PolicyPass): Promise<Result> {
  try {
    for (const step of STEPS) await step(p);
    await writeStatus(p.ctx, healthOf(p), p.extra, p.conditions);
    return { requeueAfterMs: Math.max(1, Math.min(...p.requeues)) };
  } catch (err) {
    const e = classifyArmError(err);
    const message = `${e.code}: ${e.message}`;
    if (!e.retryable) {
      await writeStatus(p.ctx, { state: 'Stalled', reason: 'AzureRejected', message: `Azure refused a request: ${message}` }, p.extra, p.conditions);
      return { requeueAfterMs: RESYNC_MS };
    }
    await writeStatus(p.ctx, { state: 'Reconciling', reason: 'AzureRetrying', message: `will retry: ${message}` }, p.extra, p.conditions);
    return e.retryAfterMs ? { requeueAfterMs: e.retryAfterMs } : { requeue: true };
  }
}

async function reconcilePolicy(settings: ControllerSettings, ctx: PolicyContext): Promise<Result> {
  const { spec } = ctx;
  // One writer per property: the oldest policy naming the database owns its backups; others stand by.
  const holder = backupPolicyOwning(ctx.mgr, ctx.obj.metadata.namespace, spec.databaseRef.name);
  if (holder && holder.metadata.name !== ctx.name) {
    const message = `BackupPolicy ${holder.metadata.name} already governs the backups of TenantDatabase ${spec.databaseRef.name}; only one policy per database applies`;
    await writeStatus(ctx, { state: 'Stalled', reason: 'ConflictingPolicy', message });
    return { requeueAfterMs: RESYNC_MS };
  }
  // Only a server its TenantDatabase holds (at its current generation, confirmed by ARM) is acted on.
  const lookup = await lookupAzureServer(ctx.mgr, ctx.obj.metadata.namespace, spec.databaseRef.name, 'BackupPolicy', settings.azure);
  if (!lookup.ok) {
    await writeStatus(ctx, { state: lookup.state, reason: lookup.reason, message: lookup.message });
    // Waiting on the TenantDatabase (or its Secrets): the watch on it brings this object back when it
    // changes, so a fleet of waiting objects costs no polling. An ARM failure is retried.
    return lookup.retry ? { requeue: true } : {};
  }
  const server = lookup.server;
  const clients = server.clients;
  const scope = { clients, resourceGroup: server.resourceGroup, server: server.serverName };
  return converge({ ctx, settings, server, clients, scope, now: new Date(), extra: {}, conditions: ctx.status.conditions, requeues: [RESYNC_MS] });
}

function drillSecrets(mgr: Manager, namespace: string, spec: BackupPolicySpec | undefined): string[] {
  const td = spec ? mgr.getCached(TENANT_DATABASES, namespace, spec.databaseRef.name) : undefined;
  return td ? adminSecrets(tenantDatabaseSpecOf(td)) : [];
}

/** Deletion: a drill in flight has its throw-away server deleted first. Backups stay (they are data), retention too. */
async function finalizePolicy(settings: ControllerSettings, ctx: ObjectContext<BackupPolicyStatus> & { spec: BackupPolicySpec | undefined }): Promise<'done' | Result> {
  const drill = ctx.status.lastDrill;
  const { spec } = ctx;
  // An invalid spec names no database safely: its drill server (tagged as the drill's) is left for a person.
  if (drill?.result !== 'Running' || !drill.serverName || !spec) return 'done';
  const lookup = await lookupAzureServer(ctx.mgr, ctx.obj.metadata.namespace, spec.databaseRef.name, 'BackupPolicy', settings.azure);
  if (!lookup.ok) return 'done';
  const env = drillEnv(ctx, settings, lookup.server, lookup.server.clients, spec);
  const cleaning = drill.phase === 'CleaningUp' ? drill : { ...drill, phase: 'CleaningUp' as const, pendingResult: 'Failed' as const, message: 'the BackupPolicy was deleted during the drill' };
  const step = await advanceDrill(env, cleaning, new Date());
  if (step.finished) return 'done';
  await ctx.patchStatus({ lastDrill: step.drill });
  return { requeueAfterMs: step.requeueMs };
}

export function backupPolicyReconciler(mgr: Manager, settings: ControllerSettings) {
  return reconcileWith<BackupPolicySpec, BackupPolicyStatus>(mgr, {
    kind: 'BackupPolicy',
    validate: validateBackupPolicy,
    gone: (key) => forgetWrites(key),
    before: (ctx) => {
      if (staleCache(ctx)) return { requeueAfterMs: 200 };
      rememberWrites(ctx);
      return undefined;
    },
    // The administrator's Secrets of the TenantDatabase, for restore drills (read by name, not cached).
    secrets: (spec, ctx) => drillSecrets(ctx.mgr, ctx.namespace, spec),
    finalize: (ctx) => finalizePolicy(settings, ctx),
    reconcile: (ctx) => reconcilePolicy(settings, ctx),
  });
}
