// Runs one Migration's steps against one database: a dedicated session takes the advisory lock, makes
// sure the history table exists, re-plans from the history it reads under the lock (so what another
// runner did meanwhile counts), and executes the plan step by step. Transactional steps commit together
// with their history row; non-transactional ones are recorded dirty first and run statement by
// statement in autocommit. Every statement is sent on its own, so a failure names the statement and
// its line in the script. The first failure ends the run.
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { compareVersions } from '../../api/migration.js';
import { planMigration, repeatableKey, type Action, type HistoryRow, type PlanOptions, type StallReason } from '../../migrations/plan.js';
import type { Step } from '../../migrations/steps.js';
import { describePgError, type DbTarget, type PostgresConnections } from '../connections.js';
import { ident, literal } from '../ident.js';
import { SQL, ensureHistory, historyOf, historyStatement, readHistory, type RawHistoryRow } from './history.js';
import { readAdoptedHistory, type AdoptSource } from './adopt.js';
import { lockHolder, tryLock, tryLockThen, unlock, withSetupLock } from './lock.js';
import type { TenancyInput } from '../tenancy/rls.js';
import { isolateInTransaction } from './isolate.js';
import { connectAs, connectAsMigrator, revokeMigratorPassword } from './migrator.js';
import { ScriptSyntaxError, runsOutsideTransaction, splitStatements, type ScriptStatement } from './split.js';

/** A runner never waits longer than this for another runner's lock (it ends, reports, and is retried). */
export const DEFAULT_MAX_LOCK_WAIT_MS = 10 * 60_000;

export interface RunInput {
  /** History key: namespace/name of the Migration object. */
  migration: string;
  steps: readonly Step[];
  plan: PlanOptions;
  /** The old tool's table to take over from while this Migration has no history here (read under the lock, never written). */
  adopt?: AdoptSource | undefined;
  /**
   * The owner role for runAs: owner: the steps run in a session that logged in as the owner's migration
   * login (migrator.ts), never in the administrator's. Undefined runs them as the administrator.
   */
  runAsRole?: string | undefined;
  /**
   * For runAs: owner on a server that refuses passwords: the Microsoft Entra principal that is a member of
   * the owner only (spec.entraPrincipals access: migrations), as a token login. The session logs in as it
   * instead of the password migration login.
   */
  ownerLogin?: DbTarget | undefined;
  /**
   * The database's row-level security (its TenantDatabase's spec.tenancy): synced inside each step's
   * transaction (right after a non-transactional step), so new tenant tables are never visible unisolated.
   */
  tenancy?: TenancyInput | undefined;
  lockTimeout: string;
  statementTimeout?: string | undefined;
  /** Recorded in applied_by (who ran it), e.g. operator identity and Migration. */
  appliedBy: string;
  /** How often to try the lock again while another runner holds it. */
  lockPollMs?: number;
  /**
   * A verdict the run waits for before its first action (the lint of its pending steps, computed while
   * the session is made): `ok: false` ends the run stalled, nothing applied.
   */
  gate?: (() => Promise<GateVerdict>) | undefined;
  /** How long to wait for the lock before the run ends with an error (retried by the caller); default 10 min. */
  maxLockWaitMs?: number;
  signal?: AbortSignal;
}

export interface StepResult {
  version: string;
  name: string;
  direction: 'up' | 'down';
  ok: boolean;
  durationMs: number;
}

export interface StepFailure {
  version: string;
  name: string;
  direction: 'up' | 'down';
  /** The step left its row dirty (non-transactional). */
  dirty: boolean;
  code?: string;
  message: string;
  detail?: string;
  hint?: string;
  /** The statement that failed, as written (truncated), and the script line it starts on. */
  statement?: string;
  line?: number;
}

export type GateVerdict = { ok: true } | { ok: false; reason: 'LintFailed'; message: string };

export type RunResult =
  | { outcome: 'succeeded'; steps: StepResult[]; history: HistoryRow[]; maintenance: string[] }
  | { outcome: 'failed'; steps: StepResult[]; history: HistoryRow[]; failure: StepFailure; maintenance: string[] }
  | { outcome: 'stalled'; steps: StepResult[]; history: HistoryRow[]; reason: StallReason | 'LintFailed'; message: string; maintenance: string[] };

export interface RunHooks {
  onLockWait?(holder: string | undefined): void;
  onLocked?(): void;
  onStepStart?(step: Step, direction: 'up' | 'down'): void;
  onStepDone?(result: StepResult, failure?: StepFailure): void;
}

const STATEMENT_SHOWN = 1024;

class StepError extends Error {
  constructor(
    override readonly cause: unknown,
    readonly statement: ScriptStatement | undefined,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}

/** Dedicated session, lock, plan, steps; always unlocks and ends the session. */
export async function runMigration(conns: PostgresConnections, target: DbTarget, input: RunInput, hooks: RunHooks = {}): Promise<RunResult> {
  const { client, login, historyReady, settled } = await openSession(conns, target, input);
  let locked = false;
  try {
    // With the history known to exist, its first read rides with the first try of the lock.
    const read = await waitForLock(client, input, hooks, historyReady ? input.migration : undefined);
    locked = true;
    // The login's password is gone and the set-up over before anything is planned or run.
    await settled;
    hooks.onLocked?.();
    if (!historyReady) await ensureHistory(client);
    return await runLocked(client, input, hooks, read);
  } finally {
    if (locked) await unlock(client).catch(() => undefined);
    await client.end().catch(() => undefined);
    // A script may have given the login a password of its own: it goes with the run.
    if (login) await conns.withClient(target, (a) => revokeMigratorPassword(a, login)).catch(() => undefined);
  }
}

/**
 * Polls the migration lock until it is ours; past maxLockWaitMs the run ends with an error naming the
 * holder. `history`: a first try that gets the lock also reads this Migration's history (returned).
 */
async function waitForLock(client: pg.Client, input: RunInput, hooks: RunHooks, history?: string): Promise<HistoryRow[] | undefined> {
  const started = Date.now();
  const limit = input.maxLockWaitMs ?? DEFAULT_MAX_LOCK_WAIT_MS;
  for (let first = true; ; first = false) {
    if (first && history !== undefined) {
      const got = await tryLockThen<RawHistoryRow>(client, historyStatement(history));
      if (got.ok) return historyOf(got.rows);
    } else if (await tryLock(client)) return undefined;
    if (first || Math.random() < 0.2) hooks.onLockWait?.(await lockHolder(client).catch(() => undefined));
    if (input.signal?.aborted) throw new Error('aborted while waiting for the migration lock');
    if (Date.now() - started >= limit) {
      const holder = await lockHolder(client).catch(() => undefined);
      throw new Error(`waited ${(limit / 1000).toFixed(1)} s for the migration lock, held by ${holder ?? 'another session'}; the run ends here and is tried again`);
    }
    await sleep(Math.min(input.lockPollMs ?? 500, Math.max(1, limit - (Date.now() - started))));
  }
}

/**
 * The run's session: the administrator's for runAs: admin; for runAs: owner the owner's migration login
 * (acting as the owner), with the history made and the owner's rights on it given by the administrator
 * meanwhile (historyReady: the run's session need not look again). Named in pg_stat_activity, and checked
 * for a vanished client once a second (a killed operator's session must not keep running its step, and
 * holding the lock, until the statement ends): both set at login, no round trip of their own.
 */
async function openSession(conns: PostgresConnections, target: DbTarget, input: RunInput): Promise<{ client: pg.Client; login?: string; historyReady?: boolean; settled?: Promise<void> }> {
  const session = { applicationName: `tenantdb-operator migration ${input.migration}`, settings: { client_connection_check_interval: '1000' } };
  const owner = input.runAsRole;
  if (owner === undefined) return { client: await conns.connect(target, { statementTimeoutMs: 0, session }) };
  const history = (admin: Pick<pg.ClientBase, 'query'>) => ensureHistory(admin, { grantTo: owner });
  if (input.ownerLogin) {
    // The token login needs nothing from the administrator's set-up: both at once.
    const [setup, login] = await Promise.allSettled([conns.withClient(target, (admin) => withSetupLock(admin, () => history(admin))), connectAs(conns, input.ownerLogin, owner, session)]);
    if (setup.status === 'rejected') {
      if (login.status === 'fulfilled') await login.value.end().catch(() => undefined);
      throw setup.reason;
    }
    if (login.status === 'rejected') throw login.reason;
    return { client: login.value, historyReady: true };
  }
  return { ...(await connectAsMigrator(conns, target, owner, { session, meanwhile: history })), historyReady: true };
}

async function runLocked(client: pg.Client, input: RunInput, hooks: RunHooks, read: HistoryRow[] | undefined): Promise<RunResult> {
  const key = input.migration;
  const history = read ?? (await readHistory(client, key, { exists: true }));
  const steps: StepResult[] = [];
  const maintenance: string[] = [];
  // The old tool's history, read in this session (the owner's rights) and only while ours is empty.
  const adopted = history.length === 0 && input.adopt ? await readAdoptedHistory(client, input.adopt) : undefined;
  if (adopted && 'unreadable' in adopted) return { outcome: 'stalled', steps, history, reason: 'AdoptionUnreadable', message: adopted.unreadable, maintenance };
  const plan = planMigration(history, input.steps, { ...input.plan, adopted: adopted?.history });
  if (!plan.ok) return { outcome: 'stalled', steps, history, reason: plan.reason, message: plan.message, maintenance };
  const verdict = input.gate ? await input.gate() : { ok: true as const };
  if (!verdict.ok) return { outcome: 'stalled', steps, history, reason: verdict.reason, message: verdict.message, maintenance };

  for (const action of plan.actions) {
    if (input.signal?.aborted) break;
    if (action.type === 'up' || action.type === 'down' || action.type === 'repeat') {
      const failure = await runStep(client, input, action, hooks, steps);
      if (failure) return { outcome: 'failed', steps, history: await readHistory(client, key), failure, maintenance };
      continue;
    }
    await bookkeeping(client, key, input.appliedBy, action);
    maintenance.push(describeAction(action));
  }
  return { outcome: 'succeeded', steps, history: await readHistory(client, key), maintenance };
}

type Bookkeeping = Exclude<Action, { type: 'up' | 'down' | 'repeat' }>;

function describeAction(a: Bookkeeping): string {
  switch (a.type) {
    case 'adopt':
      return `adopted ${a.steps.length} applied step${a.steps.length === 1 ? '' : 's'}${a.baseline !== undefined ? ` and baseline ${a.baseline}` : ''} from ${a.tool}'s history (${a.table})`;
    case 'resolve':
      return `resolved dirty step ${a.version} as ${a.as}`;
    case 'repair':
      return `repaired the checksum of step ${a.version}`;
    case 'forget':
      return `forgot applied step ${a.version}, which no source defines any more`;
    case 'baseline':
      return `baselined at version ${a.version}`;
  }
}

/** The adopted steps as rows of ours, in one transaction: all of the old history or none. */
async function adopt(client: pg.Client, key: string, appliedBy: string, a: Extract<Action, { type: 'adopt' }>): Promise<void> {
  const by = `adopted from ${a.tool} ${a.table}; ${appliedBy}`;
  await client.query('BEGIN');
  try {
    if (a.baseline !== undefined) await client.query(SQL.insertAdopted, [key, a.baseline, '<< baseline >>', null, 'baseline', by]);
    for (const s of a.steps) await client.query(SQL.insertAdopted, [key, s.version, s.name, s.checksum, 'up', by]);
    for (const r of a.repeatables) await client.query(SQL.insertAdopted, [key, repeatableKey(r), r.description, r.checksum, 'repeatable', by]);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

async function bookkeeping(client: pg.Client, key: string, appliedBy: string, a: Bookkeeping): Promise<void> {
  switch (a.type) {
    case 'adopt':
      return adopt(client, key, appliedBy, a);
    case 'resolve':
      await client.query(a.as === 'applied' ? SQL.resolveApplied : SQL.remove, [key, a.version]);
      return;
    case 'repair':
      await client.query(SQL.repair, [key, a.version, a.checksum, a.name]);
      return;
    case 'forget':
      await client.query(SQL.remove, [key, a.version]);
      return;
    case 'baseline':
      await client.query(SQL.insertBaseline, [key, a.version, appliedBy]);
      return;
  }
}

function failureOf(step: Step, direction: 'up' | 'down', dirty: boolean, err: unknown): StepFailure {
  const inner = err instanceof StepError ? err.cause : err;
  const stmt = err instanceof StepError ? err.statement : undefined;
  // Status holds 64-character versions and 63-character names; a tool's title (or a repeatable's key) may be longer.
  const who = { version: step.version.slice(0, 64), name: step.name.slice(0, 63) };
  if (inner instanceof ScriptSyntaxError) {
    return { ...who, direction, dirty, code: '42601', message: `syntax error: ${inner.message}`, ...(inner.line !== undefined ? { line: inner.line } : {}) };
  }
  const pgErr = describePgError(inner);
  return {
    ...who,
    direction,
    dirty,
    ...(pgErr.code ? { code: pgErr.code } : {}),
    message: pgErr.message,
    ...(pgErr.detail ? { detail: pgErr.detail } : {}),
    ...(pgErr.hint ? { hint: pgErr.hint } : {}),
    ...(stmt ? { statement: stmt.text.length > STATEMENT_SHOWN ? `${stmt.text.slice(0, STATEMENT_SHOWN - 3)}...` : stmt.text, line: stmt.line } : {}),
  };
}

/**
 * The script's statements and how they run: its declared mode, or for a tool that sends the script as
 * it is (Step.auto) one transaction unless the statements need to run outside one.
 */
async function statementsOf(step: Step, direction: 'up' | 'down'): Promise<{ stmts: ScriptStatement[]; transactional: boolean }> {
  const script = direction === 'up' ? step.up : (step.down as string);
  const stmts = await splitStatements(script);
  const transactional = step.auto?.[direction] ? !runsOutsideTransaction(stmts) : direction === 'up' ? step.transactional : step.downTransactional;
  if (transactional) {
    // COMMIT or BEGIN inside a transactional step would end the transaction the history row is in.
    const tx = stmts.find((s) => s.kind === 'TransactionStmt');
    if (tx) {
      throw new StepError(
        new Error(`transaction control (${tx.text.split(/\s/)[0]}) is not allowed in a transactional step; set transactional: false (or -- tenantdb:transactional false) to run it statement by statement`),
        tx,
      );
    }
  }
  return { stmts, transactional };
}

async function exec(client: pg.Client, stmts: readonly ScriptStatement[]): Promise<void> {
  for (const s of stmts) {
    try {
      await client.query(s.text);
    } catch (err) {
      throw new StepError(err, s);
    }
  }
}

/** A repeatable as a step: keyed R__<description> in the history, run as an up script. */
function repeatableStep(a: Extract<Action, { type: 'repeat' }>): Step {
  const r = a.repeatable;
  return { version: repeatableKey(r), name: r.description, up: r.script, transactional: r.transactional, downTransactional: true, ...(r.auto ? { auto: { up: true, down: false } } : {}), checksum: r.checksum, source: r.source };
}

async function runStep(client: pg.Client, input: RunInput, action: Extract<Action, { type: 'up' | 'down' | 'repeat' }>, hooks: RunHooks, results: StepResult[]): Promise<StepFailure | undefined> {
  const repeat = action.type === 'repeat';
  const step = action.type === 'repeat' ? repeatableStep(action) : action.step;
  const direction = action.type === 'down' ? 'down' : 'up';
  const key = input.migration;
  hooks.onStepStart?.(step, direction);
  const t0 = performance.now();
  const done = (ok: boolean, failure?: StepFailure) => {
    const r: StepResult = { version: step.version, name: step.name, direction, ok, durationMs: Math.round((performance.now() - t0) * 1000) / 1000 };
    results.push(r);
    hooks.onStepDone?.(r, failure);
    return failure;
  };
  let stmts: ScriptStatement[];
  let transactional: boolean;
  try {
    ({ stmts, transactional } = await statementsOf(step, direction));
  } catch (err) {
    return done(false, failureOf(step, direction, false, err));
  }
  // Where the session returns after a step: the owner (whatever role a script set), or the administrator itself.
  const home = input.runAsRole !== undefined ? `SET ROLE ${ident(input.runAsRole)}` : 'RESET ROLE';

  if (transactional) {
    try {
      // One round trip for the prologue: SET takes no bind parameters, so the (pattern-checked) durations
      // go through literal(). SET LOCAL ends with the transaction, whatever happens.
      await client.query(
        `BEGIN; SET LOCAL lock_timeout = ${literal(input.lockTimeout)}; SET LOCAL statement_timeout = ${literal(input.statementTimeout ?? '0')}`,
      );
      await exec(client, stmts);
      await client.query(home);
      // What the step created gets its policies (and the application its grants) in the same commit.
      if (input.tenancy) await isolateInTransaction(client, input.tenancy, home);
      const ms = Math.round(performance.now() - t0);
      // started_at is now(): the transaction's start, on the server's clock like applied_at.
      if (repeat) {
        await client.query(SQL.remove, [key, step.version]);
        await client.query(SQL.insertRepeatable, [key, step.version, step.name, step.checksum, 'success', ms, input.appliedBy]);
      } else if (direction === 'up') await client.query(SQL.insertSuccess, [key, step.version, step.name, step.checksum, null, ms, input.appliedBy]);
      else await client.query(SQL.remove, [key, step.version]);
      await client.query('COMMIT');
      return done(true);
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      return done(false, failureOf(step, direction, false, err));
    }
  }

  // Non-transactional: the dirty row goes first, so a crash or failure part-way is visible and blocks.
  if (repeat) {
    await client.query(SQL.remove, [key, step.version]);
    await client.query(SQL.insertRepeatable, [key, step.version, step.name, step.checksum, 'dirty', null, input.appliedBy]);
  } else if (direction === 'up') await client.query(SQL.insertDirty, [key, step.version, step.name, step.checksum, new Date(), input.appliedBy]);
  else await client.query(SQL.markDirty, [key, step.version]);
  try {
    await client.query(`SELECT set_config('lock_timeout', $1, false), set_config('statement_timeout', $2, false)`, [input.lockTimeout, input.statementTimeout ?? '0']);
    await exec(client, stmts);
  } catch (err) {
    // A script's own BEGIN may have left a failed transaction open; the session must be usable again.
    await client.query('ROLLBACK').catch(() => undefined);
    await resetSession(client, home);
    return done(false, failureOf(step, direction, true, err));
  }
  await resetSession(client, home);
  if (input.tenancy) await isolateAfter(client, input, home);
  const ms = Math.round(performance.now() - t0);
  if (repeat) await client.query(SQL.markRepeatable, [key, step.version, ms]);
  else if (direction === 'up') await client.query(SQL.markSuccess, [key, step.version, ms]);
  else await client.query(SQL.remove, [key, step.version]);
  return done(true);
}

/**
 * After a non-transactional step: the same isolation in a transaction of its own. A failure here leaves
 * nothing open (the application holds no grant on a new table before its policies), so the step still
 * counts as applied and the TenantDatabase's next pass finishes the job.
 */
async function isolateAfter(client: pg.Client, input: RunInput, home: string): Promise<void> {
  try {
    await client.query(`BEGIN; SET LOCAL lock_timeout = ${literal(input.lockTimeout)}`);
    await isolateInTransaction(client, input.tenancy as TenancyInput, home);
    await client.query('COMMIT');
  } catch {
    await client.query('ROLLBACK').catch(() => undefined);
    await client.query(home).catch(() => undefined);
  }
}

async function resetSession(client: pg.Client, home: string): Promise<void> {
  await client.query(`${home}; RESET lock_timeout; RESET statement_timeout`);
}

/** Highest applied version in a history (for status). */
export function highestApplied(history: readonly HistoryRow[]): string | undefined {
  let best: string | undefined;
  for (const r of history) if (r.state === 'success' && r.type !== 'repeatable' && (best === undefined || compareVersions(r.version, best) > 0)) best = r.version;
  return best;
}
