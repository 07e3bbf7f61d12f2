// Step 4's action for one database: a run of the pending steps as a tracked background task (runs.ts).
// The reconcile only starts it; the run reports progress into its record, records metrics and Events,
// and its end enqueues the Migration again.
import type { PlanOptions } from '../../src/migrations/plan.js';
import { appliedVersionOf } from '../../src/migrations/plan.js';
import { runMigration, type GateVerdict, type RunResult, type StepFailure, type StepResult } from '../../src/postgres/migrations/runner.js';
import { warmUpParser } from '../../src/postgres/migrations/split.js';
import { migrationRunsInProgress, migrationRunsTotal, migrationStepDuration, migrationStepsTotal } from './metrics.js';
import type { Evaluation, MigrationPass } from './pass.js';
import type { AdminTarget } from './plan.js';
import type { Run } from './runs.js';
import { StepEvents, type EmitFn } from './step-events.js';
import { resourceOf } from '../../src/api/resources.js';
import { tenancyInputOf, tenantDatabaseSpecOf } from '../../src/tenantdatabase/index.js';
import { describeFailure } from './status.js';

/** Status reason and message of a run in progress. */
export function runningMessage(run: Run): { reason: string; message: string } {
  const p = run.progress;
  if (p.state === 'waiting-for-lock') return { reason: 'WaitingForLock', message: `waiting for the migration lock, held by ${p.lockHolder ?? 'another runner'}` };
  if (p.state === 'connecting') return { reason: 'Migrating', message: `starting: ${p.total} step${p.total === 1 ? '' : 's'} pending` };
  return { reason: 'Migrating', message: `running step ${p.current ?? '?'} (${Math.min(p.done + 1, p.total)} of ${p.total})` };
}

/** The Event that closes a run: migrated, or stopped at a step. */
function reportEnd(event: EmitFn, name: string, r: RunResult, ms: number): void {
  if (r.outcome === 'succeeded') {
    const n = r.steps.length;
    const maintenance = r.maintenance.length ? `; ${r.maintenance.join('; ')}` : '';
    void event('Normal', 'Migrated', `${name} migrated to version ${appliedVersionOf(r.history) ?? 'none'}: ${n} step${n === 1 ? '' : 's'} in ${ms} ms${maintenance}`);
  } else if (r.outcome === 'failed') void event('Warning', 'MigrationFailed', `${name}: migration stopped at step ${r.failure.version} after ${r.steps.length - 1} applied`);
}

/** A function that starts the run of `pending` steps on database `name` (called by the rollout when a slot is free). */
export function runStarter(pass: MigrationPass, name: string, t: AdminTarget, pending: number, plan: PlanOptions, started: Run['started']): NonNullable<Evaluation['start']> {
  const { env, kit, inputs } = pass;
  const { spec } = kit;
  const asOwner = spec.runAs === 'owner';
  const td = env.mgr.getCached(resourceOf('TenantDatabase'), kit.namespace, name);
  const tdSpec = td ? tenantDatabaseSpecOf(td) : undefined;
  const runInput = {
    migration: kit.key,
    steps: inputs.steps,
    plan,
    ...(spec.adopt ? { adopt: { ...spec.adopt, readerRole: asOwner ? t.ownerRole : t.target.user } } : {}),
    runAsRole: asOwner ? t.ownerRole : undefined,
    ...(asOwner && t.ownerLogin ? { ownerLogin: t.ownerLogin } : {}),
    tenancy: tdSpec ? tenancyInputOf(tdSpec) : undefined,
    lockTimeout: spec.lockTimeout,
    statementTimeout: spec.statementTimeout,
    appliedBy: `${env.identity} as ${asOwner ? t.ownerRole : t.target.user}`,
    ...(env.opts.lockPollMs !== undefined ? { lockPollMs: env.opts.lockPollMs } : {}),
  };
  const labels = { namespace: kit.namespace, migration: kit.name };
  const event: EmitFn = (type, reason, note) => kit.event(type, reason, note);
  const stepDone = (stepEvents: StepEvents) => (res: StepResult, f?: StepFailure) => {
    const l = { ...labels, direction: res.direction, result: res.ok ? 'succeeded' : 'failed' };
    migrationStepsTotal.inc(l);
    migrationStepDuration.observe(l, res.durationMs / 1000);
    if (res.ok) stepEvents.add(res);
    else if (f) void event('Warning', 'StepFailed', `${name}: ${describeFailure({ ...f })}`);
  };
  return (lint) =>
    env.runs.start(kit.key, name, started, pending, async (run, signal) => {
      migrationRunsInProgress.inc(labels);
      const t0 = performance.now();
      const stepEvents = new StepEvents(name, event);
      const onStepDone = stepDone(stepEvents);
      try {
        // The SQL parser is loaded on the first run while the run makes its sessions, and waited for
        // with the lint's verdict before the first action, so no step's clock includes loading it (a
        // failure to load is reported by the step that needs it).
        const parser = warmUpParser().catch(() => undefined);
        const gate = async (): Promise<GateVerdict> => {
          await parser;
          return lint?.gate ? lint.gate() : { ok: true };
        };
        let reported: Promise<unknown> | undefined;
        const r = await runMigration(env.conns, t.target, { ...runInput, gate, signal }, {
          onLockWait: (holder) => {
            const first = run.progress.state !== 'waiting-for-lock';
            Object.assign(run.progress, { state: 'waiting-for-lock', lockHolder: holder });
            if (first) env.runs.news(kit.key, run);
          },
          onLocked: () => Object.assign(run.progress, { state: 'running', lockHolder: undefined }),
          onStepStart: (s) => {
            const first = run.progress.current === undefined;
            run.progress.current = s.version;
            reported ??= lint?.report?.();
            if (first) env.runs.news(kit.key, run);
          },
          onStepDone: (res, f) => {
            run.progress.done++;
            onStepDone(res, f);
          },
        });
        await (reported ?? lint?.report?.());
        migrationRunsTotal.inc({ ...labels, outcome: r.outcome });
        await stepEvents.flush();
        reportEnd(event, name, r, Math.round(performance.now() - t0));
        return r;
      } catch (err) {
        migrationRunsTotal.inc({ ...labels, outcome: 'error' });
        throw err;
      } finally {
        migrationRunsInProgress.dec(labels);
      }
    });
}
