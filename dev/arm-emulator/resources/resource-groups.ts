// Microsoft.Resources/resourceGroups: the container every emulated resource lives in. Deleting a group
// deletes (and stops) what it holds, as a long-running operation answered with Location only, like ARM.
import { ArmError } from '../framework/errors.js';
import type { EmulatorContext } from '../framework/context.js';
import type { Json } from '../framework/store.js';

export const RESOURCE_GROUP_API_VERSIONS = ['2021-04-01', '2022-09-01', '2023-07-01', '2024-03-01', '2024-07-01', '2024-11-01', '2025-01-01', '2025-03-01', '2025-04-01'];

const PATH = '/subscriptions/{subscriptionId}/resourcegroups/{resourceGroupName}';
const TYPE = 'Microsoft.Resources/resourceGroups';

export function resourceGroupId(subscriptionId: string, name: string): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${name}`;
}

export function registerResourceGroups(ctx: EmulatorContext, hooks: Array<(sub: string, rg: string) => Promise<void>>): void {
  ctx.router.add({
    method: 'PUT',
    path: PATH,
    apiVersions: RESOURCE_GROUP_API_VERSIONS,
    resourceType: TYPE,
    handler: (req) => {
      const { subscriptionId, resourceGroupName } = req.params as { subscriptionId: string; resourceGroupName: string };
      if (!/^[-\w._()]{1,90}$/.test(resourceGroupName) || resourceGroupName.endsWith('.')) {
        throw new ArmError(400, 'InvalidResourceGroup', `The provided resource group name '${resourceGroupName}' has these invalid characters.`);
      }
      const body = (req.body ?? {}) as { location?: unknown; tags?: unknown };
      if (typeof body.location !== 'string' || !body.location) throw new ArmError(400, 'LocationRequired', 'The location property is required for this definition.');
      const id = resourceGroupId(subscriptionId, resourceGroupName);
      const existing = ctx.store.get(id);
      if (existing && String(existing.location).toLowerCase() !== body.location.replace(/\s+/g, '').toLowerCase()) {
        throw new ArmError(409, 'InvalidResourceGroupLocation', `Invalid resource group location '${body.location}'. The Resource group already exists in location '${String(existing.location)}'.`);
      }
      const doc: Json = {
        id,
        name: existing?.name ?? resourceGroupName,
        type: TYPE,
        location: body.location.replace(/\s+/g, '').toLowerCase(),
        properties: { provisioningState: 'Succeeded' },
      };
      if (body.tags && typeof body.tags === 'object') doc.tags = body.tags;
      ctx.store.put(id, doc);
      return { status: existing ? 200 : 201, body: doc };
    },
  });
  const get = (req: { params: Record<string, string> }) => {
    const { subscriptionId, resourceGroupName } = req.params as { subscriptionId: string; resourceGroupName: string };
    return ctx.requireResourceGroup(subscriptionId, resourceGroupName);
  };
  ctx.router.add({ method: 'GET', path: PATH, apiVersions: RESOURCE_GROUP_API_VERSIONS, resourceType: TYPE, handler: (req) => ({ status: 200, body: get(req) }) });
  ctx.router.add({
    method: 'HEAD',
    path: PATH,
    apiVersions: RESOURCE_GROUP_API_VERSIONS,
    resourceType: TYPE,
    handler: (req) => {
      const { subscriptionId, resourceGroupName } = req.params as { subscriptionId: string; resourceGroupName: string };
      return { status: ctx.store.has(resourceGroupId(subscriptionId, resourceGroupName)) ? 204 : 404 };
    },
  });
  ctx.router.add({
    method: 'DELETE',
    path: PATH,
    apiVersions: RESOURCE_GROUP_API_VERSIONS,
    resourceType: TYPE,
    handler: (req) => {
      const { subscriptionId, resourceGroupName } = req.params as { subscriptionId: string; resourceGroupName: string };
      const id = resourceGroupId(subscriptionId, resourceGroupName);
      const rg = ctx.store.get(id);
      if (!rg) return { status: 204 };
      const started = ctx.lro.start({
        req,
        namespace: 'Microsoft.Resources',
        location: String(rg.location),
        subscriptionId,
        resourceId: id,
        action: 'resourceGroups.delete',
        run: async () => {
          for (const hook of hooks) await hook(subscriptionId, resourceGroupName);
          ctx.store.deleteTree(id);
        },
      });
      // ARM answers a resource-group delete with Location only (no Azure-AsyncOperation).
      const headers = { ...started.headers };
      delete headers['Azure-AsyncOperation'];
      return { status: 202, headers };
    },
  });
}
