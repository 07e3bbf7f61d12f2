// What one pass of an AlertRuleSet works with: the set, its server, the clients, what exists in the
// resource group (listed once per pass), and the changes made so far.
import type { ActionGroupResource, MetricAlertResource } from '@azure/arm-monitor';
import type { AlertRuleSetSpec } from '../../src/api/alertruleset.js';
import { classifyArmError } from '../../src/azure/errors.js';
import type { AzureClients } from '../../src/azure/clients.js';
import { OWNER_TAG, type ServerInfo } from './desired.js';

/** A spec that cannot be applied as it stands (a name taken by something not ours). */
export class InputError extends Error {}

export interface AlertPass {
  clients: AzureClients;
  server: ServerInfo;
  spec: AlertRuleSetSpec;
  /** Owner tag value: what carries it is ours to update and delete. */
  owner: string;
  setName: string;
  /** Webhook URIs by group and receiver (they often carry a token: memory and request bodies only). */
  uris: Map<string, string>;
  /** The server has read replicas (the replica-lag alert applies). */
  replicas: boolean;
  groupsNow: ActionGroupResource[];
  alertsNow: MetricAlertResource[];
  /** Names (lower case) the spec keeps. */
  keepGroups: Set<string>;
  keepAlerts: Set<string>;
  changes: string[];
  rules: { name: string; resourceId?: string }[];
  actionGroups: { name: string; resourceId?: string }[];
  diagnosticSettingId: string | undefined;
}

export const isNotFound = (err: unknown) => classifyArmError(err).kind === 'not-found';

export const isOurs = (owner: string, x: { tags?: Record<string, string> } | undefined) => x?.tags?.[OWNER_TAG] === owner;

export function byName<T extends { name?: string }>(xs: T[]): Map<string, T> {
  return new Map(xs.map((x) => [String(x.name).toLowerCase(), x]));
}
