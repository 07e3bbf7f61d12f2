// What a run has to do, from the history in the database and the steps the Migration knows: Flyway's
// validate (checksums, applied steps that vanished), baseline, outOfOrder and target, golang-migrate's
// dirty state, and down scripts to a lower target. Pure, so the controller can show what is pending
// (and why nothing may run) from a read of the history alone, and the runner re-plans under the lock.
import { compareVersions } from '../api/migration.js';
import type { Step } from './steps.js';

export interface HistoryRow {
  version: string;
  name: string;
  /** SHA-256 of the up script as applied; null for the baseline row. */
  checksum: string | null;
  type: 'up' | 'baseline';
  state: 'success' | 'dirty';
  startedAt: Date;
  appliedAt: Date | null;
  executionMs: number | null;
  appliedBy: string;
}

export interface Resolve {
  version: string;
  as: 'applied' | 'reverted';
}

export interface PlanOptions {
  targetVersion?: string | undefined;
  allowDown: boolean;
  baselineVersion?: string | undefined;
  outOfOrder: boolean;
  /** Accept the current checksums of applied steps (and forget applied steps no source has any more). */
  repair: boolean;
  resolve?: Resolve | undefined;
}

export type Action =
  | { type: 'resolve'; version: string; as: Resolve['as'] }
  | { type: 'repair'; version: string; name: string; checksum: string }
  | { type: 'forget'; version: string }
  | { type: 'baseline'; version: string }
  | { type: 'down'; step: Step }
  | { type: 'up'; step: Step };

export type StallReason = 'Dirty' | 'ChecksumMismatch' | 'AppliedStepMissing' | 'OutOfOrder' | 'DownNotAllowed' | 'MissingDownScript' | 'BelowBaseline';

export type Plan =
  | {
      ok: true;
      actions: Action[];
      /** Versions still to apply (up) or revert (down), in run order. */
      pending: string[];
      /** Highest version in effect now (applied or baseline). */
      appliedVersion: string | undefined;
      /** What the database will be at when the actions are done. */
      targetVersion: string | undefined;
    }
  | { ok: false; reason: StallReason; message: string; appliedVersion: string | undefined };

const max = (vs: readonly string[]): string | undefined => vs.reduce<string | undefined>((m, v) => (m === undefined || compareVersions(v, m) > 0 ? v : m), undefined);
const same = (a: string, b: string) => compareVersions(a, b) === 0;
const list = (vs: readonly string[]) => (vs.length > 5 ? `${vs.slice(0, 5).join(', ')} and ${vs.length - 5} more` : vs.join(', '));

export function appliedVersionOf(history: readonly HistoryRow[]): string | undefined {
  return max(history.filter((r) => r.state === 'success').map((r) => r.version));
}

export function planMigration(history: readonly HistoryRow[], steps: readonly Step[], opts: PlanOptions): Plan {
  const actions: Action[] = [];
  let rows = history.map((r) => ({ ...r }));

  // golang-migrate's force: the person says what a half-run step left behind.
  if (opts.resolve) {
    const r = rows.find((x) => x.state === 'dirty' && same(x.version, opts.resolve!.version));
    if (r) {
      actions.push({ type: 'resolve', version: r.version, as: opts.resolve.as });
      if (opts.resolve.as === 'applied') r.state = 'success';
      else rows = rows.filter((x) => x !== r);
    }
  }
  const stall = (reason: StallReason, message: string): Plan => ({ ok: false, reason, message, appliedVersion: appliedVersionOf(rows) });

  const dirty = rows.filter((r) => r.state === 'dirty');
  if (dirty.length > 0) {
    const v = (dirty[0] as HistoryRow).version;
    return stall(
      'Dirty',
      `step ${v} is dirty: a non-transactional step stopped part-way, so the database may hold part of it; check it, then set the annotation tenantdb.io/resolve: "${v}=applied" (it is complete) or "${v}=reverted" (nothing of it is left)`,
    );
  }

  // Flyway's validate: what was applied must still be what the sources say.
  const byVersion = new Map(steps.map((s) => [BigInt(s.version).toString(), s]));
  const find = (v: string) => byVersion.get(BigInt(v).toString());
  const mismatched: string[] = [];
  const missing: string[] = [];
  for (const r of rows) {
    if (r.type !== 'up') continue;
    const s = find(r.version);
    if (!s) missing.push(r.version);
    else if (r.checksum !== s.checksum) mismatched.push(r.version);
  }
  if (mismatched.length > 0 && !opts.repair) {
    return stall(
      'ChecksumMismatch',
      `the up script of applied step ${list(mismatched)} changed since it was applied; restore it, or accept the new script by setting the annotation tenantdb.io/repair to a new value`,
    );
  }
  if (missing.length > 0 && !opts.repair) {
    return stall(
      'AppliedStepMissing',
      `step ${list(missing)} is recorded as applied but no source defines it any more; restore it, or set the annotation tenantdb.io/repair to a new value to forget it in the history`,
    );
  }
  for (const v of mismatched) {
    const s = find(v) as Step;
    actions.push({ type: 'repair', version: v, name: s.name, checksum: s.checksum });
  }
  for (const v of missing) actions.push({ type: 'forget', version: v });
  rows = rows.filter((r) => !missing.includes(r.version));

  let baseline = rows.find((r) => r.type === 'baseline')?.version;
  if (rows.length === 0 && opts.baselineVersion !== undefined) {
    baseline = opts.baselineVersion;
    actions.push({ type: 'baseline', version: baseline });
  }
  const applied = rows.filter((r) => r.type === 'up').map((r) => r.version);
  const appliedVersion = max([...applied, ...(baseline !== undefined ? [baseline] : [])]);

  const latest = max(steps.map((s) => s.version));
  const target = opts.targetVersion ?? latest;
  if (target === undefined) return { ok: true, actions, pending: [], appliedVersion, targetVersion: appliedVersion };

  if (baseline !== undefined && compareVersions(target, baseline) < 0) {
    return stall('BelowBaseline', `targetVersion ${target} is below the baseline ${baseline}; steps at or below a baseline were never run by the operator and cannot be reverted`);
  }

  // Down to the target: every applied step above it, newest first, and only when each has a down script.
  const above = applied.filter((v) => compareVersions(v, target) > 0).sort((a, b) => compareVersions(b, a));
  if (above.length > 0) {
    if (!opts.allowDown) {
      return stall('DownNotAllowed', `targetVersion ${target} is below the applied version ${appliedVersion}; set allowDown: true to run the down scripts of ${list(above)}`);
    }
    const noDown = above.filter((v) => find(v)?.down === undefined);
    if (noDown.length > 0) return stall('MissingDownScript', `step ${list(noDown)} has no down script, so the database cannot go down to ${target}; nothing was run`);
    for (const v of above) actions.push({ type: 'down', step: find(v) as Step });
  }

  const remaining = applied.filter((v) => !above.includes(v));
  const highest = max(remaining);
  const todo = steps.filter(
    (s) =>
      compareVersions(s.version, target) <= 0 &&
      (baseline === undefined || compareVersions(s.version, baseline) > 0) &&
      !remaining.some((v) => same(v, s.version)),
  );
  const late = todo.filter((s) => highest !== undefined && compareVersions(s.version, highest) < 0).map((s) => s.version);
  if (late.length > 0 && !opts.outOfOrder) {
    return stall('OutOfOrder', `step ${list(late)} is older than the applied version ${highest} and was never applied; set outOfOrder: true to apply it anyway`);
  }
  for (const s of todo) actions.push({ type: 'up', step: s });
  const pending = actions.flatMap((a) => (a.type === 'up' || a.type === 'down' ? [a.step.version] : []));
  return { ok: true, actions, pending, appliedVersion, targetVersion: above.length > 0 || todo.length > 0 ? target : appliedVersion };
}
