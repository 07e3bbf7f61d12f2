// One AlertRuleSet pass, through the reconcile kit (cache read, finalizer, validation): its server on
// Azure, the webhook URIs from their Secrets, what exists in the resource group (listed every pass: a
// converged set reads, it never writes), then the steps in order and one status write when it changed.
import { validateAlertRuleSet, type AlertRuleSetSpec, type AlertRuleSetStatus } from '../../src/api/alertruleset.js';
import { armList } from '../../src/azure/arm/index.js';
import { classifyArmError } from '../../src/azure/errors.js';
import { redact } from '../../src/runtime/reconcile-kit.js';
import { lookupAzureServer, type AzureServerRef } from '../../src/tenantdatabase/index.js';
import type { Health } from '../../src/runtime/conditions.js';
import type { Result } from '../../src/runtime/controller.js';
import type { Manager } from '../../src/runtime/manager.js';
import { reconcileWith, readyMessageChanged, type ObjectContext, type SpecContext } from '../../src/runtime/reconcile-kit.js';
import type { ControllerSettings } from '../../src/settings.js';
import { actionGroups } from './action-groups.js';
import { deleteOwned, removed } from './cleanup.js';
import { ownerTagValue, type ServerInfo } from './desired.js';
import { diagnosticSetting } from './diagnostic-setting.js';
import { metricAlerts } from './metric-alerts.js';
import { InputError, type AlertPass } from './pass.js';
import { webhookSecrets } from './webhook-secrets.js';
import { databaseRefOf, tenantDatabaseStatusOf } from '../../src/tenantdatabase/index.js';

type SetContext = SpecContext<AlertRuleSetSpec, AlertRuleSetStatus>;

/** Drift check interval: Azure resources changed by hand come back within this. */
const RESYNC_MS = 10 * 60_000;
const WAIT_MS = 30_000;
/** How long a deletion waits for a busy server before giving up on cleaning up in Azure. */
const DELETE_WAIT_MS = 15 * 60_000;

/** The steps of a pass, in order: groups before the alerts that point at them, removals after. */
const STEPS: ReadonlyArray<(p: AlertPass) => Promise<void>> = [actionGroups, metricAlerts, removed, diagnosticSetting];

function info(s: AzureServerRef): ServerInfo {
  return { subscriptionId: s.subscriptionId, resourceGroup: s.resourceGroup, serverName: s.serverName, serverId: s.serverId };
}

function hasReplicas(s: AzureServerRef): boolean {
  return (s.spec.server.azure?.readReplicas?.length ?? 0) > 0 || (tenantDatabaseStatusOf(s.td).replicas?.length ?? 0) > 0;
}

/** Status write: one Warning Event per new Stalled reason or message. */
function write(ctx: ObjectContext<AlertRuleSetStatus>, health: Health, extra: Record<string, unknown> = {}): Promise<boolean> {
  return ctx.writeHealth(health, extra, { event: (prev, h) => h.state === 'Stalled' && readyMessageChanged(prev, h) });
}

/** The webhook URIs the spec's receivers name, or the first one missing. */
function webhookUris(ctx: SetContext): { uris: Map<string, string> } | { missing: string } {
  const uris = new Map<string, string>();
  for (const g of ctx.spec.actionGroups ?? []) {
    for (const r of g.webhookReceivers ?? []) {
      const value = ctx.secretValue(r.uriSecretRef.name, r.uriSecretRef.key);
      if (!value) return { missing: `waiting for key ${r.uriSecretRef.key} of Secret ${r.uriSecretRef.name} (webhook receiver ${r.name} of action group ${g.name})` };
      uris.set(`${g.name}\u0000${r.name}`, value);
    }
  }
  return { uris };
}

async function converge(ctx: SetContext, p: AlertPass): Promise<Result> {
  try {
    [p.groupsNow, p.alertsNow] = await Promise.all([
      armList((o) => p.clients.monitor.actionGroups.listByResourceGroup(p.server.resourceGroup, o)),
      armList((o) => p.clients.monitor.metricAlerts.listByResourceGroup(p.server.resourceGroup, o)),
    ]);
    for (const step of STEPS) await step(p);
    if (p.changes.length > 0) {
      ctx.log.info({ writes: p.changes.length }, 'Azure Monitor resources updated');
      await ctx.event('Normal', 'Applied', `${p.changes.length} Azure Monitor change(s) applied (${p.changes.join(', ')})`);
    }
    const message = `${p.rules.length} metric alerts, ${p.actionGroups.length} action groups${p.diagnosticSettingId ? ' and a diagnostic setting' : ''} in place`;
    await write(ctx, { state: 'Ready', reason: 'Applied', message }, { ruleCount: p.rules.length, rules: p.rules, actionGroups: p.actionGroups, diagnosticSettingId: p.diagnosticSettingId ?? null });
    return { requeueAfterMs: RESYNC_MS };
  } catch (err) {
    const secrets = p.uris.values();
    if (err instanceof InputError) {
      await write(ctx, { state: 'Stalled', reason: 'Conflict', message: redact(err.message, secrets) });
      return { requeueAfterMs: RESYNC_MS };
    }
    const e = classifyArmError(err);
    const message = redact(`${e.code}: ${e.message}`, secrets);
    if (!e.retryable) {
      await write(ctx, { state: 'Stalled', reason: 'AzureRejected', message: `Azure refused a change: ${message}` });
      return { requeueAfterMs: RESYNC_MS };
    }
    await write(ctx, { state: 'Reconciling', reason: 'AzureRetrying', message: `will retry: ${message}` });
    return e.retryAfterMs ? { requeueAfterMs: e.retryAfterMs } : { requeue: true };
  }
}

async function reconcileSet(settings: ControllerSettings, ctx: SetContext): Promise<Result> {
  // Only a server its TenantDatabase holds (at its current generation, confirmed by ARM) is acted on.
  const lookup = await lookupAzureServer(ctx.mgr, ctx.obj.metadata.namespace, ctx.spec.databaseRef.name, 'AlertRuleSet', settings.azure);
  if (!lookup.ok) {
    await write(ctx, { state: lookup.state, reason: lookup.reason, message: lookup.message });
    // Waiting on the TenantDatabase (or its Secrets): the watch on it brings this object back when it
    // changes, so a fleet of waiting objects costs no polling. An ARM failure is retried.
    return lookup.retry ? { requeue: true } : {};
  }
  const hooks = webhookUris(ctx);
  if ('missing' in hooks) {
    await write(ctx, { state: 'Reconciling', reason: 'WebhookSecretNotFound', message: hooks.missing });
    return { requeueAfterMs: WAIT_MS };
  }
  return converge(ctx, {
    clients: lookup.server.clients,
    server: info(lookup.server),
    spec: ctx.spec,
    owner: ownerTagValue(ctx.obj.metadata.namespace, ctx.name),
    setName: ctx.name,
    uris: hooks.uris,
    replicas: hasReplicas(lookup.server),
    groupsNow: [],
    alertsNow: [],
    keepGroups: new Set(),
    keepAlerts: new Set(),
    changes: [],
    rules: [],
    actionGroups: [],
    diagnosticSettingId: undefined,
  });
}

/** Deletion: what the set made goes (alerts are not data); a busy server is waited for, a gone one is not. */
async function finalizeSet(settings: ControllerSettings, ctx: ObjectContext<AlertRuleSetStatus> & { spec: AlertRuleSetSpec | undefined }): Promise<'done' | Result> {
  const database = ctx.spec?.databaseRef.name ?? databaseRefOf(ctx.obj);
  if (!database) return 'done';
  const lookup = await lookupAzureServer(ctx.mgr, ctx.obj.metadata.namespace, database, 'AlertRuleSet', settings.azure);
  if (lookup.ok) {
    const owner = ownerTagValue(ctx.obj.metadata.namespace, ctx.name);
    const x = { clients: lookup.server.clients, server: info(lookup.server), owner, setName: ctx.name, keepAlerts: new Set<string>(), keepGroups: new Set<string>(), dropDiagnostics: true };
    const n = await deleteOwned(x);
    ctx.log.info({ removed: n }, 'deleted the alerts, action groups and diagnostic setting this set made');
    if (n > 0) await ctx.event('Normal', 'Deleted', `deleted ${n} Azure Monitor resources this AlertRuleSet made`, 'Delete');
    return 'done';
  }
  if (lookup.reason === 'ServerNotReady' && lookup.exists && Date.now() - Date.parse(String(ctx.obj.metadata.deletionTimestamp)) < DELETE_WAIT_MS) {
    // The server is there but busy (updating, restarting): wait for it rather than leave alerts behind.
    return { requeueAfterMs: WAIT_MS };
  }
  // No server to reach (gone, or never on Azure): nothing of ours can be left on it that we could delete.
  ctx.log.warn({ reason: lookup.reason }, 'server not reachable at deletion; nothing cleaned up in Azure');
  await ctx.event('Warning', 'CleanupSkipped', `Azure Monitor resources not deleted: ${lookup.message}`, 'Delete');
  return 'done';
}

export function alertRuleSetReconciler(mgr: Manager, settings: ControllerSettings) {
  return reconcileWith<AlertRuleSetSpec, AlertRuleSetStatus>(mgr, {
    kind: 'AlertRuleSet',
    validate: validateAlertRuleSet,
    // The webhook URIs, read by name (the operator does not cache other teams' Secrets).
    secrets: (spec) => webhookSecrets(spec),
    finalize: (ctx) => finalizeSet(settings, ctx),
    reconcile: (ctx) => reconcileSet(settings, ctx),
  });
}
