// Microsoft.Insights/actionGroups at 2024-10-01-preview. Action groups are global resources; receivers
// are stored as sent, with the read-only receiver status Azure adds. Receiver names must be unique
// within a group, which the swagger states in prose only.
import type { EmulatorContext } from '../framework/context.js';
import type { Json } from '../framework/store.js';
import type { ArmRequest, ArmResponse } from '../framework/types.js';
import { API_VERSIONS, INSIGHTS, RG_PATH, badRequest, bodyObject, notFound, rgId, schema, systemData, withoutReadOnly, routeParams } from './common.js';

const TYPE = `${INSIGHTS}/ActionGroups`;
const COLLECTION = `providers/${INSIGHTS}/actionGroups`;
const API = [API_VERSIONS.actionGroups];

const RECEIVER_LISTS = [
  'emailReceivers',
  'smsReceivers',
  'webhookReceivers',
  'itsmReceivers',
  'azureAppPushReceivers',
  'automationRunbookReceivers',
  'voiceReceivers',
  'logicAppReceivers',
  'azureFunctionReceivers',
  'armRoleReceivers',
  'eventHubReceivers',
  'incidentReceivers',
] as const;

// Only these receiver kinds carry the read-only `status` in the swagger.
const WITH_STATUS = new Set(['emailReceivers', 'smsReceivers']);

function groupId(subscriptionId: string, resourceGroupName: string, name: string): string {
  return `${rgId(subscriptionId, resourceGroupName)}/${COLLECTION}/${name}`;
}

function normaliseProperties(props: Json): Json {
  const out: Json = { ...props };
  if (typeof out.groupShortName !== 'string' || out.groupShortName.length === 0) {
    throw badRequest('BadRequest', 'The groupShortName property is required.', 'properties.groupShortName');
  }
  out.enabled ??= true;
  const names = new Set<string>();
  for (const list of RECEIVER_LISTS) {
    const receivers = (out[list] ?? []) as Json[];
    for (const r of receivers) {
      const name = String(r.name ?? '').toLowerCase();
      if (name && names.has(name)) throw badRequest('BadRequest', `Receiver name '${String(r.name)}' is used more than once in the action group.`, `properties.${list}`);
      names.add(name);
    }
    out[list] = WITH_STATUS.has(list) ? receivers.map((r) => ({ ...r, status: 'Enabled' })) : receivers;
  }
  return out;
}

export function registerActionGroups(ctx: EmulatorContext): void {
  const itemPath = `${RG_PATH}/${COLLECTION}/{actionGroupName}`;
  const common = { apiVersions: API, resourceType: `${INSIGHTS}/actionGroups` } as const;

  const get = (req: ArmRequest): Json => {
    const { subscriptionId, resourceGroupName, actionGroupName } = routeParams(req, 'subscriptionId', 'resourceGroupName', 'actionGroupName');
    ctx.requireResourceGroup(subscriptionId, resourceGroupName);
    const doc = ctx.store.get(groupId(subscriptionId, resourceGroupName, actionGroupName));
    if (!doc) throw notFound(`${INSIGHTS}/actionGroups`, actionGroupName, resourceGroupName);
    return doc;
  };

  const save = (req: ArmRequest, resource: Json, previous: Json | undefined): Json => {
    const { subscriptionId, resourceGroupName, actionGroupName } = routeParams(req, 'subscriptionId', 'resourceGroupName', 'actionGroupName');
    const id = groupId(subscriptionId, resourceGroupName, actionGroupName);
    return ctx.store.put(id, {
      id,
      name: (previous?.name as string | undefined) ?? actionGroupName,
      type: TYPE,
      location: resource.location,
      tags: resource.tags ?? {},
      ...(resource.identity ? { identity: resource.identity } : {}),
      properties: normaliseProperties((resource.properties ?? {}) as Json),
      systemData: systemData(req, previous),
    });
  };

  ctx.router.add({
    ...common,
    method: 'PUT',
    path: itemPath,
    requestSchema: schema('actionGroups', 'ActionGroupResource'),
    handler: (req): ArmResponse => {
      const { subscriptionId, resourceGroupName, actionGroupName } = routeParams(req, 'subscriptionId', 'resourceGroupName', 'actionGroupName');
      ctx.requireResourceGroup(subscriptionId, resourceGroupName);
      const previous = ctx.store.get(groupId(subscriptionId, resourceGroupName, actionGroupName));
      const doc = save(req, withoutReadOnly(bodyObject(req)), previous);
      return { status: previous ? 200 : 201, body: doc };
    },
  });

  ctx.router.add({
    ...common,
    method: 'PATCH',
    path: itemPath,
    requestSchema: schema('actionGroups', 'ActionGroupPatchBody'),
    handler: (req): ArmResponse => {
      const previous = get(req);
      const patch = bodyObject(req);
      const merged: Json = {
        location: previous.location,
        tags: (patch.tags as Json | undefined) ?? previous.tags,
        identity: patch.identity ?? previous.identity,
        properties: { ...(previous.properties as Json), ...((patch.properties as Json | undefined) ?? {}) },
      };
      if (merged.identity === undefined) delete merged.identity;
      return { status: 200, body: save(req, merged, previous) };
    },
  });

  ctx.router.add({ ...common, method: 'GET', path: itemPath, handler: (req) => ({ status: 200, body: get(req) }) });

  ctx.router.add({
    ...common,
    method: 'DELETE',
    path: itemPath,
    handler: (req): ArmResponse => {
      const { subscriptionId, resourceGroupName, actionGroupName } = routeParams(req, 'subscriptionId', 'resourceGroupName', 'actionGroupName');
      ctx.requireResourceGroup(subscriptionId, resourceGroupName);
      return { status: ctx.store.delete(groupId(subscriptionId, resourceGroupName, actionGroupName)) ? 200 : 204 };
    },
  });

  ctx.router.add({
    ...common,
    method: 'GET',
    path: `${RG_PATH}/${COLLECTION}`,
    handler: (req): ArmResponse => {
      const { subscriptionId, resourceGroupName } = routeParams(req, 'subscriptionId', 'resourceGroupName');
      ctx.requireResourceGroup(subscriptionId, resourceGroupName);
      return { status: 200, body: { value: ctx.store.list(rgId(subscriptionId, resourceGroupName), COLLECTION) } };
    },
  });

  ctx.router.add({
    ...common,
    method: 'GET',
    path: `/subscriptions/{subscriptionId}/${COLLECTION}`,
    handler: (req): ArmResponse => {
      const sub = (req.params.subscriptionId ?? '').toLowerCase().replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      const pattern = new RegExp(`^/subscriptions/${sub}/resourcegroups/[^/]+/providers/microsoft\\.insights/actiongroups/[^/]+$`);
      return { status: 200, body: { value: ctx.store.find(pattern) } };
    },
  });
}
