// BackupPolicy: point-in-time-restore retention, scheduled on-demand backups, and restore drills that
// prove a backup can be restored and holds what it should.
import { z } from 'zod';
import { immutable, listMap, withRules } from './cel.js';
import { KINDS } from './kinds.js';
import { cronSchedule, databaseRef, isoDuration } from './fields.js';
import { AGE_COLUMN, READY_COLUMNS, kindObjectSchema, validateWith, type KindDefinition } from './object.js';
import { armOperationSchema } from './arm-operation.js';
import { statusBaseShape, timestampField } from './status.js';

export const DRILL_CHECK_SQL_MAX = 16384;

const drillCheckSchema = z
  .object({
    name: z
      .string()
      .min(1)
      .max(63)
      .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/)
      .describe('Name of the check (lower-case letters, digits, _ and -).'),
    sql: z
      .string()
      .min(1)
      .max(DRILL_CHECK_SQL_MAX)
      .describe('Read-only query run against the restored copy (in a READ ONLY transaction, as the owner role).'),
    expectRowsAtLeast: z.int().min(0).max(1_000_000_000).default(1).describe('The check passes when the query returns at least this many rows.'),
  })
  .describe('A query that must succeed on the restored copy.');

export const backupPolicySpecSchema = z
  .object({
    databaseRef: databaseRef(),
    retentionDays: z.int().min(7).max(35).default(7).describe('Days of point-in-time-restore backups to keep (7-35).'),
    geoRedundant: immutable(
      z.boolean().default(false).describe('Keep backups in the paired region; fixed when the server is created, so immutable here.'),
      'geoRedundant',
    ),
    onDemand: z
      .object({
        schedule: cronSchedule('When to take an on-demand backup: five-field cron (UTC) or @daily, @weekly...'),
        keep: z.int().min(1).max(100).default(7).describe('Number of on-demand backups to keep; older ones are deleted.'),
      })
      .describe('Scheduled on-demand (long-term) backups on top of the automatic ones.')
      .optional(),
    restoreDrill: withRules(
      z
        .object({
          schedule: cronSchedule('When to run the drill: five-field cron (UTC) or @daily, @weekly...'),
          checks: listMap(z.array(drillCheckSchema).min(1).max(32).describe('Queries that must pass on the restored copy.'), ['name']),
          timeout: isoDuration('How long the restore and checks may take (ISO-8601, e.g. PT1H) before the drill fails.').default('PT1H'),
          kind: z
            .enum(['PointInTimeRestore', 'GeoRestore'])
            .default('PointInTimeRestore')
            .describe('PointInTimeRestore restores in the server\'s region; GeoRestore restores the geo-redundant backup copy into another region (region-failure drill; needs geoRedundant).'),
          location: z
            .string()
            .min(1)
            .max(64)
            .regex(/^[a-z0-9]+$/)
            .optional()
            .describe('Region the GeoRestore drill creates its throw-away server in (Azure allows the paired region of the server).'),
        })
        .describe('A periodic restore to a throw-away server, checked and then deleted.'),
      [
        {
          rule: "self.kind != 'GeoRestore' || has(self.location)",
          message: 'a GeoRestore drill needs location (the region to restore into)',
          fieldPath: '.location',
          check: (d) => d.kind !== 'GeoRestore' || d.location !== undefined,
        },
      ],
    ).optional(),
    suspend: z.boolean().default(false).describe('Pause scheduled backups and drills (retention still applies).'),
  })
  .describe('Desired state of a backup policy.');

export const backupRecordSchema = z
  .object({
    name: z.string().max(128).describe('Name of the backup.'),
    startedAt: timestampField('When the backup started.').optional(),
    completedAt: timestampField('When the backup completed.').optional(),
    state: z.enum(['Running', 'Succeeded', 'Failed']).optional().describe('Outcome.'),
  })
  .describe('An on-demand backup.');

export const drillRecordSchema = z
  .object({
    startedAt: timestampField('When the drill started.').optional(),
    completedAt: timestampField('When the drill finished.').optional(),
    result: z.enum(['Running', 'Passed', 'Failed']).optional().describe('Outcome of the drill.'),
    restorePoint: timestampField('Point in time that was restored.').optional(),
    durationSeconds: z.int().min(0).max(Number.MAX_SAFE_INTEGER).optional().describe('Time the restore and checks took.'),
    failedChecks: z.array(z.string().max(63)).max(32).optional().describe('Names of checks that failed.'),
    message: z.string().max(4096).optional().describe('Details of a failure.'),
    runId: z.string().max(64).optional().describe('Identifier of the run (part of the throw-away server name).'),
    trigger: z.string().max(128).optional().describe('What started the drill: schedule, or the tenantdb.io/run-drill annotation value.'),
    serverName: z.string().max(63).optional().describe('Throw-away server the drill restores to; deleted when the drill ends.'),
    phase: z.enum(['Restoring', 'Checking', 'CleaningUp', 'Done']).optional().describe('Step the drill is in (a restarted operator resumes from here).'),
    pendingResult: z.enum(['Passed', 'Failed']).optional().describe('Outcome decided before the throw-away server is deleted.'),
    markerAt: timestampField('When the marker row was written on the source before restoring.').optional(),
    rtoSeconds: z.number().min(0).max(1e9).optional().describe('Recovery time measured: from the restore request to the checks passed.'),
    rpoSeconds: z.number().min(0).max(1e9).optional().describe('Recovery point measured: how far the restored copy was behind the source (restore request minus the newest marker or replayed commit found in the copy).'),
    kind: z.enum(['PointInTimeRestore', 'GeoRestore']).optional().describe('Kind of restore the drill ran.'),
    location: z.string().max(64).optional().describe('Region of the throw-away server.'),
  })
  .describe('A restore drill.');

export const backupPolicyStatusSchema = z
  .object({
    ...statusBaseShape,
    earliestRestoreTime: timestampField('Earliest point in time a restore can go back to.').optional(),
    lastBackup: backupRecordSchema.optional(),
    nextBackupTime: timestampField('When the next on-demand backup is due.').optional(),
    lastDrill: drillRecordSchema.optional(),
    nextDrillTime: timestampField('When the next restore drill is due.').optional(),
    retentionDays: z.int().min(0).max(100).optional().describe('Backup retention the server reports.'),
    handledBackupRequest: z.string().max(128).optional().describe('Last tenantdb.io/run-backup annotation value acted on.'),
    handledDrillRequest: z.string().max(128).optional().describe('Last tenantdb.io/run-drill annotation value acted on.'),
    operation: armOperationSchema.optional().describe('Backup retention change in flight on the server (resumed after a restart).'),
  })
  .describe('Observed state of the backup policy.');

export const backupPolicySchema = kindObjectSchema('BackupPolicy', backupPolicySpecSchema, backupPolicyStatusSchema);

export type BackupPolicySpec = z.infer<typeof backupPolicySpecSchema>;
export type BackupPolicyStatus = z.infer<typeof backupPolicyStatusSchema>;
export type BackupPolicy = z.infer<typeof backupPolicySchema>;
export type BackupRecord = z.infer<typeof backupRecordSchema>;
export type DrillRecord = z.infer<typeof drillRecordSchema>;

export function validateBackupPolicy(input: unknown) {
  return validateWith('BackupPolicy', backupPolicySchema, input);
}

export const backupPolicyKind: KindDefinition = {
  info: KINDS.BackupPolicy,
  description: 'Backup retention, scheduled on-demand backups and restore drills for a TenantDatabase.',
  spec: backupPolicySpecSchema,
  status: backupPolicyStatusSchema,
  categories: ['tenantdb'],
  printerColumns: [
    ...READY_COLUMNS,
    { name: 'Database', type: 'string', jsonPath: '.spec.databaseRef.name', description: 'Target TenantDatabase.' },
    { name: 'Retention', type: 'integer', jsonPath: '.spec.retentionDays', description: 'Days of backups kept.' },
    { name: 'Schedule', type: 'string', jsonPath: '.spec.onDemand.schedule', description: 'On-demand backup schedule.' },
    { name: 'Last Backup', type: 'date', jsonPath: '.status.lastBackup.completedAt', description: 'When the last backup completed.' },
    { name: 'Drill', type: 'string', jsonPath: '.status.lastDrill.result', description: 'Result of the last restore drill.' },
    { name: 'Suspended', type: 'boolean', jsonPath: '.spec.suspend', description: 'Whether schedules are paused.', priority: 1 },
    AGE_COLUMN,
  ],
};
