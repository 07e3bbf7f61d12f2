// Microsoft.Insights/diagnosticSettings (and diagnosticSettingsCategories) at 2021-05-01-preview, as
// extension resources of emulated PostgreSQL flexible servers: `{serverId}/providers/Microsoft.Insights/...`.
// Log categories are the server type's (FLEXIBLE_SERVER_LOG_CATEGORIES); metrics come as one
// `AllMetrics` category. A setting needs a destination, and a resource holds at most five settings.
import { FLEXIBLE_SERVER_LOG_CATEGORIES } from '../../../src/api/metrics.js';
import { ArmError } from '../framework/errors.js';
import type { EmulatorContext } from '../framework/context.js';
import type { Json } from '../framework/store.js';
import type { ArmRequest, ArmResponse } from '../framework/types.js';
import { API_VERSIONS, INSIGHTS, SERVER_PATH, badRequest, bodyObject, requireServer, schema, serverId, withoutReadOnly, routeParams } from './common.js';

const TYPE = `${INSIGHTS}/diagnosticSettings`;
const CATEGORY_TYPE = `${INSIGHTS}/diagnosticSettingsCategories`;
const COLLECTION = `providers/${TYPE}`;
const API = [API_VERSIONS.diagnosticSettings];
const MAX_SETTINGS_PER_RESOURCE = 5;

const LOG_CATEGORIES = new Set<string>(FLEXIBLE_SERVER_LOG_CATEGORIES);
const CATEGORY_GROUPS = ['allLogs'];
const METRIC_CATEGORIES = ['AllMetrics'];
const DESTINATIONS = ['storageAccountId', 'eventHubAuthorizationRuleId', 'workspaceId', 'marketplacePartnerId', 'serviceBusRuleId'] as const;

function scopeOf(req: ArmRequest): string {
  const { subscriptionId, resourceGroupName, serverName } = routeParams(req, 'subscriptionId', 'resourceGroupName', 'serverName');
  return serverId(subscriptionId, resourceGroupName, serverName);
}

function validateSetting(props: Json): void {
  if (!DESTINATIONS.some((d) => typeof props[d] === 'string' && (props[d] as string).length > 0)) {
    throw badRequest(
      'BadRequest',
      'At least one destination (storageAccountId, eventHubAuthorizationRuleId, workspaceId or marketplacePartnerId) must be specified.',
      'properties',
    );
  }
  for (const log of (props.logs ?? []) as Json[]) {
    const hasCategory = typeof log.category === 'string' && log.category.length > 0;
    const hasGroup = typeof log.categoryGroup === 'string' && log.categoryGroup.length > 0;
    if (hasCategory === hasGroup) throw badRequest('BadRequest', 'Each log setting needs exactly one of category or categoryGroup.', 'properties.logs');
    if (hasCategory && !LOG_CATEGORIES.has(log.category as string)) {
      throw badRequest('BadRequest', `Category '${String(log.category)}' is not supported. Supported categories: ${[...LOG_CATEGORIES].join(', ')}.`, 'properties.logs');
    }
    if (hasGroup && !CATEGORY_GROUPS.includes(log.categoryGroup as string)) {
      throw badRequest('BadRequest', `Category group '${String(log.categoryGroup)}' is not supported. Supported groups: ${CATEGORY_GROUPS.join(', ')}.`, 'properties.logs');
    }
  }
  for (const metric of (props.metrics ?? []) as Json[]) {
    if (metric.category !== undefined && !METRIC_CATEGORIES.includes(String(metric.category))) {
      throw badRequest('BadRequest', `Metric category '${String(metric.category)}' is not supported. Supported categories: ${METRIC_CATEGORIES.join(', ')}.`, 'properties.metrics');
    }
  }
}

function categoryResources(scope: string): Json[] {
  const logs = [...LOG_CATEGORIES].map((name) => ({
    id: `${scope}/providers/${CATEGORY_TYPE}/${name}`,
    name,
    type: CATEGORY_TYPE,
    properties: { categoryType: 'Logs', categoryGroups: [...CATEGORY_GROUPS] },
  }));
  const metrics = METRIC_CATEGORIES.map((name) => ({
    id: `${scope}/providers/${CATEGORY_TYPE}/${name}`,
    name,
    type: CATEGORY_TYPE,
    properties: { categoryType: 'Metrics', categoryGroups: [] },
  }));
  return [...logs, ...metrics];
}

export function registerDiagnosticSettings(ctx: EmulatorContext): void {
  const itemPath = `${SERVER_PATH}/${COLLECTION}/{name}`;
  const common = { apiVersions: API, resourceType: TYPE } as const;

  const requireScope = (req: ArmRequest): string => {
    const { subscriptionId, resourceGroupName, serverName } = routeParams(req, 'subscriptionId', 'resourceGroupName', 'serverName');
    requireServer(ctx, subscriptionId, resourceGroupName, serverName);
    return scopeOf(req);
  };

  ctx.router.add({
    ...common,
    method: 'PUT',
    path: itemPath,
    requestSchema: schema('diagnosticSettings', 'DiagnosticSettingsResource'),
    handler: (req): ArmResponse => {
      const scope = requireScope(req);
      const name = routeParams(req, 'name').name;
      const id = `${scope}/${COLLECTION}/${name}`;
      const previous = ctx.store.get(id);
      if (!previous && ctx.store.list(scope, COLLECTION).length >= MAX_SETTINGS_PER_RESOURCE) {
        throw badRequest('BadRequest', `Resource already has the maximum of ${MAX_SETTINGS_PER_RESOURCE} diagnostic settings.`);
      }
      const body = withoutReadOnly(bodyObject(req));
      const props = { ...((body.properties ?? {}) as Json) };
      validateSetting(props);
      const doc = ctx.store.put(id, { id, name: (previous?.name as string | undefined) ?? name, type: TYPE, properties: props });
      return { status: 200, body: doc };
    },
  });

  ctx.router.add({
    ...common,
    method: 'GET',
    path: itemPath,
    handler: (req): ArmResponse => {
      const scope = requireScope(req);
      const doc = ctx.store.get(`${scope}/${COLLECTION}/${routeParams(req, 'name').name}`);
      if (!doc) throw new ArmError(404, 'ResourceNotFound', `The diagnostic setting '${routeParams(req, 'name').name}' doesn't exist.`);
      return { status: 200, body: doc };
    },
  });

  ctx.router.add({
    ...common,
    method: 'DELETE',
    path: itemPath,
    handler: (req): ArmResponse => {
      const scope = requireScope(req);
      return { status: ctx.store.delete(`${scope}/${COLLECTION}/${routeParams(req, 'name').name}`) ? 200 : 204 };
    },
  });

  ctx.router.add({
    ...common,
    method: 'GET',
    path: `${SERVER_PATH}/${COLLECTION}`,
    handler: (req): ArmResponse => ({ status: 200, body: { value: ctx.store.list(requireScope(req), COLLECTION) } }),
  });

  ctx.router.add({
    ...common,
    resourceType: CATEGORY_TYPE,
    method: 'GET',
    path: `${SERVER_PATH}/providers/${CATEGORY_TYPE}`,
    handler: (req): ArmResponse => ({ status: 200, body: { value: categoryResources(requireScope(req)) } }),
  });

  ctx.router.add({
    ...common,
    resourceType: CATEGORY_TYPE,
    method: 'GET',
    path: `${SERVER_PATH}/providers/${CATEGORY_TYPE}/{name}`,
    handler: (req): ArmResponse => {
      const found = categoryResources(requireScope(req)).find((c) => String(c.name).toLowerCase() === routeParams(req, 'name').name.toLowerCase());
      if (!found) throw new ArmError(404, 'ResourceNotFound', `The diagnostic settings category '${routeParams(req, 'name').name}' doesn't exist.`);
      return { status: 200, body: found };
    },
  });
}
