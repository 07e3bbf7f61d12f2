// A maintenance run's result as status (per task counts, skipped and deferred objects with why), as the
// Maintained condition (informational: maintenance never decides Ready) and as metrics.
import { Counter, Histogram } from 'prom-client';
import { MAINTENANCE_TASKS, type MaintenanceNote, type MaintenanceRunStatus, type MaintenanceTask } from '../../../src/api/maintenance.js';
import type { RunOutcome } from '../../../src/postgres/maintenance/run.js';
import { metricsRegistry } from '../../../src/runtime/metrics.js';
import type { PartCondition } from '../context.js';
import type { MaintenanceRun } from './runs.js';

export const CONDITION = 'Maintained';
const MAX_NOTES = 50;

const runsTotal = new Counter({ name: 'tenantdb_maintenance_runs_total', help: 'Maintenance runs that ended, by outcome', labelNames: ['outcome'] as const, registers: [metricsRegistry] });
const statementsTotal = new Counter({
  name: 'tenantdb_maintenance_statements_total',
  help: 'Maintenance statements by task and outcome (done, skipped, deferred)',
  labelNames: ['task', 'outcome'] as const,
  registers: [metricsRegistry],
});
const runSeconds = new Histogram({
  name: 'tenantdb_maintenance_run_duration_seconds',
  help: 'How long maintenance runs took',
  buckets: [1, 10, 60, 300, 900, 1800, 3600, 7200, 14400],
  registers: [metricsRegistry],
});

type Counts = { done: number; skipped: number; deferred: number };

function tally(outcome: RunOutcome): Partial<Record<MaintenanceTask, Counts>> {
  const tasks: Partial<Record<MaintenanceTask, Counts>> = {};
  const add = (t: MaintenanceTask, k: keyof Counts) => {
    const c = (tasks[t] ??= { done: 0, skipped: 0, deferred: 0 });
    c[k]++;
  };
  for (const r of outcome.results) {
    add(r.step.task, r.outcome);
    if (r.step.also) add(r.step.also, r.outcome);
  }
  for (const n of outcome.notes) if (n.reason.startsWith('skipped')) add(n.task, 'skipped');
  return tasks;
}

function notesOf(outcome: RunOutcome): MaintenanceNote[] {
  const notes: MaintenanceNote[] = outcome.notes.map((n) => ({ task: n.task, object: n.object, reason: n.reason }));
  for (const r of outcome.results) {
    if (r.outcome !== 'done') notes.push({ task: r.step.task, object: r.step.object, reason: `${r.outcome}: ${r.reason ?? ''}` });
    else if (r.step.note && r.step.task === 'refreshMaterializedViews') notes.push({ task: r.step.task, object: r.step.object, reason: r.step.note });
  }
  return notes.slice(0, MAX_NOTES).map((n) => ({ ...n, object: n.object.slice(0, 300), reason: n.reason.slice(0, 600) }));
}

/** What status records of an ended run. */
export function runStatus(run: MaintenanceRun): MaintenanceRunStatus {
  const r = run.result!;
  const base = {
    trigger: run.trigger,
    startedAt: run.startedAt.toISOString(),
    finishedAt: r.finishedAt.toISOString(),
    durationSeconds: Math.round((r.finishedAt.getTime() - run.startedAt.getTime()) / 100) / 10,
  };
  if ('error' in r) return { ...base, outcome: 'Failed', message: r.error.slice(0, 1024) };
  if (r.outcome.busy) return { ...base, outcome: 'Busy', message: 'another session held the maintenance lock of this database; nothing ran' };
  const tasks = tally(r.outcome);
  const notes = notesOf(r.outcome);
  const partial = r.outcome.results.some((x) => x.outcome !== 'done');
  return { ...base, outcome: partial ? 'Partial' : 'Succeeded', tasks, ...(notes.length ? { notes } : {}) };
}

export function recordMetrics(s: MaintenanceRunStatus): void {
  runsTotal.inc({ outcome: s.outcome });
  runSeconds.observe(s.durationSeconds);
  for (const t of MAINTENANCE_TASKS) {
    const c = s.tasks?.[t];
    if (!c) continue;
    for (const k of ['done', 'skipped', 'deferred'] as const) if (c[k]) statementsTotal.inc({ task: t, outcome: k }, c[k]);
  }
}

/** One line a person reads: counts per task. */
export function summary(s: MaintenanceRunStatus): string {
  if (s.outcome === 'Failed' || s.outcome === 'Busy') return s.message ?? s.outcome;
  const parts = MAINTENANCE_TASKS.filter((t) => s.tasks?.[t]).map((t) => {
    const c = s.tasks![t]!;
    return `${t} ${c.done} done${c.skipped ? `, ${c.skipped} skipped` : ''}${c.deferred ? `, ${c.deferred} deferred` : ''}`;
  });
  return `${parts.length ? parts.join('; ') : 'nothing passed a threshold'} in ${s.durationSeconds} s`;
}

export function condition(last: MaintenanceRunStatus | undefined, running: MaintenanceRun | undefined, next: string | undefined): PartCondition {
  const base = { type: CONDITION, informational: true };
  if (running && !running.result) return { ...base, ok: true, reason: 'Running', message: `a run (${running.trigger}) started at ${running.startedAt.toISOString()}` };
  if (!last) return { ...base, ok: true, reason: 'Scheduled', message: next ? `no run yet; the first is due at ${next}` : 'no run yet' };
  const text = `last run (${last.trigger}) at ${last.startedAt}: ${summary(last)}`;
  if (last.outcome === 'Succeeded') return { ...base, ok: true, reason: 'Succeeded', message: text };
  return { ...base, ok: false, reason: last.outcome, message: last.outcome === 'Partial' ? `${text}; status.maintenance.lastRun.notes says which and why` : text };
}
