// The maintenance part: starts a run when one is due (the schedule, once per missed slot however many
// were missed, as systemd's Persistent=true; or a new tenantdb.io/run-maintenance value), runs it in the
// background (runs.ts; the worker returns at once), and records its result in status.maintenance, the
// Maintained condition (informational), an Event and metrics. The SQL is src/postgres/maintenance/.
import { RUN_MAINTENANCE_ANNOTATION, type MaintenanceRunStatus, type MaintenanceSpec, type MaintenanceStatus } from '../../../src/api/maintenance.js';
import { isoDurationSeconds } from '../../../src/api/fields.js';
import { postgresConnections } from '../../../src/postgres/connections.js';
import { runMaintenance } from '../../../src/postgres/maintenance/run.js';
import { decide } from '../../../src/runtime/schedule.js';
import { databaseTarget, type DatabasePart, type PartOutcome, type ServerConnection, type TenantDatabaseContext } from '../context.js';
import { CONDITION, condition, recordMetrics, runStatus, summary } from './outcome.js';
import { MaintenanceRuns, type MaintenanceRun } from './runs.js';

/** Timers past this are cut short: the pass comes back and computes again (Node timers top out at ~24 days). */
const MAX_WAIT_MS = 6 * 3600_000;

export interface MaintenancePart extends DatabasePart {
  runs: MaintenanceRuns;
}

export function maintenancePart(runs = new MaintenanceRuns()): MaintenancePart {
  return {
    name: 'maintenance',
    runs,
    applies: (spec) => spec.maintenance !== undefined,
    reconcile: (ctx, conn) => reconcile(runs, ctx, conn),
    bind: (enqueue) => runs.bind(enqueue),
    report: { condition: CONDITION, status: 'maintenance' },
    // Maintenance taken out of the spec: a run in progress stops at its next statement.
    retire: async (ctx) => runs.stop(keyOf(ctx)),
    finalize: async (ctx) => {
      await runs.stop(keyOf(ctx));
      return { done: true };
    },
  };
}

const keyOf = (ctx: TenantDatabaseContext) => `${ctx.namespace}/${ctx.name}`;

/** A merge patch replaces lastRun whole: fields the new run lacks are removed, not kept from the old. */
function replacing(s: MaintenanceRunStatus): Record<string, unknown> {
  const tasks = { analyze: null, vacuum: null, reindex: null, refreshMaterializedViews: null, ...(s.tasks ?? {}) };
  return { message: null, notes: null, ...s, tasks };
}

async function recordEnded(ctx: TenantDatabaseContext, runs: MaintenanceRuns, run: MaintenanceRun, out: Record<string, unknown>): Promise<MaintenanceRunStatus> {
  const s = runStatus(run);
  if (ctx.status.maintenance?.lastRun?.startedAt === s.startedAt) {
    runs.clear(keyOf(ctx));
    return s;
  }
  out.lastRun = replacing(s);
  if (run.recorded) return s;
  run.recorded = true;
  recordMetrics(s);
  await ctx.event(s.outcome === 'Succeeded' ? 'Normal' : 'Warning', `Maintenance${s.outcome}`, `maintenance (${s.trigger}): ${summary(s)}`);
  return s;
}

function start(ctx: TenantDatabaseContext, runs: MaintenanceRuns, conn: ServerConnection, spec: MaintenanceSpec, trigger: string): MaintenanceRun {
  const windowMs = (isoDurationSeconds(spec.window) ?? 7200) * 1000;
  const lockTimeoutMs = (isoDurationSeconds(spec.lockTimeout) ?? 5) * 1000;
  const owner = ctx.spec.roles.owner;
  const log = ctx.log.child({ part: 'maintenance' });
  return runs.start(keyOf(ctx), trigger, async (signal) => {
    const deadline = Date.now() + windowMs;
    const conns = postgresConnections(ctx.settings.postgres);
    const target = databaseTarget(conn, ctx.spec.database.name);
    const client = await conns.connect(target, { statementTimeoutMs: windowMs });
    // Stopped (the object is being deleted): the statement in progress is cancelled, not waited for.
    const pid = (client as unknown as { processID?: number }).processID;
    signal.addEventListener('abort', () => void conns.withClient(target, (c) => c.query('SELECT pg_cancel_backend($1)', [pid])).catch(() => undefined), { once: true });
    try {
      return await runMaintenance(client, { owner, spec, lockTimeoutMs, deadline, signal, onStatement: (sql) => log.info({ sql }, 'maintenance statement') });
    } finally {
      await client.end().catch(() => undefined);
    }
  });
}

async function reconcile(runs: MaintenanceRuns, ctx: TenantDatabaseContext, conn: ServerConnection): Promise<PartOutcome> {
  const spec = ctx.spec.maintenance!;
  const prev: MaintenanceStatus = ctx.status.maintenance ?? {};
  const out: Record<string, unknown> = {};
  let run = runs.get(keyOf(ctx));
  let ended: MaintenanceRunStatus | undefined;
  if (run?.result) {
    ended = await recordEnded(ctx, runs, run, out);
    run = undefined;
  }

  const now = new Date();
  let sched;
  try {
    sched = decide(spec.schedule, prev.nextRun ? new Date(prev.nextRun) : undefined, now);
  } catch (err) {
    const message = `schedule ${spec.schedule}: ${(err as Error).message}`;
    await ctx.event('Warning', 'InvalidSchedule', message);
    return { condition: { type: 'Maintained', ok: false, informational: true, reason: 'InvalidSchedule', message }, status: { maintenance: { ...out, nextRun: null } } };
  }
  out.nextRun = spec.suspend ? null : sched.next.toISOString();
  const asked = ctx.obj.metadata.annotations?.[RUN_MAINTENANCE_ANNOTATION];
  const byRequest = asked !== undefined && asked !== prev.lastRequest;
  if (!run && (byRequest || (sched.due && !spec.suspend))) {
    if (byRequest) out.lastRequest = asked;
    run = start(ctx, runs, conn, spec, byRequest ? `request=${asked}` : 'schedule');
  }
  const last = ended ?? prev.lastRun;
  const wait = spec.suspend ? undefined : Math.min(MAX_WAIT_MS, Math.max(1000, sched.next.getTime() - now.getTime()));
  return { condition: condition(last, run, spec.suspend ? undefined : (out.nextRun as string)), status: { maintenance: out }, ...(wait !== undefined ? { requeueAfterMs: wait } : {}) };
}
