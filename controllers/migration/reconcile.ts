// The Migration reconcile, in controller-runtime's shape: read the Migration, its sources and its
// TenantDatabases from the caches and each database's history (a read), decide per database what is
// true (waiting, running, failed, done), start background runs where work is pending and the rollout
// allows it, write status once, requeue while runs are in progress. It never waits for a run: runs are
// tracked tasks (runs.ts) whose end enqueues the Migration again. A converged Migration reads each
// history once and writes nothing, neither to Kubernetes nor to the database.
import os from 'node:os';
import { compareVersions, validateMigration, type MigrationSpec, type MigrationStatus } from '../../src/api/migration.js';
import { appliedVersionOf, planMigration, type HistoryRow, type PlanOptions, type Resolve } from '../../src/migrations/plan.js';
import { gatherSteps, inputFingerprint, type ConfigMapLike, type Step } from '../../src/migrations/steps.js';
import { describePgError, postgresConnections, type PostgresConnections } from '../../src/postgres/connections.js';
import { readHistory } from '../../src/postgres/migrations/history.js';
import { runMigration, type RunResult } from '../../src/postgres/migrations/runner.js';
import { warmUpParser } from '../../src/postgres/migrations/split.js';
import { adminTargetForTenantDatabase, type TenantDatabaseLike } from '../../src/postgres/tenant-target.js';
import { metaTime, type Condition, type Health } from '../../src/runtime/conditions.js';
import type { ReconcileFn, Result } from '../../src/runtime/controller.js';
import type { KubeObject } from '../../src/runtime/kubeclient.js';
import type { Manager } from '../../src/runtime/manager.js';
import { selectorMatches } from '../../src/runtime/selectors.js';
import { CONFIGMAPS, SECRETS, readyChanged, reconcileWith, secretValue, stalledChanged, type SpecContext } from '../../src/runtime/reconcile-kit.js';
import type { ControllerSettings } from '../../src/settings.js';
import { resourceOf } from '../../src/api/resources.js';
import { migrationRunsInProgress, migrationRunsTotal, migrationStepDuration, migrationStepsTotal } from './metrics.js';
import type { MigrationRuns, Run } from './runs.js';
import { StepEvents } from './step-events.js';
import { clean, composeHealth, describeFailure, lowestVersion, type DatabaseFailure, type DatabaseProgress } from './status.js';

export const MIGRATIONS = resourceOf('Migration');
export const TENANT_DATABASES = resourceOf('TenantDatabase');
export { CONFIGMAPS, SECRETS };

/** A new value re-runs a failed step (as a spec change does). */
export const RETRY_ANNOTATION = 'tenantdb.io/retry';
/** A new value accepts changed checksums of applied steps (Flyway repair). */
export const REPAIR_ANNOTATION = 'tenantdb.io/repair';
/** `<version>=applied|reverted`: what a dirty (half-run non-transactional) step left (golang-migrate force). */
export const RESOLVE_ANNOTATION = 'tenantdb.io/resolve';

export interface MigrationControllerOptions {
  /** How often a Migration with runs in progress is looked at to report their progress. */
  progressIntervalMs?: number;
  /** How often a run polls for the lock while another runner holds it. */
  lockPollMs?: number;
  /** Recorded as applied_by in the history. */
  identity?: string;
}

export function parseResolve(value: string | undefined): Resolve | { error: string } | undefined {
  if (value === undefined) return undefined;
  const m = /^\s*([0-9]{1,18})\s*=\s*(applied|reverted)\s*$/.exec(value);
  if (!m) return { error: `annotation ${RESOLVE_ANNOTATION}: "${value.slice(0, 100)}" is not <version>=applied or <version>=reverted` };
  return { version: m[1] as string, as: m[2] as Resolve['as'] };
}

export function targetNames(mgr: Manager, namespace: string, spec: MigrationSpec): string[] {
  if (spec.databaseRef) return [spec.databaseRef.name];
  const sel = spec.databaseSelector ?? {};
  return mgr
    .listCached(TENANT_DATABASES, namespace)
    .filter((td) => selectorMatches(sel, td.metadata.labels ?? {}))
    .map((td) => td.metadata.name)
    .sort();
}

/** Ready for migrations: Ready=True for the current generation. */
export function databaseReadiness(td: KubeObject): { ready: true } | { ready: false; message: string } {
  const status = (td.status ?? {}) as { observedGeneration?: number; conditions?: Condition[] };
  const ready = status.conditions?.find((c) => c.type === 'Ready');
  const gen = td.metadata.generation;
  if (!ready || ready.status !== 'True') return { ready: false, message: `TenantDatabase ${td.metadata.name} is not Ready yet${ready ? ` (${ready.reason}: ${ready.message})` : ''}` };
  if (gen !== undefined && (status.observedGeneration !== gen || (ready.observedGeneration !== undefined && ready.observedGeneration !== gen))) {
    return { ready: false, message: `TenantDatabase ${td.metadata.name} has changes the operator has not finished yet (generation ${gen})` };
  }
  return { ready: true };
}

interface Evaluation {
  progress: DatabaseProgress;
  /** Work is pending and may start when the rollout allows. */
  start?: () => Run;
  /** A run's result taken into this status; forget the run once status is written. */
  consumed?: boolean;
  history?: HistoryRow[];
  retryable?: boolean;
  requeueAfterMs?: number;
}

/** Runs a step failing with a transient error gets (then the failure is sticky like any other). */
export const TRANSIENT_ATTEMPTS = 3;
const TRANSIENT_BACKOFF_MS = 5_000;

/** Errors of the moment rather than of the script: serialization, deadlock, lock wait, concurrent catalog update, lost connection, shutdown. */
export function isTransientStepError(f: { code?: string | undefined; message: string }): boolean {
  const code = f.code ?? '';
  if (/^(40001|40P01|55P03|08...|53...|57P0[1-3])$/.test(code)) return true;
  return code === 'XX000' && /tuple concurrently (updated|deleted)/.test(f.message);
}

export function migrationReconciler(mgr: Manager, settings: ControllerSettings, runs: MigrationRuns, opts: MigrationControllerOptions = {}): ReconcileFn {
  const conns: PostgresConnections = postgresConnections(settings.postgres);
  const identity = opts.identity ?? `tenantdb-operator@${process.env.POD_NAME ?? os.hostname()}`;
  const progressMs = opts.progressIntervalMs ?? 2_000;

  let watchingShutdown = false;
  return reconcileWith<MigrationSpec, MigrationStatus>(mgr, {
    kind: 'Migration',
    validate: validateMigration,
    action: 'Migrate',
    gone: (key) => runs.abortAll(key),
    before: (kit) => {
      if (!watchingShutdown) {
        // The controller's signal fires when the manager stops: runs end at their next step boundary
        // (the step in flight finishes or rolls back with its session), so a successor resumes cleanly.
        watchingShutdown = true;
        kit.signal.addEventListener('abort', () => void runs.abortEverything(), { once: true });
      }
      return undefined;
    },
    // Nothing in the databases is removed (the history stays, as the schema does); runs in progress
    // stop at the next step boundary first, so no step is cut off by the deletion.
    finalize: async (kit) => {
      if (runs.activeCount(kit.key) > 0) {
        void runs.abortAll(kit.key);
        return { requeueAfterMs: 1_000 };
      }
      await runs.abortAll(kit.key);
      return 'done';
    },
    reconcile: (kit) => reconcileMigration(kit),
  });

  async function reconcileMigration(kit: SpecContext<MigrationSpec, MigrationStatus>): Promise<Result> {
    const { obj, namespace, key, spec } = kit;
    const req = { namespace: obj.metadata.namespace, name: obj.metadata.name };
    const rctx = kit;
    const event = (type: 'Normal' | 'Warning', reason: string, note: string) => kit.event(type, reason, note);
    const current = kit.status;
    // Progress (Migrating, WaitingForLock) is status, not news; states a person may act on are Events.
    const writeHealth = async (health: Health, extra: Record<string, unknown> = {}): Promise<void> => {
      await kit.writeHealth(health, extra, { normalize: clean, event: (prev, h) => (readyChanged(prev, h) || stalledChanged(prev, h)) && h.reason !== 'Migrating' && h.reason !== 'WaitingForLock' });
    };
    const annotations = obj.metadata.annotations ?? {};
    const retry = annotations[RETRY_ANNOTATION];
    const repair = annotations[REPAIR_ANNOTATION];
    const resolveRaw = annotations[RESOLVE_ANNOTATION];
    const resolve = parseResolve(resolveRaw);
    if (resolve && 'error' in resolve) {
      await writeHealth({ state: 'Stalled', reason: 'InvalidAnnotation', message: resolve.error });
      return {};
    }

    const refs = (spec.sources ?? []).map((s) => s.configMapRef.name);
    const cms = new Map<string, ConfigMapLike | undefined>(refs.map((r) => [r, mgr.getCached(CONFIGMAPS, namespace, r) as ConfigMapLike | undefined]));
    const gathered = gatherSteps(spec.migrations ?? [], refs, cms);
    if (!gathered.ok) {
      const { reason, message } = gathered.problem;
      await writeHealth({ state: reason === 'WaitingForSource' ? 'Reconciling' : 'Stalled', reason, message });
      return {};
    }
    const steps = gathered.steps;
    const latestVersion = steps.reduce<string | undefined>((m, s) => (m === undefined || compareVersions(s.version, m) > 0 ? s.version : m), undefined);
    const base = { targetVersion: spec.targetVersion, allowDown: spec.allowDown, baselineVersion: spec.baselineVersion, outOfOrder: spec.outOfOrder };
    const inputs = inputFingerprint(steps, { ...base, runAs: spec.runAs, lockTimeout: spec.lockTimeout, statementTimeout: spec.statementTimeout });
    const prevDbs = new Map((current.databases ?? []).map((d) => [d.name, d]));
    const selector = spec.databaseSelector !== undefined;

    const evaluate = async (name: string): Promise<Evaluation> => {
      const prev = prevDbs.get(name);
      const keep = { ...(prev?.appliedVersion !== undefined ? { appliedVersion: prev.appliedVersion } : {}), ...(prev?.pending ? { pending: prev.pending } : {}) };
      const td = mgr.getCached(TENANT_DATABASES, namespace, name);
      if (!td) return { progress: { name, ...keep, phase: 'Pending', reason: 'WaitingForDatabase', message: `TenantDatabase ${name} not found` } };
      const readiness = databaseReadiness(td);
      if (!readiness.ready) return { progress: { name, ...keep, phase: 'Pending', reason: 'WaitingForDatabase', message: readiness.message } };
      const t = adminTargetForTenantDatabase(td as TenantDatabaseLike, (s, k) => secretValue(mgr.getCached(SECRETS, namespace, s), k));
      if (!t.ok) return { progress: { name, ...keep, phase: 'Pending', reason: t.reason, message: t.message }, retryable: true };

      const mem = runs.remembered(key, name);
      let failure: DatabaseFailure | undefined = 'failure' in mem ? mem.failure : prev?.failure;
      let handledRepair = 'repair' in mem ? mem.repair : prev?.repair;
      let handledResolve = 'resolve' in mem ? mem.resolve : prev?.resolve;
      const run = runs.get(key, name);
      if (run && !run.result) return { progress: { name, ...keep, phase: 'Running', ...runningMessage(run) } };
      let consumed = false;
      let runError: string | undefined;
      if (run?.result) {
        consumed = true;
        const r = run.result;
        if (r.outcome !== 'error' && r.outcome !== 'stalled') {
          handledRepair = run.started.repair;
          handledResolve = run.started.resolve;
        }
        if (r.outcome === 'failed') {
          const again = failure && failure.version === r.failure.version && failure.inputs === run.started.inputs && failure.retry === run.started.retry;
          const transient = !r.failure.dirty && isTransientStepError(r.failure);
          failure = {
            ...r.failure,
            inputs: run.started.inputs,
            ...(run.started.retry !== undefined ? { retry: run.started.retry } : {}),
            ...(transient ? { transient } : {}),
            attempts: (again ? (failure?.attempts ?? 1) : 0) + 1,
            time: metaTime(),
          };
        }
        else if (r.outcome === 'succeeded') failure = undefined;
        else if (r.outcome === 'error') runError = r.message;
        runs.remember(key, name, { failure, repair: handledRepair, resolve: handledResolve });
      }

      let history: HistoryRow[];
      try {
        history = await conns.withClient(t.target, (c) => readHistory(c, key));
      } catch (err) {
        const e = describePgError(err);
        return { progress: { name, ...keep, phase: 'Pending', reason: 'DatabaseUnreachable', message: `cannot read the migration history: ${e.code ? `${e.code} ` : ''}${e.message}` }, consumed, retryable: true };
      }
      const repairPending = repair !== undefined && repair !== handledRepair;
      const resolvePending = resolveRaw !== undefined && resolveRaw !== handledResolve;
      const planOpts: PlanOptions = { ...base, repair: repairPending, resolve: resolvePending ? (resolve as Resolve) : undefined };
      const plan = planMigration(history, steps, planOpts);
      const appliedVersion = appliedVersionOf(history);
      const common = { name, ...(appliedVersion !== undefined ? { appliedVersion } : {}), ...(handledRepair !== undefined ? { repair: handledRepair } : {}), ...(handledResolve !== undefined ? { resolve: handledResolve } : {}) };
      if (!plan.ok) {
        return { progress: { ...common, phase: 'Failed', reason: plan.reason, message: plan.message, ...(failure ? { failure } : {}) }, consumed, history };
      }
      if (plan.actions.length === 0) {
        // Nothing to do: annotation values seen now are settled (a later repair needs a new value).
        if (repair !== undefined || resolveRaw !== undefined || failure) runs.remember(key, name, { failure: undefined, repair, resolve: resolveRaw });
        return {
          progress: { ...common, ...(repair !== undefined ? { repair } : {}), ...(resolveRaw !== undefined ? { resolve: resolveRaw } : {}), phase: 'Succeeded', message: `at version ${appliedVersion ?? 'none'}` },
          consumed,
          history,
        };
      }
      const pending = plan.pending.slice(0, 1024);
      const withPending = { ...common, ...(pending.length > 0 ? { pending } : {}) };
      let sticky = failure !== undefined && failure.inputs === inputs && failure.retry === retry && !repairPending && !resolvePending;
      if (sticky && failure?.transient && (failure.attempts ?? 1) < TRANSIENT_ATTEMPTS) {
        // A deadlock or a concurrent catalog update is not the script's fault: a few runs with backoff.
        const due = Date.parse(failure.time ?? '') + TRANSIENT_BACKOFF_MS * 2 ** ((failure.attempts ?? 1) - 1);
        const wait = due - Date.now();
        if (wait > 0) {
          return {
            progress: { ...withPending, phase: 'Pending', reason: 'RetryingAfterTransientError', message: `${describeFailure(failure)}; retrying in ${Math.ceil(wait / 1000)} s (attempt ${(failure.attempts ?? 1) + 1} of ${TRANSIENT_ATTEMPTS})`, failure },
            consumed,
            history,
            requeueAfterMs: wait,
          };
        }
        sticky = false;
      }
      if (sticky) {
        return { progress: { ...withPending, phase: 'Failed', reason: failure!.dirty ? 'Dirty' : 'StepFailed', message: describeFailure(failure!), failure: failure! }, consumed, history };
      }
      const started: Run['started'] = { inputs, retry, repair: repairPending ? repair : handledRepair, resolve: resolvePending ? resolveRaw : handledResolve };
      const runInput = {
        migration: key,
        steps,
        plan: planOpts,
        runAsRole: spec.runAs === 'owner' ? t.ownerRole : undefined,
        lockTimeout: spec.lockTimeout,
        statementTimeout: spec.statementTimeout,
        appliedBy: `${identity} as ${spec.runAs === 'owner' ? t.ownerRole : t.target.user}`,
        ...(opts.lockPollMs !== undefined ? { lockPollMs: opts.lockPollMs } : {}),
      };
      const labels = { namespace, migration: req.name };
      const start = () =>
        runs.start(key, name, started, plan.pending.length, async (run, signal) => {
          migrationRunsInProgress.inc(labels);
          const t0 = performance.now();
          const stepEvents = new StepEvents(name, event);
          try {
            // The SQL parser is loaded on the first run, before the lock and the first step's clock
            // (a failure to load is reported by the step that needs it).
            await warmUpParser().catch(() => undefined);
            const r = await runMigration(conns, t.target, { ...runInput, signal }, {
              onLockWait: (holder) => Object.assign(run.progress, { state: 'waiting-for-lock', lockHolder: holder }),
              onLocked: () => Object.assign(run.progress, { state: 'running', lockHolder: undefined }),
              onStepStart: (s) => (run.progress.current = s.version),
              onStepDone: (res, f) => {
                run.progress.done++;
                const l = { ...labels, direction: res.direction, result: res.ok ? 'succeeded' : 'failed' };
                migrationStepsTotal.inc(l);
                migrationStepDuration.observe(l, res.durationMs / 1000);
                if (res.ok) stepEvents.add(res);
                else if (f) void event('Warning', 'StepFailed', `${name}: ${describeFailure({ ...f })}`);
              },
            });
            migrationRunsTotal.inc({ ...labels, outcome: r.outcome });
            await stepEvents.flush();
            const ms = Math.round(performance.now() - t0);
            if (r.outcome === 'succeeded') {
              const n = r.steps.length;
              void event('Normal', 'Migrated', `${name} migrated to version ${appliedVersionOf(r.history) ?? 'none'}: ${n} step${n === 1 ? '' : 's'} in ${ms} ms${r.maintenance.length ? `; ${r.maintenance.join('; ')}` : ''}`);
            } else if (r.outcome === 'failed') void event('Warning', 'MigrationFailed', `${name}: migration stopped at step ${r.failure.version} after ${r.steps.length - 1} applied`);
            return r;
          } catch (err) {
            migrationRunsTotal.inc({ ...labels, outcome: 'error' });
            throw err;
          } finally {
            migrationRunsInProgress.dec(labels);
          }
        });
      const msg = runError ? `the last run ended with an error (${runError}); trying again` : `${plan.pending.length} step${plan.pending.length === 1 ? '' : 's'} pending`;
      return { progress: { ...withPending, phase: 'Pending', reason: 'Queued', message: msg }, start, consumed, history };
    };

    const names = targetNames(mgr, namespace, spec);
    const evals = new Map<string, Evaluation>();
    for (const name of names) evals.set(name, await evaluate(name));

    // Rollout: at most maxParallel databases at once; after a failure, stopOnFailure starts no more.
    const maxParallel = selector ? (spec.rollout?.maxParallel ?? 1) : 1;
    const stopOnFailure = spec.rollout?.stopOnFailure ?? true;
    const failedDb = [...evals.values()].find((e) => e.progress.phase === 'Failed');
    let slots = maxParallel - runs.activeCount(key);
    for (const e of evals.values()) {
      if (!e.start) continue;
      if (failedDb && stopOnFailure) {
        e.progress = { ...e.progress, reason: 'StoppedOnFailure', message: `not started: ${failedDb.progress.name} failed and rollout.stopOnFailure is set` };
        continue;
      }
      if (slots <= 0) {
        e.progress = { ...e.progress, reason: 'WaitingForRollout', message: `${e.progress.message}; waiting for a rollout slot (maxParallel ${maxParallel})` };
        continue;
      }
      slots--;
      const run = e.start();
      e.progress = { ...e.progress, phase: 'Running', ...runningMessage(run) };
    }

    const dbs = names.map((n) => (evals.get(n) as Evaluation).progress);
    const health = composeHealth(dbs, selector, latestVersion);
    const extra: Record<string, unknown> = { latestVersion: latestVersion ?? null, databases: dbs.length > 0 ? dbs : null };
    if (selector) {
      extra.appliedVersion = lowestVersion(dbs.map((d) => d.appliedVersion)) ?? null;
      extra.applied = null;
      extra.pending = null;
    } else {
      const only = dbs[0] as DatabaseProgress;
      const history = (evals.get(only.name) as Evaluation).history;
      extra.appliedVersion = only.appliedVersion ?? null;
      extra.pending = only.pending && only.phase !== 'Succeeded' ? only.pending : null;
      if (history) {
        const applied = history
          .filter((h) => h.state === 'success')
          .map((h) => ({
            version: h.version,
            name: h.name.slice(0, 63),
            ...(h.checksum ? { checksum: h.checksum } : {}),
            ...(h.appliedAt ? { appliedAt: metaTime(h.appliedAt) } : {}),
            ...(h.executionMs !== null ? { executionTimeMs: h.executionMs } : {}),
          }))
          .slice(-1024);
        extra.applied = applied.length > 0 ? applied : null;
      }
    }
    await writeHealth(health, extra);
    for (const [name, e] of evals) if (e.consumed) runs.clear(key, name);

    if (runs.activeCount(key) > 0) return { requeueAfterMs: progressMs };
    const later = [...evals.values()].map((e) => e.requeueAfterMs).filter((d): d is number => d !== undefined && d > 0);
    if (later.length > 0) return { requeueAfterMs: Math.min(...later) };
    if ([...evals.values()].some((e) => e.retryable)) return { requeue: true };
    // A database that is not there or not Ready yet brings this Migration back through the TenantDatabase
    // watch (and the sync period); polling it too would cost every waiting Migration a reconcile each 30 s.
    if (dbs.some((d) => d.phase === 'Pending' && d.reason !== 'WaitingForDatabase')) return { requeueAfterMs: 30_000 };
    return {};
  }
}

function runningMessage(run: Run): { reason: string; message: string } {
  const p = run.progress;
  if (p.state === 'waiting-for-lock') return { reason: 'WaitingForLock', message: `waiting for the migration lock, held by ${p.lockHolder ?? 'another runner'}` };
  if (p.state === 'connecting') return { reason: 'Migrating', message: `starting: ${p.total} step${p.total === 1 ? '' : 's'} pending` };
  return { reason: 'Migrating', message: `running step ${p.current ?? '?'} (${Math.min(p.done + 1, p.total)} of ${p.total})` };
}

export type { RunResult, Step };
