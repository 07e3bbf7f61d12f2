// Lint of the steps a run is about to apply (spec.lint): each statement of each pending up script goes
// through the rules (rules.ts) in run order, so a table created by an earlier pending step is never an
// "existing" table. Pure apart from the parser; the result is cached by the content of the pending set,
// so a Migration looked at again with the same pending steps parses nothing. Waivers and the table sizes
// (read by the controller) are applied afterwards, as they differ per spec and per database.
import { createHash } from 'node:crypto';
import { normalizeVersion } from '../../api/migration.js';
import { ScriptSyntaxError, splitStatements } from '../../postgres/migrations/split.js';
import { CreatedHere, checkStatement, noteCreated, type LintRule } from './rules.js';

export { LINT_RULES, type LintRule } from './rules.js';

/** A pending up script: a versioned step, or a repeatable (version R__<description>). */
export interface LintStep {
  version: string;
  name: string;
  up: string;
}

export interface LintFinding {
  version: string;
  name: string;
  rule: LintRule;
  line: number;
  /** The statement, bounded for status and Events. */
  statement: string;
  message: string;
  /** The existing table it is about, when the rule is about one. */
  table?: string;
  sizeSensitive: boolean;
}

export interface Waiver {
  version: string;
  rules: readonly string[];
}

const STATEMENT_MAX = 200;
const CACHE_MAX = 64;
const cache = new Map<string, Promise<LintFinding[]>>();

/** A script's own waiver for its step: a line `-- tenantdb:lint-ignore rule-a, rule-b`. */
const IGNORE_LINE = /^[ \t]*--[ \t]*tenantdb:lint-ignore[ \t]+([a-z, \t-]+)$/gm;

export function scriptWaivers(script: string): Set<string> {
  const out = new Set<string>();
  for (const m of script.matchAll(IGNORE_LINE)) for (const r of (m[1] as string).split(',')) if (r.trim()) out.add(r.trim());
  return out;
}

function bounded(text: string): string {
  const one = text.replace(/\s+/g, ' ');
  return one.length > STATEMENT_MAX ? `${one.slice(0, STATEMENT_MAX - 3)}...` : one;
}

async function lintUncached(steps: readonly LintStep[]): Promise<LintFinding[]> {
  const created = new CreatedHere();
  const out: LintFinding[] = [];
  for (const step of steps) {
    // The parser's work is synchronous: a turn of the event loop per step lets the run this lint gates
    // make its connections meanwhile (a suite of 200 new steps is some 40 ms of parsing).
    await new Promise((resolve) => setImmediate(resolve));
    let stmts;
    try {
      stmts = await splitStatements(step.up);
    } catch (err) {
      if (err instanceof ScriptSyntaxError) continue; // the run reports it, with its line
      throw err;
    }
    for (const s of stmts) {
      for (const hit of checkStatement(s.kind, s.node, created)) {
        out.push({ version: step.version, name: step.name, line: s.line, statement: bounded(s.text), ...hit });
      }
      noteCreated(s.kind, s.node, created);
    }
  }
  return out;
}

/** The content key of a pending set: versions and scripts in run order. */
export function lintKey(steps: readonly LintStep[]): string {
  const h = createHash('sha256');
  for (const s of steps) h.update(s.version).update('\u0000').update(s.up).update('\u0001');
  return h.digest('hex');
}

/** True when these pending steps were linted (or are being linted) before: their findings come from the cache. */
export function linted(steps: readonly LintStep[]): boolean {
  return cache.has(lintKey(steps));
}

/** Every rule's findings on the pending steps, before waivers and sizes (cached by content). */
export function lintSteps(steps: readonly LintStep[]): Promise<LintFinding[]> {
  const key = lintKey(steps);
  let p = cache.get(key);
  if (!p) {
    p = lintUncached(steps);
    p.catch(() => cache.delete(key));
    if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value as string);
    cache.set(key, p);
  }
  return p;
}

/** Findings the spec (per step version) and the scripts themselves do not waive. */
export function unwaived(findings: readonly LintFinding[], steps: readonly LintStep[], waive: readonly Waiver[] = []): LintFinding[] {
  const byVersion = new Map<string, Set<string>>();
  const add = (v: string, rules: Iterable<string>) => {
    const k = /^\d/.test(v) ? normalizeVersion(v) : v;
    const set = byVersion.get(k) ?? new Set<string>();
    for (const r of rules) set.add(r);
    byVersion.set(k, set);
  };
  for (const w of waive) add(w.version, w.rules);
  for (const s of steps) add(s.version, scriptWaivers(s.up));
  return findings.filter((f) => !byVersion.get(/^\d/.test(f.version) ? normalizeVersion(f.version) : f.version)?.has(f.rule));
}

/** The tables whose size decides whether a finding stands. */
export function tablesToSize(findings: readonly LintFinding[]): string[] {
  return [...new Set(findings.filter((f) => f.sizeSensitive && f.table).map((f) => f.table as string))];
}

/** Drops size-sensitive findings on tables at or below `largeBytes` (a table not found counts as small: the step fails on its own). */
export function onLargeTables(findings: readonly LintFinding[], sizes: ReadonlyMap<string, number | undefined>, largeBytes: number): LintFinding[] {
  return findings.filter((f) => !f.sizeSensitive || !f.table || (sizes.get(f.table) ?? 0) > largeBytes);
}

/** One line per finding, for a condition message or an Event. */
export function describeFinding(f: LintFinding): string {
  return `step ${f.version} (${f.name}) line ${f.line}: ${f.rule}: ${f.statement} -- ${f.message}`;
}
