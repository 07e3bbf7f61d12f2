// The tenancy part: row-level security on every tenant table and every partition of it, partition
// maintenance by time range, and the isolation audit, all inside spec.database.name over the server
// admin's connection (DDL runs as the tables' owner). Each step reads the catalog, diffs and applies only
// the differences, so a converged database costs catalog reads and no DDL, and the status it reports
// changes only when something did. Order: RLS sync first (existing tables and partitions, so the owner's
// policy is in place before rows are moved between partitions), then partition maintenance (new partitions
// get their policies in the transaction that creates them), then the audit.
import type { ClientBase } from 'pg';
import type { PartitioningSpec } from '../../../src/api/tenantdatabase.js';
import { classifyFailure } from '../../../src/postgres/classify.js';
import { postgresConnections } from '../../../src/postgres/connections.js';
import { auditIsolation, type Finding } from '../../../src/postgres/tenancy/audit.js';
import { maintainPartitions } from '../../../src/postgres/tenancy/partition-maintenance.js';
import type { TenancyRules } from '../../../src/postgres/tenancy/policies.js';
import { syncTenancy, type TenancyInput, type TenancySyncResult } from '../../../src/postgres/tenancy/rls.js';
import { tenancyInputOf } from '../../../src/tenantdatabase/tenancy.js';
import { databaseTarget, type DatabasePart, type PartOutcome, type ServerConnection, type TenantDatabaseContext } from '../context.js';
import {
  CONDITION,
  findingsKey,
  nextLook,
  partitionStatus,
  tenancyCondition,
  tenancyStatus,
  type PartitionEntryInput,
} from './outcome.js';

const STALLED_RECHECK_MS = 5 * 60_000;

/** Lock waits of the operator's DDL: short, retried, so the application never queues behind it for long. */
export const TENANCY_LOCKS = { rlsLockTimeoutMs: 2000, rlsAttempts: 3, partitionLockTimeoutMs: 1000, partitionAttempts: 4, backoffMs: 250, passBudgetMs: 20_000 };

/** The spec's tenancy as the RLS sync takes it (shared with the Migration runner, src/tenantdatabase/tenancy.ts). */
export function tenancyInput(ctx: TenantDatabaseContext): TenancyInput | undefined {
  return tenancyInputOf(ctx.spec);
}

interface PassResult {
  sync?: TenancySyncResult;
  partitions: PartitionEntryInput[];
  findings?: Finding[];
}

/** One pass over the database on one connection. */
export async function runTenancyPass(client: ClientBase, input: TenancyInput | undefined, partitioning: readonly PartitioningSpec[] | undefined, now = new Date()): Promise<PassResult> {
  const out: PassResult = { partitions: [] };
  if (input) {
    out.sync = await syncTenancy(client, input, { lockTimeoutMs: TENANCY_LOCKS.rlsLockTimeoutMs, attempts: TENANCY_LOCKS.rlsAttempts });
    if (out.sync.missingRoles.length) return out;
  }
  const covered = new Set(out.sync?.plan.coveredTables ?? []);
  const rules: TenancyRules | undefined = input ? { roles: input.roles, tenantColumn: input.tenantColumn, tenantSetting: input.tenantSetting } : undefined;
  let created = false;
  // Lock waits of the whole pass are bounded: past the budget a busy table is left for the next pass.
  const deadline = Date.now() + TENANCY_LOCKS.passBudgetMs;
  for (const p of partitioning ?? []) {
    const entry: PartitionEntryInput = { schema: p.schema, table: p.table, interval: p.interval };
    try {
      entry.result = await maintainPartitions(client, p, {
        now,
        lockTimeoutMs: TENANCY_LOCKS.partitionLockTimeoutMs,
        attempts: TENANCY_LOCKS.partitionAttempts,
        backoffMs: TENANCY_LOCKS.backoffMs,
        deadline,
        // New partitions of a tenant table get its policies in the transaction that creates them.
        tenancy: rules && covered.has(`${p.schema}.${p.table}`) ? rules : undefined,
      });
      if (entry.result.created.length) created = true;
    } catch (err) {
      const f = classifyFailure(err);
      if (f.transient) throw err;
      entry.error = f.message;
    }
    out.partitions.push(entry);
  }
  if (input) {
    // The counts in status include what maintenance just created (a catalog read, no DDL when in shape).
    if (created) out.sync = await syncTenancy(client, input, { lockTimeoutMs: TENANCY_LOCKS.rlsLockTimeoutMs, attempts: TENANCY_LOCKS.rlsAttempts });
    out.findings = await auditIsolation(client, { tenantOids: out.sync!.plan.oids, tenantColumn: input.tenantColumn, roles: input.roles, ownedByRestricted: out.sync!.plan.ownedByRestricted });
  }
  return out;
}

async function reconcile(ctx: TenantDatabaseContext, conn: ServerConnection): Promise<PartOutcome> {
  const input = tenancyInput(ctx);
  const conns = postgresConnections(ctx.settings.postgres);
  const now = new Date();
  let pass: PassResult;
  try {
    pass = await conns.withClient(databaseTarget(conn, ctx.spec.database.name), (client) => runTenancyPass(client, input, ctx.spec.partitioning, now));
  } catch (err) {
    const f = classifyFailure(err);
    const condition = { type: CONDITION, ok: false, reason: f.kind === 'privilege' ? 'InsufficientPrivilege' : f.transient ? 'ConnectionFailed' : 'TenancySyncFailed', message: f.message, stalled: !f.transient };
    return f.transient ? { condition, retry: true } : { condition, requeueAfterMs: STALLED_RECHECK_MS };
  }

  const previous = ctx.status;
  const tenancy = tenancyStatus(pass.sync, pass.findings);
  const partitions = partitionStatus(pass.partitions, previous.partitions, now);
  const condition = tenancyCondition(pass);

  // Events only for changes: new or resolved audit findings, repaired drift, partitions made or retired.
  if (pass.findings && findingsKey(pass.findings) !== findingsKey(previous.tenancy?.auditFindings)) {
    const n = pass.findings.length;
    await ctx.event(n ? 'Warning' : 'Normal', 'IsolationAuditChanged', n ? `${n} isolation audit finding(s): ${pass.findings.slice(0, 5).map((f) => `${f.kind} ${f.object}`).join('; ')}` : 'isolation audit: no findings');
  }
  const changed = pass.sync?.apply.changed ?? [];
  if (changed.length && previous.tenancy !== undefined) {
    await ctx.event('Normal', 'RowSecuritySynced', `row-level security set on ${changed.length} relation(s): ${changed.slice(0, 10).join(', ')}${changed.length > 10 ? ', ...' : ''}`);
  }
  for (const p of partitions ?? []) {
    const before = previous.partitions?.find((x) => x.schema === p.schema && x.table === p.table);
    if (p.lastMaintenance?.time && p.lastMaintenance.time !== before?.lastMaintenance?.time) await ctx.event('Normal', 'PartitionsMaintained', `${p.schema}.${p.table}: ${p.lastMaintenance.result}`);
  }

  const requeueAfterMs = condition.ok || !condition.stalled ? nextLook(pass.partitions, now, (pass.sync?.apply.busy.length ?? 0) > 0) : STALLED_RECHECK_MS;
  return { condition, status: { tenancy, partitions }, requeueAfterMs };
}

export const tenancyPart: DatabasePart = {
  name: 'tenancy',
  applies: (spec) => spec.tenancy !== undefined || (spec.partitioning ?? []).length > 0,
  reconcile,
  // Nothing to undo on deletion: policies and partitions belong to the database, which the database part
  // keeps or drops according to spec.deletionPolicy.
};
