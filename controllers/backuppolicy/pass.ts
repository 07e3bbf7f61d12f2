// What one pass of a BackupPolicy works with: the policy, its server, the clients, and what the steps
// gather for the status write and the requeue.
import type { BackupPolicySpec, BackupPolicyStatus } from '../../src/api/backuppolicy.js';
import type { ArmScope } from '../../src/azure/arm/index.js';
import type { AzureClients } from '../../src/azure/clients.js';
import type { AzureServerRef } from '../../src/tenantdatabase/index.js';
import type { Condition } from '../../src/runtime/conditions.js';
import type { SpecContext } from '../../src/runtime/reconcile-kit.js';
import type { ControllerSettings } from '../../src/settings.js';

export type PolicyContext = SpecContext<BackupPolicySpec, BackupPolicyStatus>;
export type DrillRecord = NonNullable<BackupPolicyStatus['lastDrill']>;
export type BackupRecord = NonNullable<BackupPolicyStatus['lastBackup']>;

export const RESYNC_MS = 10 * 60_000;
export const POLL_MS = 5_000;

export interface PolicyPass {
  ctx: PolicyContext;
  settings: ControllerSettings;
  server: AzureServerRef;
  clients: AzureClients;
  scope: ArmScope;
  now: Date;
  /** Status fields to write besides the conditions (null removes one). */
  extra: Record<string, unknown>;
  /** Conditions besides Ready/Reconciling/Stalled (DrillPassed). */
  conditions: Condition[] | undefined;
  /** Candidate requeue delays; the pass requeues after the shortest. */
  requeues: number[];
  /** Set by the retention step. */
  retention?: { pending: boolean; geoRedundant: boolean; serverState: string | undefined };
  /** The drill as the drill step left it. */
  drill?: DrillRecord;
}

export function annotation(ctx: PolicyContext, key: string): string | undefined {
  return (ctx.obj.metadata.annotations as Record<string, string> | undefined)?.[key];
}

/** Metric labels of a policy. */
export const labelsOf = (ctx: PolicyContext) => ({ namespace: ctx.obj.metadata.namespace ?? '', policy: ctx.name });
