// Pure composition of the tenancy part's outcome: its condition, its status block and when to look again,
// from what the RLS sync, partition maintenance and the audit found. Kept apart from I/O so the rules
// (what blocks TenancyReady, what only gets reported) are tested on their own.
import type { Finding } from '../../../src/postgres/tenancy/audit.js';
import type { MaintenanceResult } from '../../../src/postgres/tenancy/partition-maintenance.js';
import type { TenancySyncResult } from '../../../src/postgres/tenancy/rls.js';
import type { PartitionStatus, TenancyStatus } from '../../../src/api/tenantdatabase.js';
import type { PartCondition } from '../context.js';

export const CONDITION = 'TenancyReady';
/** Drift (a dropped policy, RLS switched off) is looked for at least this often. */
export const DRIFT_RECHECK_MS = 10 * 60_000;
/** A busy table is tried again after this long. */
export const BUSY_RETRY_MS = 30_000;
const LIST_MAX = 50;

export interface PartitionEntryInput {
  schema: string;
  table: string;
  interval: string;
  result?: MaintenanceResult;
  error?: string;
}

export type { PartitionStatus, TenancyStatus };

const clean = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

/**
 * The status block. Every field is always present (empty lists as []): status is written as a merge patch,
 * where a nested field left out would stay behind from the last write; arrays are replaced whole.
 */
export function tenancyStatus(sync: TenancySyncResult | undefined, findings: Finding[] | undefined): Required<TenancyStatus> | null {
  if (!sync) return null;
  const p = sync.plan;
  const cap = <T>(xs: T[]): T[] => xs.slice(0, LIST_MAX);
  return {
    tablesCovered: p.coveredTables.length,
    partitionsCovered: p.covered - p.coveredTables.length,
    missingTables: cap(p.missingTables),
    tablesWithoutTenantColumn: cap(p.withoutTenantColumn),
    unmanaged: cap(p.unmanageable),
    foreignPolicies: cap(p.foreignPolicies.map((f) => ({ table: f.table, policy: f.policy }))),
    auditFindings: cap(findings ?? []),
    auditFindingsTotal: findings?.length ?? 0,
  };
}

/** What one maintenance did, in words; undefined when it changed nothing. */
export function describeMaintenance(r: MaintenanceResult): string | undefined {
  const parts: string[] = [];
  if (r.created.length) parts.push(`created ${r.created.join(', ')}`);
  if (r.rowsMoved) parts.push(`moved ${r.rowsMoved} row(s) out of the default partition`);
  if (r.detached.length) parts.push(`detached ${r.detached.join(', ')}`);
  if (r.dropped.length) parts.push(`dropped ${r.dropped.join(', ')}`);
  if (r.busy.length) parts.push(`delayed (table busy): ${r.busy.join(', ')}`);
  if (!parts.length) return undefined;
  return parts.join('; ').slice(0, 1024);
}

export function partitionStatus(entries: PartitionEntryInput[], previous: PartitionStatus[] | undefined, now: Date): PartitionStatus[] | null {
  if (entries.length === 0) return null;
  return entries.map((e) => {
    const prev = previous?.find((p) => p.schema === e.schema && p.table === e.table);
    const plan = e.result?.plan;
    const did = e.result ? describeMaintenance(e.result) : undefined;
    return clean({
      schema: e.schema,
      table: e.table,
      interval: e.interval,
      partitions: e.result?.plan ? e.result.attached : prev?.partitions,
      nextMaintenanceDue: plan ? plan.nextDue.toISOString().replace(/\.\d{3}Z$/, 'Z') : undefined,
      problem: e.error ?? e.result?.problem ?? (plan?.conflicts.length ? `ranges not created: ${plan.conflicts.join('; ')}`.slice(0, 1024) : undefined),
      // Only a maintenance that changed something moves the time: a converged pass writes nothing.
      lastMaintenance: did ? { time: now.toISOString().replace(/\.\d{3}Z$/, 'Z'), result: did } : prev?.lastMaintenance,
    });
  });
}

export interface ConditionInput {
  sync?: TenancySyncResult | undefined;
  partitions: PartitionEntryInput[];
  findings?: Finding[] | undefined;
}

/**
 * TenancyReady. Blocking (not Ready): roles missing, a listed table without the tenant column, a table the
 * operator cannot change, a partitioning entry that cannot be maintained, a busy table (retried).
 * Not blocking, reported: listed tables that do not exist yet (a Migration, which waits for Ready, creates
 * them; the Migration's progress brings this object back and they are covered in that pass), foreign
 * policies and audit findings (holes in user objects the operator does not rewrite).
 */
export function tenancyCondition(input: ConditionInput): PartCondition {
  const s = input.sync;
  const no = (reason: string, message: string, stalled: boolean): PartCondition => ({ type: CONDITION, ok: false, reason, message: message.slice(0, 2000), stalled });
  if (s?.missingRoles.length) return no('RolesMissing', `role(s) ${s.missingRoles.join(', ')} do not exist in the server; the database part creates them`, false);
  if (s?.plan.withoutTenantColumn.length) {
    return no('TenantColumnMissing', `listed table(s) without the tenant column (not isolated, not guessed at): ${s.plan.withoutTenantColumn.join(', ')}; add the column or remove them from spec.tenancy.tables`, true);
  }
  if (s?.plan.unmanageable.length) return no('TablesNotManageable', `row-level security cannot be set on: ${s.plan.unmanageable.join('; ')}`, true);
  if (s?.apply.busy.length) return no('TablesBusy', `tables stayed locked, row-level security is retried shortly: ${s.apply.busy.slice(0, 10).join(', ')}`, false);
  const broken = input.partitions.filter((p) => p.error !== undefined || (p.result?.problem !== undefined && !/does not exist/.test(p.result.problem)));
  if (broken.length) return no('PartitioningInvalid', broken.map((p) => `${p.schema}.${p.table}: ${p.error ?? p.result?.problem}`).join('; '), true);
  const conflicts = input.partitions.filter((p) => p.result?.plan?.conflicts.length);
  if (conflicts.length) return no('PartitionConflict', conflicts.map((p) => `${p.schema}.${p.table}: ${p.result!.plan!.conflicts.join('; ')}`).join('; '), true);
  const busy = input.partitions.filter((p) => p.result?.busy.length);
  if (busy.length) return no('PartitionMaintenanceDelayed', `tables stayed locked, maintenance is retried shortly: ${busy.map((p) => `${p.schema}.${p.table}`).join(', ')}`, false);

  const notes: string[] = [];
  if (s) notes.push(`row-level security on ${s.plan.coveredTables.length} table(s) and ${s.plan.covered - s.plan.coveredTables.length} partition(s)`);
  const pending = [...(s?.plan.missingTables ?? []), ...input.partitions.filter((p) => p.result?.problem).map((p) => `${p.schema}.${p.table}`)];
  if (pending.length) notes.push(`waiting for table(s) to be created: ${[...new Set(pending)].join(', ')}`);
  if (input.partitions.length) notes.push(`partitions maintained on ${input.partitions.length - input.partitions.filter((p) => p.result?.problem).length} table(s)`);
  if (input.findings?.length) notes.push(`${input.findings.length} isolation audit finding(s), see status.tenancy.auditFindings`);
  return { type: CONDITION, ok: true, reason: pending.length ? 'TablesPending' : 'Synced', message: notes.join('; ').slice(0, 2000) };
}

/** When to look again: before the next partition boundary, and at most DRIFT_RECHECK_MS from now. */
export function nextLook(partitions: PartitionEntryInput[], now: Date, rlsBusy = false): number {
  let ms = rlsBusy ? BUSY_RETRY_MS : DRIFT_RECHECK_MS;
  for (const p of partitions) {
    if (p.result?.busy.length) ms = Math.min(ms, BUSY_RETRY_MS);
    const due = p.result?.plan?.nextDue;
    if (due) ms = Math.min(ms, Math.max(1000, due.getTime() - now.getTime()));
  }
  return ms;
}

/** A stable key of the findings, to tell whether they changed since the last status. */
export function findingsKey(f: Array<{ kind: string; object: string }> | undefined): string {
  return (f ?? []).map((x) => `${x.kind}:${x.object}`).sort().join('\n');
}
