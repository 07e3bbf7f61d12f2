// What a run has to do, from the history in the database and the steps the Migration knows: Flyway's
// validate (checksums, applied steps that vanished), baseline, outOfOrder and target, golang-migrate's
// dirty state, and down scripts to a lower target. Pure, so the controller can show what is pending
// (and why nothing may run) from a read of the history alone, and the runner re-plans under the lock.
import { compareVersions, normalizeVersion, type AdoptableTool } from '../api/migration.js';
import type { Repeatable, Step } from './steps.js';

export interface HistoryRow {
  version: string;
  name: string;
  /** SHA-256 of the up script as applied; null for the baseline row. */
  checksum: string | null;
  /** repeatable: Flyway's repeatable migration, version `R__<description>`, re-run when its checksum changes. */
  type: 'up' | 'baseline' | 'repeatable';
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

/** Prefix of a repeatable's key in the history (its version column), never a version. */
export const REPEATABLE_PREFIX = 'R__';

/** What the tool that migrated the database before recorded (read from its table, never written). */
export interface AdoptedHistory {
  tool: AdoptableTool;
  /** schema.table, for messages. */
  table: string;
  /** golang-migrate keeps only the version it is at: every step up to it was applied. */
  upTo?: string;
  /** Versions applied, each with the tool's checksum where it kept one. */
  applied: Array<{ version: string; checksum?: string }>;
  /** A baseline (Flyway BASELINE, Atlas baseline revision): steps at or below it were never run by the tool. */
  baseline?: string;
  /** Flyway's repeatables as last applied: description (spaces for underscores, as Flyway records it) and checksum. */
  repeatables?: Array<{ description: string; checksum?: string }>;
  /** A dirty or failed entry: the tool stopped part-way; reported, never guessed past. */
  problem?: string;
}

export interface PlanOptions {
  targetVersion?: string | undefined;
  allowDown: boolean;
  baselineVersion?: string | undefined;
  outOfOrder: boolean;
  /** Accept the current checksums of applied steps (and forget applied steps no source has any more). */
  repair: boolean;
  resolve?: Resolve | undefined;
  /** Flyway's repeatable migrations, applied after the versioned ones whenever their checksum changed. */
  repeatables?: readonly Repeatable[] | undefined;
  /** The old tool's history, taken over while this Migration has no history of its own in the database. */
  adopted?: AdoptedHistory | undefined;
}

export type Action =
  | { type: 'resolve'; version: string; as: Resolve['as'] }
  | { type: 'repair'; version: string; name: string; checksum: string }
  | { type: 'forget'; version: string }
  | { type: 'baseline'; version: string }
  | { type: 'adopt'; tool: AdoptableTool; table: string; steps: Step[]; baseline?: string; repeatables: Repeatable[] }
  | { type: 'down'; step: Step }
  | { type: 'up'; step: Step }
  | { type: 'repeat'; repeatable: Repeatable };

export type StallReason =
  | 'Dirty'
  | 'ChecksumMismatch'
  | 'AppliedStepMissing'
  | 'OutOfOrder'
  | 'DownNotAllowed'
  | 'MissingDownScript'
  | 'BelowBaseline'
  | 'AdoptedHistoryDirty'
  | 'AdoptionUnreadable';

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
const same = (a: string, b: string) => (a.startsWith(REPEATABLE_PREFIX) || b.startsWith(REPEATABLE_PREFIX) ? a === b : compareVersions(a, b) === 0);

/** The step of a version, by its normalized spelling (`001` finds `1`): one map, not a scan per lookup. */
function stepFinder(steps: readonly Step[]): (v: string) => Step | undefined {
  const byVersion = new Map(steps.map((s) => [normalizeVersion(s.version), s]));
  return (v) => (v.startsWith(REPEATABLE_PREFIX) ? undefined : byVersion.get(normalizeVersion(v)));
}
const list = (vs: readonly string[]) => (vs.length > 5 ? `${vs.slice(0, 5).join(', ')} and ${vs.length - 5} more` : vs.join(', '));

export function appliedVersionOf(history: readonly HistoryRow[]): string | undefined {
  return max(history.filter((r) => r.state === 'success' && r.type !== 'repeatable').map((r) => r.version));
}

/** The history key of a repeatable. */
export const repeatableKey = (r: Pick<Repeatable, 'description'>) => `${REPEATABLE_PREFIX}${r.description}`;

type AdoptResult = { ok: true; action: Extract<Action, { type: 'adopt' }>; rows: HistoryRow[] } | { ok: false; reason: StallReason; message: string };

/**
 * The old tool's history as rows of ours: what it applied must be steps we know (with the checksum it
 * kept, where it kept one), a dirty or failed entry stops here. Nothing is run for adopted steps.
 */
export function adoptHistory(adopted: AdoptedHistory, steps: readonly Step[], repeatables: readonly Repeatable[], repair: boolean): AdoptResult {
  const where = `${adopted.tool}'s history (${adopted.table})`;
  if (adopted.problem) return { ok: false, reason: 'AdoptedHistoryDirty', message: `${where}: ${adopted.problem}; nothing was run` };
  const find = stepFinder(steps);
  const applied: AdoptedHistory['applied'] = adopted.upTo !== undefined ? steps.filter((s) => compareVersions(s.version, adopted.upTo as string) <= 0).map((s) => ({ version: s.version })) : adopted.applied;
  if (adopted.upTo !== undefined && !find(adopted.upTo)) {
    return { ok: false, reason: 'AppliedStepMissing', message: `${where} is at version ${adopted.upTo}, which no source defines; nothing was run` };
  }
  const baseline = adopted.baseline;
  const inScope = applied.filter((a) => baseline === undefined || compareVersions(a.version, baseline) > 0);
  const missing = inScope.filter((a) => !find(a.version)).map((a) => a.version);
  if (missing.length > 0 && !repair) {
    return { ok: false, reason: 'AppliedStepMissing', message: `step ${list(missing)} is recorded as applied in ${where} but no source defines it; add it, or set the annotation tenantdb.io/repair to a new value to leave it out` };
  }
  const mismatched = inScope.filter((a) => a.checksum !== undefined && find(a.version)?.toolChecksum !== undefined && find(a.version)?.toolChecksum !== a.checksum).map((a) => a.version);
  if (mismatched.length > 0 && !repair) {
    return {
      ok: false,
      reason: 'ChecksumMismatch',
      message: `step ${list(mismatched)} differs from the script ${adopted.tool} applied (checksum in ${adopted.table}); restore it, or accept the current script by setting the annotation tenantdb.io/repair to a new value`,
    };
  }
  const adoptedSteps = inScope.flatMap((a) => find(a.version) ?? []);
  // A repeatable counts as applied only if the tool applied this very script; otherwise it runs again (Flyway's rule).
  const reps = repeatables.filter((r) => (adopted.repeatables ?? []).some((a) => a.description === r.description.replace(/_/g, ' ') && a.checksum !== undefined && a.checksum === r.toolChecksum));
  const now = new Date();
  const row = (version: string, name: string, checksum: string | null, type: HistoryRow['type']): HistoryRow => ({ version, name, checksum, type, state: 'success', startedAt: now, appliedAt: now, executionMs: 0, appliedBy: `adopted from ${adopted.tool}` });
  const rows = [
    ...(baseline !== undefined ? [row(baseline, '<< baseline >>', null, 'baseline')] : []),
    ...adoptedSteps.map((s) => row(s.version, s.name, s.checksum, 'up')),
    ...reps.map((r) => row(repeatableKey(r), r.description, r.checksum, 'repeatable')),
  ];
  const action = { type: 'adopt' as const, tool: adopted.tool, table: adopted.table, steps: adoptedSteps, ...(baseline !== undefined ? { baseline } : {}), repeatables: reps };
  return { ok: true, action, rows };
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

  // Taking over from another tool: once, while this Migration has no history of its own here.
  if (rows.length === 0 && opts.adopted) {
    const a = adoptHistory(opts.adopted, steps, opts.repeatables ?? [], opts.repair);
    if (!a.ok) return stall(a.reason, a.message);
    // An old table that records nothing applied (a fresh database) leaves nothing to take over.
    if (a.rows.length > 0) actions.push(a.action);
    rows = a.rows;
  }

  const dirty = rows.filter((r) => r.state === 'dirty');
  if (dirty.length > 0) {
    const v = (dirty[0] as HistoryRow).version;
    return stall(
      'Dirty',
      `step ${v} is dirty: a non-transactional step stopped part-way, so the database may hold part of it; check it, then set the annotation tenantdb.io/resolve: "${v}=applied" (it is complete) or "${v}=reverted" (nothing of it is left)`,
    );
  }

  // Flyway's validate: what was applied must still be what the sources say.
  const find = stepFinder(steps);
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
  const gone = new Set(missing);
  rows = rows.filter((r) => !gone.has(r.version));

  let baseline = rows.find((r) => r.type === 'baseline')?.version;
  if (rows.length === 0 && opts.baselineVersion !== undefined) {
    baseline = opts.baselineVersion;
    actions.push({ type: 'baseline', version: baseline });
  }
  const applied = rows.filter((r) => r.type === 'up').map((r) => r.version);
  const appliedVersion = max([...applied, ...(baseline !== undefined ? [baseline] : [])]);

  const latest = max(steps.map((s) => s.version));
  const target = opts.targetVersion ?? latest;
  if (target === undefined) return { ok: true, actions: [...actions, ...repeats(rows, [], opts)], pending: [], appliedVersion, targetVersion: appliedVersion };

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

  const reverted = new Set(above);
  const remaining = applied.filter((v) => !reverted.has(v));
  const highest = max(remaining);
  // Looked up by normalized version: a fleet's histories run to hundreds of steps, planned on every pass.
  const done = new Set(remaining.map(normalizeVersion));
  const todo = steps.filter(
    (s) =>
      compareVersions(s.version, target) <= 0 &&
      (baseline === undefined || compareVersions(s.version, baseline) > 0) &&
      !done.has(normalizeVersion(s.version)),
  );
  const late = todo.filter((s) => highest !== undefined && compareVersions(s.version, highest) < 0).map((s) => s.version);
  if (late.length > 0 && !opts.outOfOrder) {
    return stall('OutOfOrder', `step ${list(late)} is older than the applied version ${highest} and was never applied; set outOfOrder: true to apply it anyway`);
  }
  for (const s of todo) actions.push({ type: 'up', step: s });
  actions.push(...repeats(rows, above, opts));
  const pending = actions.flatMap((a) => (a.type === 'up' || a.type === 'down' ? [a.step.version] : a.type === 'repeat' ? [repeatableKey(a.repeatable)] : []));
  return { ok: true, actions, pending, appliedVersion, targetVersion: above.length > 0 || todo.length > 0 ? target : appliedVersion };
}

/** Flyway's repeatables whose script changed since last applied (or never applied), after the versioned steps; none while going down. */
function repeats(rows: readonly HistoryRow[], above: readonly string[], opts: PlanOptions): Action[] {
  if (above.length > 0) return [];
  const applied = new Map(rows.filter((x) => x.type === 'repeatable').map((x) => [x.version, x.checksum]));
  return (opts.repeatables ?? [])
    .filter((r) => applied.get(repeatableKey(r)) !== r.checksum)
    .map((r) => ({ type: 'repeat' as const, repeatable: r }));
}
