// Routes that Insights resources kept in a resource group (metric alerts, action groups) answer alike:
// GET, PATCH as a merge onto the stored resource, DELETE, and the lists by resource group and by
// subscription. PUT stays with each resource: its checks and its create status differ.
import type { EmulatorContext } from '../framework/context.js';
import type { Json } from '../framework/store.js';
import type { ArmRequest, ArmResponse, SchemaRef } from '../framework/types.js';
import { RG_PATH, bodyObject, notFound, rgId, routeParams } from './common.js';

export interface ResourceGroupResource<N extends string = string> {
  /** Type named in the routes' api-version errors and in 404s, e.g. `Microsoft.Insights/metricAlerts`. */
  resourceType: string;
  apiVersions: string[];
  /** Id segments between the resource group and the name, e.g. `providers/Microsoft.Insights/metricAlerts`. */
  collection: string;
  /** Route parameter that holds the resource name. */
  nameParam: N;
}

export function itemPath(r: ResourceGroupResource): string {
  return `${RG_PATH}/${r.collection}/{${r.nameParam}}`;
}

/** The route's resource group and resource name, and the id they make. */
export function itemRef<N extends string>(r: ResourceGroupResource<N>, req: ArmRequest): { subscriptionId: string; resourceGroupName: string; name: string; id: string } {
  const { subscriptionId, resourceGroupName } = routeParams(req, 'subscriptionId', 'resourceGroupName');
  const name = routeParams(req, r.nameParam)[r.nameParam];
  return { subscriptionId, resourceGroupName, name, id: `${rgId(subscriptionId, resourceGroupName)}/${r.collection}/${name}` };
}

/**
 * Registers GET, PATCH, DELETE and both lists. `save` stores a full resource (as PUT would) and returns
 * it; PATCH hands it the stored resource with the patch's tags, identity and properties merged in.
 */
export function registerResourceGroupRoutes<N extends string>(
  ctx: EmulatorContext,
  r: ResourceGroupResource<N>,
  patchSchema: SchemaRef,
  save: (req: ArmRequest, resource: Json, previous: Json) => Json,
): void {
  const path = itemPath(r);
  const common = { apiVersions: r.apiVersions, resourceType: r.resourceType } as const;

  const get = (req: ArmRequest): Json => {
    const { subscriptionId, resourceGroupName, name, id } = itemRef(r, req);
    ctx.requireResourceGroup(subscriptionId, resourceGroupName);
    const doc = ctx.store.get(id);
    if (!doc) throw notFound(r.resourceType, name, resourceGroupName);
    return doc;
  };

  ctx.router.add({
    ...common,
    method: 'PATCH',
    path,
    requestSchema: patchSchema,
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

  ctx.router.add({ ...common, method: 'GET', path, handler: (req) => ({ status: 200, body: get(req) }) });

  ctx.router.add({
    ...common,
    method: 'DELETE',
    path,
    handler: (req): ArmResponse => {
      const { subscriptionId, resourceGroupName, id } = itemRef(r, req);
      ctx.requireResourceGroup(subscriptionId, resourceGroupName);
      return { status: ctx.store.delete(id) ? 200 : 204 };
    },
  });

  ctx.router.add({
    ...common,
    method: 'GET',
    path: `${RG_PATH}/${r.collection}`,
    handler: (req): ArmResponse => {
      const { subscriptionId, resourceGroupName } = routeParams(req, 'subscriptionId', 'resourceGroupName');
      ctx.requireResourceGroup(subscriptionId, resourceGroupName);
      return { status: 200, body: { value: ctx.store.list(rgId(subscriptionId, resourceGroupName), r.collection) } };
    },
  });

  // The store's keys are lower-cased ids, so the pattern is too.
  const collectionPattern = escapeRegExp(r.collection.toLowerCase());
  ctx.router.add({
    ...common,
    method: 'GET',
    path: `/subscriptions/{subscriptionId}/${r.collection}`,
    handler: (req): ArmResponse => {
      const sub = escapeRegExp((req.params.subscriptionId ?? '').toLowerCase());
      const pattern = new RegExp(`^/subscriptions/${sub}/resourcegroups/[^/]+/${collectionPattern}/[^/]+$`);
      return { status: 200, body: { value: ctx.store.find(pattern) } };
    },
  });
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
