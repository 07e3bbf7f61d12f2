// Microsoft.Insights/metricAlerts at 2026-01-01 for alerts on emulated PostgreSQL flexible servers.
// Beyond the swagger (which cannot express its own polymorphic criteria), the checks Azure Monitor makes
// are applied: every scope must exist, metric names must be metrics of the scope's resource type,
// single-resource criteria take exactly one scope, and the evaluation frequency and window are from
// the allowed set.
import { FLEXIBLE_SERVER_METRICS, metricDefinition } from '../../../src/api/metrics.js';
import { ArmError } from '../framework/errors.js';
import type { EmulatorContext } from '../framework/context.js';
import type { Json } from '../framework/store.js';
import type { ArmRequest, ArmResponse } from '../framework/types.js';
import {
  API_VERSIONS,
  FLEXIBLE_SERVER_TYPE,
  INSIGHTS,
  badRequest,
  bodyObject,
  parseServerId,
  requireServer,
  schema,
  systemData,
  withoutReadOnly,
} from './common.js';
import { itemPath, itemRef, registerResourceGroupRoutes, type ResourceGroupResource } from './resource-group-routes.js';

const TYPE = `${INSIGHTS}/metricAlerts`;

const SINGLE = 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria';
const MULTIPLE = 'Microsoft.Azure.Monitor.MultipleResourceMultipleMetricCriteria';
const FREQUENCIES = ['PT1M', 'PT5M', 'PT15M', 'PT30M', 'PT1H'];
const WINDOWS = ['PT1M', 'PT5M', 'PT15M', 'PT30M', 'PT1H', 'PT6H', 'PT12H', 'P1D'];
const METRIC_NAMES = new Set<string>(FLEXIBLE_SERVER_METRICS);

function durationMinutes(iso: string): number {
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$/.exec(iso);
  if (!m) return NaN;
  return Number(m[1] ?? 0) * 1440 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}

/** Swagger checks of the criteria subtype and of each criterion, which ajv cannot pick by discriminator. */
function validateCriteriaShape(ctx: EmulatorContext, criteria: Json): void {
  const odataType = criteria['odata.type'];
  const def = odataType === SINGLE ? 'MetricAlertSingleResourceMultipleMetricCriteria' : odataType === MULTIPLE ? 'MetricAlertMultipleResourceMultipleMetricCriteria' : undefined;
  if (!def) {
    throw badRequest('BadRequest', `Criteria of type '${String(odataType)}' are not supported for resource type '${FLEXIBLE_SERVER_TYPE}'.`, 'properties.criteria');
  }
  ctx.specs.assertRequestBody(schema('metricAlerts', def), criteria);
  const items = criteria.allOf;
  if (!Array.isArray(items) || items.length === 0) throw badRequest('BadRequest', 'The criteria must contain at least one metric criterion.', 'properties.criteria.allOf');
  for (const item of items as Json[]) {
    const kind = item.criterionType;
    const itemDef = kind === 'StaticThresholdCriterion' ? 'MetricCriteria' : kind === 'DynamicThresholdCriterion' ? 'DynamicMetricCriteria' : undefined;
    if (!itemDef) throw badRequest('BadRequest', `Unknown criterionType '${String(kind)}'.`, 'properties.criteria.allOf.criterionType');
    ctx.specs.assertRequestBody(schema('metricAlerts', itemDef), item);
  }
}

function validateMetrics(criteria: Json): void {
  for (const item of criteria.allOf as Json[]) {
    const metricName = String(item.metricName);
    const namespace = item.metricNamespace;
    if (namespace !== undefined && String(namespace).toLowerCase() !== FLEXIBLE_SERVER_TYPE.toLowerCase()) {
      throw badRequest('BadRequest', `The metric namespace '${String(namespace)}' is not valid for resource type '${FLEXIBLE_SERVER_TYPE}'.`, 'properties.criteria');
    }
    if (item.skipMetricValidation === true) continue;
    if (!METRIC_NAMES.has(metricName)) {
      throw badRequest('BadRequest', `Couldn't find a metric named ${metricName}. Make sure the name is correct. Available metrics: ${[...METRIC_NAMES].join(',')}`, 'properties.criteria');
    }
    const dimension = metricDefinition(metricName)?.dimension;
    for (const d of (item.dimensions ?? []) as Json[]) {
      if (String(d.name) !== dimension) {
        throw badRequest('BadRequest', `Metric '${metricName}' has no dimension '${String(d.name)}'.`, 'properties.criteria');
      }
    }
  }
}

function validateAlert(ctx: EmulatorContext, props: Json): void {
  const severity = props.severity as number;
  if (!Number.isInteger(severity) || severity < 0 || severity > 4) throw badRequest('BadRequest', 'Severity must be one of 0, 1, 2, 3, 4.', 'properties.severity');
  const frequency = String(props.evaluationFrequency);
  if (!FREQUENCIES.includes(frequency)) {
    throw badRequest('BadRequest', `Evaluation frequency '${frequency}' is not supported. Supported values: ${FREQUENCIES.join(', ')}.`, 'properties.evaluationFrequency');
  }
  if (props.windowSize !== undefined) {
    const window = String(props.windowSize);
    if (!WINDOWS.includes(window)) throw badRequest('BadRequest', `Window size '${window}' is not supported. Supported values: ${WINDOWS.join(', ')}.`, 'properties.windowSize');
    if (durationMinutes(window) < durationMinutes(frequency)) {
      throw badRequest('BadRequest', 'Window size must be greater than or equal to evaluation frequency.', 'properties.windowSize');
    }
  }
  const scopes = props.scopes as string[];
  if (!Array.isArray(scopes) || scopes.length === 0) throw badRequest('BadRequest', 'At least one scope must be specified.', 'properties.scopes');
  for (const scope of scopes) {
    const server = parseServerId(scope);
    if (!server) throw new ArmError(404, 'ResourceNotFound', `The scope '${scope}' does not reference an existing resource.`, 'properties.scopes');
    requireServer(ctx, server.subscriptionId, server.resourceGroupName, server.serverName);
  }
  const criteria = props.criteria as Json;
  validateCriteriaShape(ctx, criteria);
  if (criteria['odata.type'] === SINGLE && scopes.length !== 1) {
    throw badRequest('BadRequest', 'Alerts with SingleResourceMultipleMetricCriteria must have exactly one scope.', 'properties.scopes');
  }
  if (criteria['odata.type'] === MULTIPLE && (!props.targetResourceType || !props.targetResourceRegion)) {
    throw badRequest('BadRequest', 'targetResourceType and targetResourceRegion are required for MultipleResourceMultipleMetricCriteria.', 'properties.targetResourceType');
  }
  if (props.targetResourceType !== undefined && String(props.targetResourceType).toLowerCase() !== FLEXIBLE_SERVER_TYPE.toLowerCase()) {
    throw badRequest('BadRequest', `targetResourceType '${String(props.targetResourceType)}' does not match the scopes.`, 'properties.targetResourceType');
  }
  validateMetrics(criteria);
}

function present(id: string, name: string, doc: Json): Json {
  return { id, name, type: TYPE, ...doc };
}

const RESOURCE: ResourceGroupResource<'ruleName'> = {
  resourceType: TYPE,
  apiVersions: [API_VERSIONS.metricAlerts],
  collection: `providers/${TYPE}`,
  nameParam: 'ruleName',
};

export function registerMetricAlerts(ctx: EmulatorContext): void {
  const store = (req: ArmRequest, resource: Json, previous: Json | undefined): Json => {
    const { id, name } = itemRef(RESOURCE, req);
    const props = { ...(resource.properties as Json) };
    validateAlert(ctx, props);
    props.autoMitigate ??= true;
    props.lastUpdatedTime = new Date().toISOString();
    props.isMigrated = false;
    const doc = present(id, (previous?.name as string | undefined) ?? name, {
      location: resource.location,
      tags: resource.tags ?? {},
      ...(resource.identity ? { identity: resource.identity } : {}),
      properties: props,
      systemData: systemData(req, previous),
    });
    return ctx.store.put(id, doc);
  };

  ctx.router.add({
    apiVersions: RESOURCE.apiVersions,
    resourceType: RESOURCE.resourceType,
    method: 'PUT',
    path: itemPath(RESOURCE),
    requestSchema: schema('metricAlerts', 'MetricAlertResource'),
    handler: (req): ArmResponse => {
      const { subscriptionId, resourceGroupName, id } = itemRef(RESOURCE, req);
      ctx.requireResourceGroup(subscriptionId, resourceGroupName);
      const body = withoutReadOnly(bodyObject(req));
      const previous = ctx.store.get(id);
      if (previous && String(previous.location).toLowerCase() !== String(body.location).toLowerCase()) {
        throw badRequest('LocationNotAvailableForResourceType', 'The location of an existing metric alert cannot be changed.', 'location');
      }
      // The service answers 200 for creates too (the swagger also lists 201, which @azure/arm-monitor
      // 8.0.0 does not accept for this operation).
      return { status: 200, body: store(req, body, previous) };
    },
  });

  registerResourceGroupRoutes(ctx, RESOURCE, schema('metricAlerts', 'MetricAlertResourcePatch'), store);
}
