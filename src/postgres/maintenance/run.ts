// One maintenance run on a dedicated session: at most one per database at a time (an advisory lock,
// so two operator replicas or a person's own run never overlap), as the database's owner role (SET
// ROLE: the owner's rights, not the administrator's), tables first, then indexes (read after the
// vacuums so their tuple counts are fresh), then materialized views. Every statement waits at most the
// lock budget for its lock (lock_timeout: skipped and reported rather than queueing the application
// behind it) and may run at most until the window ends (statement_timeout); what the window leaves
// undone is reported as deferred. A REINDEX CONCURRENTLY cut short leaves an invalid `_ccnew` (or
// `_ccold`) index behind; the run drops the ones its own statement made, and only those.
import type { ClientBase } from 'pg';
import type { MaintenanceSpec } from '../../api/maintenance.js';
import { describePgError } from '../connections.js';
import { qualified } from '../ident.js';
import { MIGRATION_LOCK_CLASS } from '../migrations/lock.js';
import { readIndexStats, readMatViews, readTableStats } from './catalog.js';
import { planIndexes, planTables, planViews, setRoleSql, thresholdsOf, type MaintenanceStep, type Plan, type PlanNote } from './plan.js';

/** Object 2 of the operator's advisory lock class: "maintenance of this database" (0, 1: migrations). */
export const MAINTENANCE_LOCK_OBJECT = 2;
const CLEANUP_TIMEOUT_MS = 30_000;

export interface StepResult {
  step: MaintenanceStep;
  outcome: 'done' | 'skipped' | 'deferred';
  reason?: string;
  ms: number;
}

export interface RunOutcome {
  /** Another session held the database's maintenance lock: nothing ran. */
  busy: boolean;
  results: StepResult[];
  notes: PlanNote[];
}

export interface RunOptions {
  owner: string;
  spec: MaintenanceSpec;
  lockTimeoutMs: number;
  /** Epoch ms when the window ends. */
  deadline: number;
  signal?: AbortSignal;
  /** Told each statement before it runs (logs). */
  onStatement?: (sql: string) => void;
}

export async function runMaintenance(client: ClientBase, o: RunOptions): Promise<RunOutcome> {
  const got = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [MIGRATION_LOCK_CLASS, MAINTENANCE_LOCK_OBJECT]);
  if (!got.rows[0]?.ok) return { busy: true, results: [], notes: [] };
  const out: RunOutcome = { busy: false, results: [], notes: [] };
  try {
    await client.query(`${setRoleSql(o.owner)}; SET lock_timeout = ${Math.max(1, o.lockTimeoutMs)}`);
    const th = thresholdsOf(o.spec);
    await runPlan(client, planTables(o.spec, await catalogRead(client, o, () => readTableStats(client, o.owner, th)), o.owner), out, o);
    await runPlan(client, planIndexes(o.spec, await catalogRead(client, o, () => readIndexStats(client, o.owner, th)), o.owner), out, o);
    const views = o.spec.refreshMaterializedViews ?? [];
    await runPlan(client, planViews(await catalogRead(client, o, () => readMatViews(client, o.owner, views)), o.owner), out, o);
    return out;
  } finally {
    await client.query('RESET ROLE').catch(() => undefined);
    await client.query('SELECT pg_advisory_unlock($1, $2)', [MIGRATION_LOCK_CLASS, MAINTENANCE_LOCK_OBJECT]).catch(() => undefined);
  }
}

/** A catalog read bounded by the window like every statement; past the window it reads nothing. */
async function catalogRead<T>(client: ClientBase, o: RunOptions, read: () => Promise<T[]>): Promise<T[]> {
  const left = o.deadline - Date.now();
  if (left <= 0 || o.signal?.aborted) return [];
  await client.query(`SET statement_timeout = ${Math.max(1, Math.floor(left))}`);
  return read();
}

async function runPlan(client: ClientBase, plan: Plan, out: RunOutcome, o: RunOptions): Promise<void> {
  out.notes.push(...plan.notes);
  for (const step of plan.steps) {
    const left = o.deadline - Date.now();
    if (left <= 0 || o.signal?.aborted) {
      out.results.push({ step, outcome: 'deferred', reason: o.signal?.aborted ? 'the run was stopped' : 'the window ended before it started', ms: 0 });
      continue;
    }
    out.results.push(await runStep(client, step, left, o));
  }
}

async function runStep(client: ClientBase, step: MaintenanceStep, leftMs: number, o: RunOptions): Promise<StepResult> {
  const started = Date.now();
  const before = step.reindex ? await leftovers(client, step.reindex) : [];
  await client.query(`SET statement_timeout = ${Math.max(1, Math.floor(leftMs))}`);
  o.onStatement?.(step.sql);
  try {
    await client.query(step.sql);
    return { step, outcome: 'done', ...(step.note ? { reason: step.note } : {}), ms: Date.now() - started };
  } catch (err) {
    const e = describePgError(err);
    // A broken session ends the run (the caller reports it); a statement's own failure skips it.
    if (/^08/.test(e.code ?? '') || !e.code) throw err;
    if (step.reindex) await dropOwnLeftovers(client, step.reindex, before, o.lockTimeoutMs);
    const ms = Date.now() - started;
    if (e.code === '55P03') return { step, outcome: 'skipped', reason: `lock not granted within ${o.lockTimeoutMs} ms (lock_timeout)`, ms };
    if (e.code === '57014' && Date.now() >= o.deadline - 50) return { step, outcome: 'deferred', reason: 'the window ended while it ran (cancelled)', ms };
    return { step, outcome: 'skipped', reason: `${e.code}: ${e.message}`, ms };
  }
}

/** Invalid indexes named <index>_ccnew*, <index>_ccold* on the index's schema. */
async function leftovers(client: ClientBase, ix: { schema: string; index: string }): Promise<string[]> {
  const r = await client.query<{ relname: string }>(
    `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_index i ON i.indexrelid = c.oid
      WHERE n.nspname = $1 AND NOT i.indisvalid AND left(c.relname, length($2)) = $2 AND substr(c.relname, length($2) + 1) ~ '^_cc(new|old)[0-9]*$'`,
    [ix.schema, ix.index],
  );
  return r.rows.map((x) => x.relname);
}

async function dropOwnLeftovers(client: ClientBase, ix: { schema: string; index: string }, before: readonly string[], lockTimeoutMs: number): Promise<void> {
  const mine = (await leftovers(client, ix).catch(() => [])).filter((n) => !before.includes(n));
  if (mine.length === 0) return;
  await client.query(`SET lock_timeout = ${CLEANUP_TIMEOUT_MS}; SET statement_timeout = ${CLEANUP_TIMEOUT_MS}`).catch(() => undefined);
  // Made by the statement this run just sent (absent before it): ours to drop.
  for (const name of mine) await client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${qualified(ix.schema, name)}`).catch(() => undefined);
  await client.query(`SET lock_timeout = ${Math.max(1, lockTimeoutMs)}`).catch(() => undefined);
}
