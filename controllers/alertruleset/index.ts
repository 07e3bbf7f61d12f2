// The AlertRuleSet controller: Azure Monitor action groups, metric alerts and a diagnostic setting for
// the server of a TenantDatabase on Azure. Level-based: every pass reads what exists (3 ARM reads: the
// resource group's alerts and action groups, the one diagnostic setting), diffs it against the spec and
// writes only what differs, so a converged set costs no write. Only resources carrying this set's owner
// tag are ever deleted; deleting the AlertRuleSet deletes what it made (alerts are not data).
import type { ActionGroupResource, MetricAlertResource } from '@azure/arm-monitor';
import { API_GROUP_VERSION, KINDS } from '../../src/api/kinds.js';
import { validateAlertRuleSet, type AlertRuleSetSpec } from '../../src/api/alertruleset.js';
import { azureClientsFor } from '../../src/azure/provider.js';
import type { AzureClients } from '../../src/azure/clients.js';
import { classifyArmError } from '../../src/azure/errors.js';
import { armCall, armGroupWrite, armList } from '../../src/azure/arm/index.js';
import { extensionResourceUri } from '../../src/azure/resource-type.js';
import { SECRETS, TENANT_DATABASES, lookupAzureServer, redact, referrersOf, secretData, type AzureServerRef } from '../../src/databaseref/azure-server.js';
import { setHealth, type Condition, type Health } from '../../src/runtime/conditions.js';
import type { ReconcileContext, Request, Result } from '../../src/runtime/controller.js';
import { ensureFinalizer, hasFinalizer, isBeingDeleted, removeFinalizer } from '../../src/runtime/finalizers.js';
import type { KubeObject } from '../../src/runtime/kubeclient.js';
import type { Manager } from '../../src/runtime/manager.js';
import { patchStatus } from '../../src/runtime/status.js';
import type { ControllerSettings } from '../../src/settings.js';
import { DEFAULT_CONTROLLER_SETTINGS } from '../../src/settings.js';
import { FINALIZER, resourceOf } from '../../src/api/resources.js';
import { effectiveRules } from './defaults.js';
import {
  OWNER_TAG,
  desiredActionGroups,
  desiredAlert,
  desiredDiagnosticSetting,
  diagnosticSettingName,
  holds,
  metricAlertId,
  actionGroupId,
  ownerTagValue,
  type ServerInfo,
} from './desired.js';

export { FINALIZER };
const RESOURCE = resourceOf('AlertRuleSet');
/** Drift check interval: Azure resources changed by hand come back within this. */
const RESYNC_MS = 10 * 60_000;
const WAIT_MS = 30_000;
/** How long a deletion waits for a busy server before giving up on cleaning up in Azure. */
const DELETE_WAIT_MS = 15 * 60_000;

interface Deployed {
  name: string;
  resourceId?: string;
}

interface Status {
  observedGeneration?: number;
  conditions?: Condition[];
}

class InputError extends Error {}

export function registerAlertRuleSetController(mgr: Manager, settings: ControllerSettings = DEFAULT_CONTROLLER_SETTINGS): void {
  mgr.addController({
    name: KINDS.AlertRuleSet.singular,
    resource: RESOURCE,
    reconcile: (ctx, req) => reconcile(mgr, settings, ctx, req),
    watches: [
      { resource: TENANT_DATABASES, map: referrersOf(mgr, RESOURCE) },
      { resource: SECRETS, map: (s) => secretReferrers(mgr, s) },
    ],
  });
}

/** A Secret → the rule sets whose webhook receivers read it. */
function secretReferrers(mgr: Manager, secret: KubeObject): Request[] {
  return mgr
    .listCached(RESOURCE, secret.metadata.namespace)
    .filter((o) => ((o.spec as AlertRuleSetSpec | undefined)?.actionGroups ?? []).some((g) => (g.webhookReceivers ?? []).some((r) => r.uriSecretRef.name === secret.metadata.name)))
    .map((o) => ({ namespace: o.metadata.namespace, name: o.metadata.name }));
}

function regarding(obj: KubeObject): KubeObject {
  return { ...obj, apiVersion: API_GROUP_VERSION, kind: KINDS.AlertRuleSet.kind };
}

async function reconcile(mgr: Manager, settings: ControllerSettings, ctx: ReconcileContext, req: Request): Promise<Result> {
  const obj = mgr.getCached(RESOURCE, req.namespace, req.name);
  if (!obj) return {};
  const owner = ownerTagValue(obj.metadata.namespace, obj.metadata.name);

  if (isBeingDeleted(obj)) {
    if (!hasFinalizer(obj, FINALIZER)) return {};
    const spec = obj.spec as AlertRuleSetSpec;
    const lookup = lookupAzureServer(mgr, req.namespace, spec.databaseRef.name, 'AlertRuleSet');
    if (lookup.ok) {
      const clients = clientsFor(settings, lookup.server);
      const removed = await deleteOwned(clients, info(lookup.server), owner, obj.metadata.name, new Set(), new Set(), true);
      ctx.log.info({ removed }, 'deleted the alerts, action groups and diagnostic setting this set made');
      if (removed > 0) await mgr.events.event(regarding(obj), 'Normal', 'Deleted', 'Delete', `deleted ${removed} Azure Monitor resources this AlertRuleSet made`);
    } else if (lookup.reason === 'ServerNotReady' && lookup.exists && Date.now() - Date.parse(String(obj.metadata.deletionTimestamp)) < DELETE_WAIT_MS) {
      // The server is there but busy (updating, restarting): wait for it rather than leave alerts behind.
      return { requeueAfterMs: WAIT_MS };
    } else {
      // No server to reach (gone, or never on Azure): nothing of ours can be left on it that we could delete.
      ctx.log.warn({ reason: lookup.reason }, 'server not reachable at deletion; nothing cleaned up in Azure');
      await mgr.events.event(regarding(obj), 'Warning', 'CleanupSkipped', 'Delete', `Azure Monitor resources not deleted: ${lookup.message}`);
    }
    await removeFinalizer(mgr.client, RESOURCE, obj, FINALIZER, mgr.fieldManager);
    return {};
  }

  if (!hasFinalizer(obj, FINALIZER)) {
    await ensureFinalizer(mgr.client, RESOURCE, obj, FINALIZER, mgr.fieldManager);
    return {};
  }

  const generation = obj.metadata.generation;
  const status = (obj.status ?? {}) as Status;
  const write = async (health: Health, extra: Record<string, unknown> = {}) => {
    const desired = { observedGeneration: generation, conditions: setHealth(status.conditions, health, generation), ...extra };
    const updated = await patchStatus(mgr.client, RESOURCE, obj, desired, mgr.fieldManager);
    const prev = status.conditions?.find((c) => c.type === 'Ready');
    if (updated && health.state === 'Stalled' && (prev?.reason !== health.reason || prev?.message !== health.message)) {
      await mgr.events.event(regarding(obj), 'Warning', health.reason, 'Reconcile', health.message);
    }
  };

  const validation = validateAlertRuleSet({ ...obj, status: undefined });
  if (!validation.ok) {
    await write({ state: 'Stalled', reason: 'InvalidSpec', message: validation.error.message.slice(0, 32_000) });
    return {};
  }
  const spec = validation.value.spec;

  const lookup = lookupAzureServer(mgr, req.namespace, spec.databaseRef.name, 'AlertRuleSet');
  if (!lookup.ok) {
    await write({ state: lookup.state, reason: lookup.reason, message: lookup.message });
    // Waiting on the TenantDatabase (or its Secrets): the watch on it brings this object back when it
    // changes, so a fleet of waiting objects costs no polling.
    return {};
  }

  // Webhook URIs often carry a token: they live only in memory and in the ARM request body.
  const uris = new Map<string, string>();
  for (const g of spec.actionGroups ?? []) {
    for (const r of g.webhookReceivers ?? []) {
      const value = secretData(mgr, req.namespace, r.uriSecretRef.name)?.[r.uriSecretRef.key];
      if (!value) {
        await write({
          state: 'Reconciling',
          reason: 'WebhookSecretNotFound',
          message: `waiting for key ${r.uriSecretRef.key} of Secret ${r.uriSecretRef.name} (webhook receiver ${r.name} of action group ${g.name})`,
        });
        return { requeueAfterMs: WAIT_MS };
      }
      uris.set(`${g.name}\u0000${r.name}`, value);
    }
  }

  const server = info(lookup.server);
  const clients = clientsFor(settings, lookup.server);
  try {
    const outcome = await converge(clients, server, spec, owner, obj.metadata.name, uris, hasReplicas(lookup.server.td));
    if (outcome.writes > 0) {
      ctx.log.info({ writes: outcome.writes }, 'Azure Monitor resources updated');
      await mgr.events.event(regarding(obj), 'Normal', 'Applied', 'Reconcile', `${outcome.writes} Azure Monitor change(s) applied (${outcome.summary})`);
    }
    await write(
      { state: 'Ready', reason: 'Applied', message: `${outcome.rules.length} metric alerts, ${outcome.actionGroups.length} action groups${outcome.diagnosticSettingId ? ' and a diagnostic setting' : ''} in place` },
      {
        ruleCount: outcome.rules.length,
        rules: outcome.rules,
        actionGroups: outcome.actionGroups,
        diagnosticSettingId: outcome.diagnosticSettingId ?? null,
      },
    );
    return { requeueAfterMs: RESYNC_MS };
  } catch (err) {
    const secrets = uris.values();
    if (err instanceof InputError) {
      await write({ state: 'Stalled', reason: 'Conflict', message: redact(err.message, secrets) });
      return { requeueAfterMs: RESYNC_MS };
    }
    const e = classifyArmError(err);
    const message = redact(`${e.code}: ${e.message}`, secrets);
    if (!e.retryable) {
      await write({ state: 'Stalled', reason: 'AzureRejected', message: `Azure refused a change: ${message}` });
      return { requeueAfterMs: RESYNC_MS };
    }
    await write({ state: 'Reconciling', reason: 'AzureRetrying', message: `will retry: ${message}` });
    return e.retryAfterMs ? { requeueAfterMs: e.retryAfterMs } : { requeue: true };
  }
}

function info(s: AzureServerRef): ServerInfo {
  return { subscriptionId: s.subscriptionId, resourceGroup: s.resourceGroup, serverName: s.serverName, serverId: s.serverId };
}

function clientsFor(settings: ControllerSettings, s: AzureServerRef): AzureClients {
  return azureClientsFor(settings.azure, { subscriptionId: s.subscriptionId, ...(s.credentialsSecretData ? { credentialsSecretData: s.credentialsSecretData } : {}) });
}

function hasReplicas(td: KubeObject): boolean {
  const spec = (td.spec ?? {}) as { server?: { azure?: { readReplicas?: unknown[] } } };
  const status = (td.status ?? {}) as { replicas?: unknown[] };
  return (spec.server?.azure?.readReplicas?.length ?? 0) > 0 || (status.replicas?.length ?? 0) > 0;
}

const isNotFound = (err: unknown) => classifyArmError(err).kind === 'not-found';

interface Outcome {
  writes: number;
  summary: string;
  rules: Deployed[];
  actionGroups: Deployed[];
  diagnosticSettingId: string | undefined;
}

async function converge(
  clients: AzureClients,
  server: ServerInfo,
  spec: AlertRuleSetSpec,
  owner: string,
  setName: string,
  uris: Map<string, string>,
  replicas: boolean,
): Promise<Outcome> {
  const monitor = clients.monitor;
  const [groupsNow, alertsNow] = await Promise.all([
    armList((o) => monitor.actionGroups.listByResourceGroup(server.resourceGroup, o)),
    armList((o) => monitor.metricAlerts.listByResourceGroup(server.resourceGroup, o)),
  ]);
  const byName = <T extends { name?: string }>(xs: T[]) => new Map(xs.map((x) => [String(x.name).toLowerCase(), x]));
  const groupMap = byName(groupsNow);
  const alertMap = byName(alertsNow);
  const ours = (x: { tags?: Record<string, string> } | undefined) => x?.tags?.[OWNER_TAG] === owner;
  const changes: string[] = [];

  const groups = desiredActionGroups(spec, owner, (g, r) => uris.get(`${g}\u0000${r}`) ?? '');
  for (const g of groups) {
    const current = groupMap.get(g.name.toLowerCase()) as ActionGroupResource | undefined;
    if (current && !ours(current)) throw new InputError(`action group ${g.name} already exists in resource group ${server.resourceGroup} and was not made by this AlertRuleSet; rename it in spec.actionGroups`);
    if (current && holds(current, g.body)) continue;
    await armGroupWrite(clients, server.resourceGroup, (o) => monitor.actionGroups.createOrUpdate(server.resourceGroup, g.name, g.body, o));
    changes.push(`${current ? 'updated' : 'created'} action group ${g.name}`);
  }

  const alerts = effectiveRules(spec, replicas).map((r) => desiredAlert(server, r, owner));
  for (const a of alerts) {
    const current = alertMap.get(a.name.toLowerCase()) as MetricAlertResource | undefined;
    if (current && !ours(current)) throw new InputError(`metric alert ${a.name} already exists in resource group ${server.resourceGroup} and was not made by this AlertRuleSet`);
    if (current && holds(current, a.body)) continue;
    await armGroupWrite(clients, server.resourceGroup, (o) => monitor.metricAlerts.createOrUpdate(server.resourceGroup, a.name, a.body, o));
    changes.push(`${current ? 'updated' : 'created'} alert ${a.rule}`);
  }

  // Removed from the spec: delete, but only what carries our owner tag.
  const keepAlerts = new Set(alerts.map((a) => a.name.toLowerCase()));
  const keepGroups = new Set(groups.map((g) => g.name.toLowerCase()));
  const deleted = await deleteOwned(clients, server, owner, setName, keepAlerts, keepGroups, !spec.diagnostics, { groupsNow, alertsNow });
  if (deleted > 0) changes.push(`deleted ${deleted}`);

  let diagnosticSettingId: string | undefined;
  const diag = desiredDiagnosticSetting(spec);
  if (diag) {
    const uri = extensionResourceUri(server.serverId);
    const name = diagnosticSettingName(setName);
    const current = await armCall((o) => monitor.diagnosticSettings.get(uri, name, o)).catch((err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw err;
    });
    if (!current || !holds(current, diag)) {
      const put = await armGroupWrite(clients, server.resourceGroup, (o) => monitor.diagnosticSettings.createOrUpdate(uri, name, diag, o));
      diagnosticSettingId = put.id;
      changes.push(`${current ? 'updated' : 'created'} diagnostic setting`);
    } else diagnosticSettingId = current.id;
  }

  return {
    writes: changes.length,
    summary: changes.join(', '),
    rules: alerts.map((a) => ({ name: a.rule, resourceId: metricAlertId(server, a.name) })),
    actionGroups: groups.map((g) => ({ name: g.name, resourceId: actionGroupId(server, g.name) })),
    diagnosticSettingId,
  };
}

/** Deletes our alerts and action groups not in the keep sets (and our diagnostic setting when asked); returns how many. */
async function deleteOwned(
  clients: AzureClients,
  server: ServerInfo,
  owner: string,
  setName: string,
  keepAlerts: Set<string>,
  keepGroups: Set<string>,
  dropDiagnostics: boolean,
  listed?: { groupsNow: ActionGroupResource[]; alertsNow: MetricAlertResource[] },
): Promise<number> {
  const monitor = clients.monitor;
  const alertsNow = listed?.alertsNow ?? (await armList((o) => monitor.metricAlerts.listByResourceGroup(server.resourceGroup, o)));
  const groupsNow = listed?.groupsNow ?? (await armList((o) => monitor.actionGroups.listByResourceGroup(server.resourceGroup, o)));
  let n = 0;
  const gone = (err: unknown) => {
    if (!isNotFound(err)) throw err;
  };
  for (const a of alertsNow) {
    if (a.tags?.[OWNER_TAG] !== owner || keepAlerts.has(String(a.name).toLowerCase())) continue;
    await armGroupWrite(clients, server.resourceGroup, (o) => monitor.metricAlerts.delete(server.resourceGroup, a.name!, o)).catch(gone);
    n++;
  }
  // After the alerts, so no remaining alert of ours points at a deleted group.
  for (const g of groupsNow) {
    if (g.tags?.[OWNER_TAG] !== owner || keepGroups.has(String(g.name).toLowerCase())) continue;
    await armGroupWrite(clients, server.resourceGroup, (o) => monitor.actionGroups.delete(server.resourceGroup, g.name!, o)).catch(gone);
    n++;
  }
  if (dropDiagnostics) {
    const uri = extensionResourceUri(server.serverId);
    const name = diagnosticSettingName(setName);
    const exists = await armCall((o) => monitor.diagnosticSettings.get(uri, name, o)).then(
      () => true,
      (err: unknown) => {
        gone(err);
        return false;
      },
    );
    if (exists) {
      await armGroupWrite(clients, server.resourceGroup, (o) => monitor.diagnosticSettings.delete(uri, name, o)).catch(gone);
      n++;
    }
  }
  return n;
}
