// Microsoft.Insights/actionGroups at 2024-10-01-preview. Action groups are global resources; receivers
// are stored as sent, with the read-only receiver status Azure adds. Receiver names must be unique
// within a group, which the swagger states in prose only.
import type { EmulatorContext } from '../framework/context.js';
import type { Json } from '../framework/store.js';
import type { ArmRequest, ArmResponse } from '../framework/types.js';
import { API_VERSIONS, INSIGHTS, badRequest, bodyObject, schema, systemData, withoutReadOnly } from './common.js';
import { itemPath, itemRef, registerResourceGroupRoutes, type ResourceGroupResource } from './resource-group-routes.js';

const TYPE = `${INSIGHTS}/ActionGroups`;

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

const RESOURCE: ResourceGroupResource<'actionGroupName'> = {
  resourceType: `${INSIGHTS}/actionGroups`,
  apiVersions: [API_VERSIONS.actionGroups],
  collection: `providers/${INSIGHTS}/actionGroups`,
  nameParam: 'actionGroupName',
};

export function registerActionGroups(ctx: EmulatorContext): void {
  const save = (req: ArmRequest, resource: Json, previous: Json | undefined): Json => {
    const { id, name } = itemRef(RESOURCE, req);
    return ctx.store.put(id, {
      id,
      name: (previous?.name as string | undefined) ?? name,
      type: TYPE,
      location: resource.location,
      tags: resource.tags ?? {},
      ...(resource.identity ? { identity: resource.identity } : {}),
      properties: normaliseProperties((resource.properties ?? {}) as Json),
      systemData: systemData(req, previous),
    });
  };

  ctx.router.add({
    apiVersions: RESOURCE.apiVersions,
    resourceType: RESOURCE.resourceType,
    method: 'PUT',
    path: itemPath(RESOURCE),
    requestSchema: schema('actionGroups', 'ActionGroupResource'),
    handler: (req): ArmResponse => {
      const { subscriptionId, resourceGroupName, id } = itemRef(RESOURCE, req);
      ctx.requireResourceGroup(subscriptionId, resourceGroupName);
      const previous = ctx.store.get(id);
      const doc = save(req, withoutReadOnly(bodyObject(req)), previous);
      return { status: previous ? 200 : 201, body: doc };
    },
  });

  registerResourceGroupRoutes(ctx, RESOURCE, schema('actionGroups', 'ActionGroupPatchBody'), save);
}
