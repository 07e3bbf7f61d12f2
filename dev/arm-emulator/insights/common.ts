// Shared pieces of the emulated Microsoft.Insights provider: api-versions the pinned @azure/arm-monitor
// sends, the swagger files they are defined in, resource ids and the envelope every resource carries.
import { ArmError } from '../framework/errors.js';
import type { EmulatorContext } from '../framework/context.js';
import type { Json } from '../framework/store.js';
import type { ArmRequest, SchemaRef } from '../framework/types.js';

export const INSIGHTS = 'Microsoft.Insights';

// @azure/arm-monitor 8.0.0 pins one api-version per operation group.
export const API_VERSIONS = {
  metricAlerts: '2026-01-01',
  actionGroups: '2024-10-01-preview',
  diagnosticSettings: '2021-05-01-preview',
} as const;

const MONITOR_DIR = 'specification/monitor/resource-manager/Microsoft.Insights/Insights';
export const SPEC_FILES = {
  metricAlerts: `${MONITOR_DIR}/stable/2026-01-01/metricAlert.json`,
  actionGroups: `${MONITOR_DIR}/preview/2024-10-01-preview/actionGroups.json`,
  diagnosticSettings: `${MONITOR_DIR}/preview/2021-05-01-preview/openapi.json`,
} as const;

export function schema(group: keyof typeof SPEC_FILES, definition: string): SchemaRef {
  return { file: SPEC_FILES[group], definition };
}

export const RG_PATH = '/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}';
export const SERVER_PATH = `${RG_PATH}/providers/Microsoft.DBforPostgreSQL/flexibleServers/{serverName}`;
export const FLEXIBLE_SERVER_TYPE = 'Microsoft.DBforPostgreSQL/flexibleServers';

export function rgId(subscriptionId: string, resourceGroupName: string): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroupName}`;
}

export function serverId(subscriptionId: string, resourceGroupName: string, serverName: string): string {
  return `${rgId(subscriptionId, resourceGroupName)}/providers/${FLEXIBLE_SERVER_TYPE}/${serverName}`;
}

const SERVER_ID = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.DBforPostgreSQL\/flexibleServers\/([^/]+)\/?$/i;

/** Parses a flexible server resource id; undefined for any other resource type. */
export function parseServerId(id: string): { subscriptionId: string; resourceGroupName: string; serverName: string } | undefined {
  const m = SERVER_ID.exec(id);
  return m ? { subscriptionId: m[1]!, resourceGroupName: m[2]!, serverName: m[3]! } : undefined;
}

/** The stored flexible server, or ARM's 404 for it. */
export function requireServer(ctx: EmulatorContext, subscriptionId: string, resourceGroupName: string, serverName: string): Json {
  ctx.requireResourceGroup(subscriptionId, resourceGroupName);
  const server = ctx.store.get(serverId(subscriptionId, resourceGroupName, serverName));
  if (!server) {
    throw new ArmError(
      404,
      'ResourceNotFound',
      `The Resource '${FLEXIBLE_SERVER_TYPE}/${serverName}' under resource group '${resourceGroupName}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
    );
  }
  return server;
}

export function bodyObject(req: ArmRequest): Json {
  if (!req.body || typeof req.body !== 'object' || Array.isArray(req.body)) {
    throw new ArmError(400, 'InvalidRequestContent', 'The request content was invalid and could not be deserialized: the body must be a JSON object.');
  }
  return req.body as Json;
}

/** systemData for a create or an update; creation fields survive updates. */
export function systemData(req: ArmRequest, previous: Json | undefined): Json {
  const now = new Date().toISOString();
  const before = (previous?.systemData ?? {}) as Json;
  return {
    createdBy: before.createdBy ?? req.principal,
    createdByType: before.createdByType ?? 'Application',
    createdAt: before.createdAt ?? now,
    lastModifiedBy: req.principal,
    lastModifiedByType: 'Application',
    lastModifiedAt: now,
  };
}

/** Read-only properties are ignored on input, as ARM does; this drops them before storing. */
export function withoutReadOnly(doc: Json): Json {
  const { id: _id, name: _name, type: _type, systemData: _sd, ...rest } = doc;
  return rest;
}

export function notFound(type: string, name: string, resourceGroupName: string): ArmError {
  return new ArmError(
    404,
    'ResourceNotFound',
    `The Resource '${type}/${name}' under resource group '${resourceGroupName}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
  );
}

export function badRequest(code: string, message: string, target?: string): ArmError {
  return new ArmError(400, code, message, target);
}

/** Named route parameters; a missing one is a bug in the route table, not a client error. */
export function routeParams<K extends string>(req: ArmRequest, ...names: K[]): Record<K, string> {
  const out = {} as Record<K, string>;
  for (const n of names) {
    const v = req.params[n];
    if (v === undefined) throw new Error(`route for ${req.path} has no {${n}}`);
    out[n] = v;
  }
  return out;
}
