// The Migration reconcile, in controller-runtime's shape. The kit (src/runtime/reconcile-kit.ts) reads
// the Migration, holds the finalizer and validates the spec; then, in order:
//   0. ahead.ts    - the first target's gate, and its administrator's session opened while 1 runs;
//   1. sources.ts  - the annotations and the SQL steps (inline and from ConfigMaps), or why not;
//   2. plan.ts     - the target databases, and per database what is true there (one history read);
//      lint.ts     - where steps would run, the lint of those steps (spec.lint: Warn reports, Block stops);
//   3. rollout.ts  - start background runs (run.ts) where work is pending and the rollout allows;
//   4. status.ts   - write status once (only when it changed), not while a run just started sets up;
//   5. the next look: soon while runs are in progress, else when something is due.
// It never waits for a run: runs are tracked tasks (runs.ts) whose end enqueues the Migration again. A
// converged Migration reads each history once and writes nothing, neither to Kubernetes nor to the
// database.
import os from 'node:os';
import { validateMigration, type MigrationSpec, type MigrationStatus } from '../../src/api/migration.js';
import { resourceOf } from '../../src/api/resources.js';
import { ArtifactCache, DEFAULT_ARTIFACT_LIMITS } from '../../src/migrations/artifact/fetch.js';
import type { Step } from '../../src/migrations/steps.js';
import { postgresConnections } from '../../src/postgres/connections.js';
import type { RunResult } from '../../src/postgres/migrations/runner.js';
import type { Health } from '../../src/runtime/conditions.js';
import type { ReconcileFn, Result } from '../../src/runtime/controller.js';
import { LruMap } from '../../src/runtime/lru.js';
import type { Manager } from '../../src/runtime/manager.js';
import { CONFIGMAPS, SECRETS, readyChanged, reconcileWith, stalledChanged, type SpecContext, type WriteHealthOptions } from '../../src/runtime/reconcile-kit.js';
import type { ControllerSettings } from '../../src/settings.js';
import type { Evaluation, MigrationControllerOptions, MigrationEnv, MigrationPass } from './pass.js';
import { LintMemo } from './lint.js';
import { TargetGates } from './ahead.js';
import { adminSecretsOf, evaluate, targetNames } from './plan.js';
import { applyRollout } from './rollout.js';
import type { MigrationRuns } from './runs.js';
import { readInputs } from './sources.js';
import { FLUX_RESOURCES } from './flux-sources.js';
import { clean, composeHealth, statusFields } from './status.js';

export const MIGRATIONS = resourceOf('Migration');
export const TENANT_DATABASES = resourceOf('TenantDatabase');
export { CONFIGMAPS, SECRETS };
export { RETRY_ANNOTATION, REPAIR_ANNOTATION, RESOLVE_ANNOTATION, parseResolve } from './sources.js';
export { TRANSIENT_ATTEMPTS, databaseReadiness, isTransientStepError, targetNames } from './plan.js';
export type { MigrationControllerOptions };

/** Progress (Migrating, WaitingForLock) is status, not news; states a person may act on are Events. */
const WRITE: WriteHealthOptions = {
  normalize: clean,
  event: (prev, h) => (readyChanged(prev, h) || stalledChanged(prev, h)) && h.reason !== 'Migrating' && h.reason !== 'WaitingForLock',
};

/** Databases remembered as having the history table (a fleet's, with room; one forgotten costs a round trip). */
const HISTORY_SEEN_MAX = 20_000;

/** At most this long from a run's start, status waits for its set-up to end (see reconcileMigration). */
const SETUP_QUIET_MS = 1_000;

type Kit = SpecContext<MigrationSpec, MigrationStatus>;

async function reconcileMigration(env: MigrationEnv, kit: Kit): Promise<Result> {
  const write = (health: Health, extra: Record<string, unknown> = {}) => kit.writeHealth(health, extra, WRITE);
  const names = targetNames(env.mgr, kit.namespace, kit.spec);
  await kit.readSecrets(adminSecretsOf(env, kit, names));
  const prevDbs = new Map((kit.status.databases ?? []).map((d) => [d.name, d]));
  const gates = new TargetGates({ env, kit, prevDbs });
  gates.ahead(names[0]);
  const read = await readInputs(env, kit);
  const poll = fluxPoll(env, kit.namespace, kit.spec);
  if (!read.ok) {
    await write(read.health);
    return poll ? { requeueAfterMs: poll } : {};
  }
  const pass: MigrationPass = { env, kit, inputs: read.inputs, prevDbs, gates };
  const evals = new Map<string, Evaluation>();
  for (const [i, name] of names.entries()) {
    gates.ahead(names[i + 1]);
    evals.set(name, await evaluate(pass, name));
  }
  await kit.finalizerHeld;
  applyRollout(pass, evals);

  // A run setting up has its two logins and the lock between it and its first statement; a status write
  // now ("starting") would be superseded at once, and costs the API server, the watch and another pass
  // just then (30-40 ms of its set-up on a 2-core machine). The run's first step (or a wait for another
  // runner's lock, or its end) enqueues this Migration, and the status is written then. A pass that
  // takes in an ended run's result (a fleet's next database starting as one ends) writes at once.
  const quiet = [...evals.values()].some((e) => e.consumed) ? undefined : env.runs.settingUp(kit.key, SETUP_QUIET_MS);
  if (quiet !== undefined) return { requeueAfterMs: quiet };

  const selector = kit.spec.databaseSelector !== undefined;
  const dbs = names.map((n) => (evals.get(n) as Evaluation).progress);
  const history = selector || !names[0] ? undefined : evals.get(names[0])?.history;
  const lint = (kit.spec.lint?.mode ?? 'Warn') === 'Off' ? undefined : env.lint.statusOf(kit.key, names);
  const fields = { ...statusFields(dbs, selector, read.inputs.latestVersion, history, read.inputs.formats), lint: lint ?? null };
  await write(composeHealth(dbs, selector, read.inputs.latestVersion), fields);
  for (const [name, e] of evals) if (e.consumed) env.runs.clear(kit.key, name);
  return withPoll(nextLook(env, kit.key, [...evals.values()]), poll);
}

/**
 * A new status.artifact (revision, digest) of a Flux source reaches its Migrations through the watch on
 * Flux's kinds (index.ts). Where that watch has no cache (Flux not installed yet, or its kinds not
 * readable), the Migration looks at its source every sourcePollMs instead: one GET per source and, for
 * an unchanged digest, no fetch.
 */
function fluxPoll(env: MigrationEnv, namespace: string, spec: MigrationSpec): number | undefined {
  const unwatched = (spec.sources ?? []).some((s) => s.sourceRef && !env.mgr.cacheSynced(FLUX_RESOURCES[s.sourceRef.kind], namespace));
  return unwatched ? (env.opts.sourcePollMs ?? 60_000) : undefined;
}

function withPoll(r: Result, poll: number | undefined): Result {
  if (poll === undefined || r.requeue) return r;
  return { ...r, requeueAfterMs: Math.min(r.requeueAfterMs ?? poll, poll) };
}

function nextLook(env: MigrationEnv, key: string, evals: Evaluation[]): Result {
  if (env.runs.activeCount(key) > 0) return { requeueAfterMs: env.opts.progressIntervalMs ?? 2_000 };
  const later = evals.map((e) => e.requeueAfterMs).filter((d): d is number => d !== undefined && d > 0);
  if (later.length > 0) return { requeueAfterMs: Math.min(...later) };
  if (evals.some((e) => e.retryable)) return { requeue: true };
  // A database that is not there or not Ready yet brings this Migration back through the TenantDatabase
  // watch (and the sync period); polling it too would cost every waiting Migration a reconcile each 30 s.
  if (evals.some((e) => e.progress.phase === 'Pending' && e.progress.reason !== 'WaitingForDatabase')) return { requeueAfterMs: 30_000 };
  return {};
}

export function migrationReconciler(mgr: Manager, settings: ControllerSettings, runs: MigrationRuns, opts: MigrationControllerOptions = {}): ReconcileFn {
  const identity = opts.identity ?? `tenantdb-operator@${process.env.POD_NAME ?? os.hostname()}`;
  const env: MigrationEnv = { mgr, azure: settings.azure, runs, conns: postgresConnections(settings.postgres), identity, opts, lint: new LintMemo(), historySeen: new LruMap(HISTORY_SEEN_MAX), artifacts: new ArtifactCache(opts.artifactLimits ?? { ...DEFAULT_ARTIFACT_LIMITS, origin: settings.sourceArtifactOrigin ?? DEFAULT_ARTIFACT_LIMITS.origin }) };
  let watchingShutdown = false;
  return reconcileWith<MigrationSpec, MigrationStatus>(mgr, {
    kind: 'Migration',
    validate: validateMigration,
    action: 'Migrate',
    gone: (key) => {
      env.lint.forget(key);
      return runs.abortAll(key);
    },
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
    reconcile: (kit) => reconcileMigration(env, kit),
    // The pass reads the sources and the history before it starts anything (a run waits for it).
    finalizerAlongside: true,
  });
}

export type { RunResult, Step };
