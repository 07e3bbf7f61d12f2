// Part of step 2 of a Migration pass (after plan.ts decided), per target database with work queued: lint the pending up scripts
// (src/migrations/lint) before they run (new steps while their run makes its sessions, see lintGate). The rules' findings are cached by the
// pending set's content; what stands after the spec's and the scripts' waivers and, for rules about a
// lock held while a table is scanned or rewritten, the table's size here (one catalog read, only when
// such a finding exists) is reported. Warn: a Warning Event once per distinct set, status.lint, the
// steps run. Block: the database is Failed (LintFailed, Stalled overall) and nothing starts until the
// step changes or the rule is waived. A converged Migration has nothing pending and never gets here.
import { createHash } from 'node:crypto';
import { REPEATABLE_PREFIX, type Action } from '../../src/migrations/plan.js';
import { describeFinding, lintSteps, linted, onLargeTables, tablesToSize, unwaived, type LintFinding, type LintStep } from '../../src/migrations/lint/index.js';
import type { GateVerdict } from '../../src/postgres/migrations/runner.js';
import { describePgError } from '../../src/postgres/connections.js';
import { tableSizes } from '../../src/postgres/migrations/table-sizes.js';
import type { Evaluation, MigrationPass } from './pass.js';
import type { AdminTarget } from './plan.js';

const FINDINGS_MAX = 100;
/** Findings named in a Block message or Warn Event (the rest are in status.lint). */
const MESSAGE_FINDINGS = 3;

/** The up scripts a plan's actions will run, in run order. */
export function lintableOf(actions: readonly Action[]): LintStep[] {
  return actions.flatMap((a): LintStep[] => {
    if (a.type === 'up') return [{ version: a.step.version, name: a.step.name, up: a.step.up }];
    if (a.type === 'repeat') return [{ version: `${REPEATABLE_PREFIX}${a.repeatable.description}`, name: a.repeatable.description, up: a.repeatable.script }];
    return [];
  });
}

/** Findings as status.lint lists them. */
export function statusFindings(findings: readonly LintFinding[]): Array<Pick<LintFinding, 'version' | 'rule' | 'line' | 'statement' | 'message'>> {
  return findings.slice(0, FINDINGS_MAX).map((f) => ({ version: f.version.slice(0, 128), rule: f.rule, line: f.line, statement: f.statement, message: f.message }));
}

function summary(findings: readonly LintFinding[]): string {
  const more = findings.length > MESSAGE_FINDINGS ? `; and ${findings.length - MESSAGE_FINDINGS} more (status.lint)` : '';
  return findings.slice(0, MESSAGE_FINDINGS).map(describeFinding).join('; ') + more;
}

function setKey(findings: readonly LintFinding[]): string {
  const h = createHash('sha256');
  for (const f of findings) h.update([f.version, f.rule, f.line, f.statement].join('\u0000')).update('\u0001');
  return h.digest('hex').slice(0, 16);
}

/** The findings that stand on this database, or why they could not be had (then the run goes ahead: lint advises, the run is the check). */
async function standing(pass: MigrationPass, t: AdminTarget, steps: readonly LintStep[]): Promise<LintFinding[]> {
  const lint = pass.kit.spec.lint;
  const found = unwaived(await lintSteps(steps), steps, lint?.waive);
  const tables = tablesToSize(found);
  if (tables.length === 0) return found;
  const sizes = await pass.env.conns.withClient(t.target, (c) => tableSizes(c, tables));
  return onLargeTables(found, sizes, lint?.largeTableBytes ?? 1_048_576);
}

/**
 * What the lint concludes on this database: the findings that stand, recorded for status.lint, and under
 * Warn a Warning Event once per distinct set. Never rejects: findings that cannot be had (table sizes
 * unreadable) are none (lint advises, the run is the check).
 */
async function verdictOf(pass: MigrationPass, name: string, t: AdminTarget, steps: readonly LintStep[], mode: 'Warn' | 'Block'): Promise<LintFinding[]> {
  let findings: LintFinding[];
  try {
    findings = await standing(pass, t, steps);
  } catch (err) {
    const d = describePgError(err);
    pass.kit.log.info({ database: name, error: d.message }, 'lint skipped: cannot read table sizes');
    return [];
  }
  const memo = pass.env.lint;
  memo.set(`${pass.kit.key}\u0000${name}`, { mode, findings: statusFindings(findings) });
  if (findings.length === 0 || mode === 'Block') return findings;
  const key = setKey(findings);
  if (memo.evented.get(pass.kit.key) !== key) {
    memo.evented.set(pass.kit.key, key);
    // Not awaited: the Event must not hold up the run it is about (the steps run under Warn).
    void pass.kit.event('Warning', 'LintWarning', `${name}: ${findings.length} lint finding${findings.length === 1 ? '' : 's'} in pending steps (they run: spec.lint.mode Warn): ${summary(findings)}`);
  }
  return findings;
}

function blockMessage(findings: readonly LintFinding[]): string {
  const message = `lint (spec.lint.mode Block) found ${findings.length} problem${findings.length === 1 ? '' : 's'} in pending steps: ${summary(findings)}; change the step, or waive the rule for it (spec.lint.waive, or a line "-- tenantdb:lint-ignore <rule>" in its script)`;
  return message.slice(0, 4096);
}

/**
 * The evaluation after lint: unchanged when clean or Off, Failed (LintFailed) under Block, reported under
 * Warn. Steps linted before decide at once. Steps new to the lint do not hold up their run's start:
 * - Block: they are linted while the run makes its sessions (a fresh database's history, the migration
 *   login), and the run waits for the verdict before its first action. A run Block stops has applied
 *   nothing; the pass its end brings finds the steps linted and reports LintFailed.
 * - Warn: they run in any case, so the parsing (some 40 ms for 200 new steps on the 2-core machine,
 *   on the thread that also makes the run's connections) starts with the first step, and the findings
 *   are in status.lint and the Event before the run's end is reported.
 */
export async function lintGate(pass: MigrationPass, name: string, t: AdminTarget, e: Evaluation, steps: readonly LintStep[]): Promise<Evaluation> {
  const mode = pass.kit.spec.lint?.mode ?? 'Warn';
  const start = e.start;
  if (mode === 'Off' || !start || steps.length === 0) return e;
  if (!linted(steps)) {
    let verdict: Promise<LintFinding[]> | undefined;
    const lint = () => (verdict ??= verdictOf(pass, name, t, steps, mode));
    if (mode === 'Warn') return { ...e, start: () => start({ report: lint }) };
    const gate = async (): Promise<GateVerdict> => {
      const findings = await lint();
      return findings.length > 0 ? { ok: false, reason: 'LintFailed', message: blockMessage(findings) } : { ok: true };
    };
    // Block: the parsing starts now, alongside the run's sessions.
    void lint();
    return { ...e, start: () => start({ gate }) };
  }
  const findings = await verdictOf(pass, name, t, steps, mode);
  if (mode !== 'Block' || findings.length === 0) return e;
  const { start: _start, ...rest } = e;
  return { ...rest, progress: { ...e.progress, phase: 'Failed', reason: 'LintFailed', message: blockMessage(findings) } };
}

export type LintStatus = { mode: 'Off' | 'Warn' | 'Block'; findings: ReturnType<typeof statusFindings> };

/**
 * What each Migration's databases last linted to (status.lint), kept in memory: status is output, never
 * read back. Findings stay after the steps ran (Warn) until another pending set is linted.
 */
export class LintMemo {
  private readonly byDb = new Map<string, LintStatus>();
  /** The last finding set an Event was posted for, per Migration (a fleet posts one Event per set). */
  readonly evented = new Map<string, string>();
  set(key: string, s: LintStatus): void {
    this.byDb.set(key, s);
  }
  /** status.lint for a Migration over `names`: findings of every database, each once. */
  statusOf(migration: string, names: readonly string[]): LintStatus | undefined {
    const all = names.map((n) => this.byDb.get(`${migration}\u0000${n}`)).filter((s): s is LintStatus => s !== undefined);
    if (all.length === 0 || all.every((s) => s.findings.length === 0)) return undefined;
    const seen = new Set<string>();
    const findings = all.flatMap((s) => s.findings).filter((f) => {
      const k = `${f.version}\u0000${f.rule}\u0000${f.line}\u0000${f.statement}`;
      return seen.has(k) ? false : (seen.add(k), true);
    });
    return { mode: (all[0] as LintStatus).mode, findings: findings.slice(0, FINDINGS_MAX) };
  }
  forget(migration: string): void {
    for (const k of this.byDb.keys()) if (k.startsWith(`${migration}\u0000`)) this.byDb.delete(k);
    this.evented.delete(migration);
  }
}
