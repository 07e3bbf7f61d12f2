// TenantDatabase maintenance: the weekly job of the reference documents (VACUUM ANALYZE, statistics,
// REINDEX, materialized views kept fresh) declared on the database it keeps in shape. It lives on the
// TenantDatabase rather than in a kind of its own because it needs nothing a TenantDatabase does not
// already hold (the server, the owner role it runs as, the database) and belongs to exactly one of them:
// a separate kind would add a reference, an ownership question and a second status to read.
import { z } from 'zod';
import { listMap, withRules } from './cel.js';
import { cronSchedule, isoDuration, sqlIdentifier } from './fields.js';
import { timestampField } from './status.js';

/** Sunday 03:00 UTC, the reference documents' weekly timer. */
export const DEFAULT_MAINTENANCE_SCHEDULE = '0 3 * * 0';
/** Annotation whose new value asks for one run now (GitOps: change the value to run again). */
export const RUN_MAINTENANCE_ANNOTATION = 'tenantdb.io/run-maintenance';

const materializedViewSchema = z
  .object({
    schema: sqlIdentifier('Schema of the materialized view.').default('public'),
    name: sqlIdentifier('The materialized view.'),
  })
  .describe('A materialized view refreshed on each run (CONCURRENTLY when a unique index allows it).');

export const maintenanceSpecSchema = withRules(
  z
    .object({
      schedule: cronSchedule('When a run starts: five-field cron in UTC or @daily, @weekly...; a run missed while the operator was down runs once at its next start.').default(
        DEFAULT_MAINTENANCE_SCHEDULE,
      ),
      window: isoDuration('How long a run may take (ISO-8601, e.g. PT2H); a statement still running at its end is cancelled and the rest is reported as deferred.').default('PT2H'),
      lockTimeout: isoDuration('How long each statement may wait for its lock (lock_timeout) before it is skipped and reported.').default('PT5S'),
      suspend: z.boolean().default(false).describe('Pause scheduled runs (a run asked for with the tenantdb.io/run-maintenance annotation still runs).'),
      analyze: z
        .object({ minModifiedRows: z.int().min(0).max(2_000_000_000).default(1000).describe('ANALYZE tables with at least this many rows changed since their last analyze.') })
        .optional()
        .describe('Refresh planner statistics.'),
      vacuum: z
        .object({ minDeadTuples: z.int().min(0).max(2_000_000_000).default(1000).describe('VACUUM tables with at least this many dead tuples (never VACUUM FULL).') })
        .optional()
        .describe('Reclaim dead tuples.'),
      reindex: z
        .object({
          minBloatPercent: z.int().min(1).max(99).default(30).describe('REINDEX CONCURRENTLY B-tree indexes whose estimated bloat is at least this percentage; invalid indexes are always rebuilt.'),
          minIndexPages: z.int().min(1).max(2_000_000_000).default(128).describe('Indexes smaller than this many pages are left alone (their estimate is noise).'),
        })
        .optional()
        .describe('Rebuild bloated and invalid indexes.'),
      refreshMaterializedViews: listMap(z.array(materializedViewSchema).max(64).describe('Materialized views refreshed on each run, in this order.'), ['schema', 'name']).optional(),
    })
    .describe('Scheduled maintenance inside the database, run as its owner role.'),
  [
    {
      rule: 'has(self.analyze) || has(self.vacuum) || has(self.reindex) || (has(self.refreshMaterializedViews) && size(self.refreshMaterializedViews) > 0)',
      message: 'maintenance needs at least one task: analyze, vacuum, reindex or refreshMaterializedViews',
      check: (m) => Boolean(m.analyze || m.vacuum || m.reindex || (m.refreshMaterializedViews?.length ?? 0) > 0),
    },
  ],
);

export const MAINTENANCE_TASKS = ['analyze', 'vacuum', 'reindex', 'refreshMaterializedViews'] as const;
export type MaintenanceTask = (typeof MAINTENANCE_TASKS)[number];

const taskCountsSchema = z
  .object({
    done: z.int().min(0).describe('Statements that ran to the end.'),
    skipped: z.int().min(0).describe('Statements skipped (lock not granted in time, or not possible).'),
    deferred: z.int().min(0).describe('Statements left for the next run (the window ended).'),
  })
  .describe('Statement counts of one task.');

const objectNoteSchema = z
  .object({
    task: z.enum(MAINTENANCE_TASKS).describe('The task.'),
    object: z.string().max(300).describe('The object, as SQL names it.'),
    reason: z.string().max(600).describe('Why.'),
  })
  .describe('An object a task skipped, deferred, or treated differently.');

export const maintenanceStatusSchema = z
  .object({
    nextRun: timestampField('When the next scheduled run is due.').optional(),
    lastRequest: z.string().max(128).optional().describe('Value of the tenantdb.io/run-maintenance annotation last acted on.'),
    lastRun: z
      .object({
        trigger: z.string().max(160).describe('schedule, or request=<annotation value>.'),
        startedAt: timestampField('When the run started.'),
        finishedAt: timestampField('When the run ended.'),
        durationSeconds: z.number().min(0).describe('How long it took.'),
        outcome: z.enum(['Succeeded', 'Partial', 'Failed', 'Busy']).describe('Succeeded: every statement ran; Partial: some were skipped or deferred; Failed: see message; Busy: another run held the database.'),
        message: z.string().max(1024).optional().describe('What went wrong, when something did.'),
        tasks: z
          .object({ analyze: taskCountsSchema.optional(), vacuum: taskCountsSchema.optional(), reindex: taskCountsSchema.optional(), refreshMaterializedViews: taskCountsSchema.optional() })
          .optional()
          .describe('Per task counts.'),
        notes: z.array(objectNoteSchema).max(50).optional().describe('Objects skipped or deferred, with why; views refreshed without CONCURRENTLY (the first 50).'),
      })
      .optional()
      .describe('The last run that ended.'),
  })
  .describe('Scheduled maintenance: the next run and the last one.');

export type MaintenanceSpec = z.infer<typeof maintenanceSpecSchema>;
export type MaintenanceStatus = z.infer<typeof maintenanceStatusSchema>;
export type MaintenanceRunStatus = NonNullable<MaintenanceStatus['lastRun']>;
export type MaintenanceNote = NonNullable<MaintenanceRunStatus['notes']>[number];
