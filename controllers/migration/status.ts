// The Migration's status from what each database's evaluation found: per-database progress, the
// overall versions, and Ready/Reconciling/Stalled. Pure, so it is unit-tested without a cluster.
import { compareVersions, type MigrationStatus } from '../../src/api/migration.js';
import type { HistoryRow } from '../../src/migrations/plan.js';
import type { SourceFormat } from '../../src/migrations/steps.js';
import { metaTime, type Health } from '../../src/runtime/conditions.js';

export type DatabaseProgress = NonNullable<MigrationStatus['databases']>[number];
export type DatabaseFailure = NonNullable<DatabaseProgress['failure']>;

/** Drops undefined fields (deeply), so a status computed twice compares equal to what is stored. */
export function clean<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

export function lowestVersion(versions: ReadonlyArray<string | undefined>): string | undefined {
  if (versions.length === 0 || versions.some((v) => v === undefined)) return undefined;
  return (versions as string[]).reduce((m, v) => (compareVersions(v, m) < 0 ? v : m));
}

export function describeFailure(f: DatabaseFailure): string {
  const where = f.line !== undefined ? ` at line ${f.line}` : '';
  const stmt = f.statement ? `: ${f.statement.length > 200 ? `${f.statement.slice(0, 197)}...` : f.statement}` : '';
  const code = f.code ? `${f.code} ` : '';
  const next = f.dirty
    ? `it ran outside a transaction, so it is recorded dirty; check the database and set the annotation tenantdb.io/resolve: "${f.version}=applied" or "${f.version}=reverted"`
    : 'nothing of it was kept; fix the step, or set the annotation tenantdb.io/retry to a new value to run it again';
  return `${f.direction === 'down' ? 'down script of ' : ''}step ${f.version} (${f.name ?? ''}) failed${where}${stmt} -- ${code}${f.message}${f.detail ? ` (${f.detail})` : ''}; ${next}`;
}

/** Overall health: running first (it is still moving), then failures, then waiting, else Ready. */
export function composeHealth(dbs: readonly DatabaseProgress[], selector: boolean, latest: string | undefined): Health {
  if (dbs.length === 0) return { state: 'Reconciling', reason: 'WaitingForDatabase', message: 'no TenantDatabase in this namespace matches spec.databaseSelector' };
  const failed = dbs.filter((d) => d.phase === 'Failed');
  const running = dbs.filter((d) => d.phase === 'Running');
  const prefix = (d: DatabaseProgress) => (selector ? `${d.name}: ` : '');
  const failNote = failed.length > 0 ? `; ${failed.length} failed (${prefix(failed[0] as DatabaseProgress)}${(failed[0] as DatabaseProgress).message ?? ''})` : '';
  if (running.length > 0) {
    const r = running[0] as DatabaseProgress;
    const msg = selector ? `${running.length} of ${dbs.length} databases migrating (${r.name}: ${r.message ?? ''})${failNote}` : (r.message ?? 'migrating');
    return { state: 'Reconciling', reason: r.reason ?? 'Migrating', message: msg.slice(0, 32_000) };
  }
  if (failed.length > 0) {
    const f = failed[0] as DatabaseProgress;
    const msg = selector ? `${failed.length} of ${dbs.length} databases failed; ${f.name}: ${f.message ?? ''}` : (f.message ?? 'failed');
    return { state: 'Stalled', reason: f.reason ?? 'StepFailed', message: msg.slice(0, 32_000) };
  }
  const waiting = dbs.filter((d) => d.phase !== 'Succeeded');
  if (waiting.length > 0) {
    const w = waiting[0] as DatabaseProgress;
    const msg = selector ? `${waiting.length} of ${dbs.length} databases not migrated yet (${w.name}: ${w.message ?? ''})` : (w.message ?? 'pending');
    return { state: 'Reconciling', reason: w.reason ?? 'Pending', message: msg.slice(0, 32_000) };
  }
  const at = lowestVersion(dbs.map((d) => d.appliedVersion));
  const msg = selector ? `${dbs.length} database${dbs.length === 1 ? '' : 's'} migrated (lowest version ${at ?? 'none'}, latest known ${latest ?? 'none'})` : `migrated to version ${at ?? 'none'} (latest known ${latest ?? 'none'})`;
  return { state: 'Ready', reason: 'Migrated', message: msg };
}

/** The history's applied steps as status lists them (the newest 1024). */
function appliedList(history: readonly HistoryRow[]): unknown[] {
  return history
    .filter((h) => h.state === 'success' && h.type !== 'repeatable')
    .map((h) => ({
      version: h.version,
      name: h.name.slice(0, 63),
      ...(h.checksum ? { checksum: h.checksum } : {}),
      ...(h.appliedAt ? { appliedAt: metaTime(h.appliedAt) } : {}),
      ...(h.executionMs !== null ? { executionTimeMs: h.executionMs } : {}),
    }))
    .slice(-1024);
}

/**
 * Status fields beside the conditions: per-database progress and the overall versions. A selector
 * reports the lowest applied version; a databaseRef also lists pending and applied steps. null clears.
 */
export function statusFields(
  dbs: readonly DatabaseProgress[],
  selector: boolean,
  latestVersion: string | undefined,
  history: readonly HistoryRow[] | undefined,
  sources: readonly SourceFormat[] = [],
): Record<string, unknown> {
  const extra: Record<string, unknown> = { latestVersion: latestVersion ?? null, databases: dbs.length > 0 ? dbs : null, sources: sources.length > 0 ? sources : null };
  if (selector) return { ...extra, appliedVersion: lowestVersion(dbs.map((d) => d.appliedVersion)) ?? null, applied: null, pending: null };
  const only = dbs[0] as DatabaseProgress;
  extra.appliedVersion = only.appliedVersion ?? null;
  extra.pending = only.pending && only.phase !== 'Succeeded' ? only.pending : null;
  if (history) {
    const applied = appliedList(history);
    extra.applied = applied.length > 0 ? applied : null;
  }
  return extra;
}
