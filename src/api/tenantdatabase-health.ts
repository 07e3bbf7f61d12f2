// TenantDatabase health (issue 17): spec.health opts in to a periodic report of the server and database
// figures a person acts on (storage, connections, long transactions, replication lag, xid wraparound,
// backups, the most expensive statements), and status.health holds the last report. Threshold defaults
// and their sources: README "Health".
import { z } from 'zod';
import { timestampField } from './status.js';

/** Threshold defaults; the code fills them in when spec.health.thresholds (or a field of it) is absent. */
export const HEALTH_THRESHOLD_DEFAULTS = {
  /** Reference documents (002: "Storage Critical (>80% full)"). */
  storagePercent: 80,
  /** Reference documents (002: "Replication Lag (>5 minutes)"). */
  replicationLagSeconds: 300,
  /** Reference documents (002: "Verify backup count (minimum 7 days)"); also Azure's minimum retention. */
  backupRetentionDays: 7,
  /** Ours: 80% of max_connections, the same margin as the storage alert. */
  connectionsPercent: 80,
  /** Ours: a transaction open for an hour holds back vacuum on every table of the server. */
  transactionAgeSeconds: 3600,
  /** Ours: below 500 million transaction ids left before wraparound (PostgreSQL stops writes at 3 million). */
  wraparoundHeadroomXids: 500_000_000,
} as const;

export const HEALTH_PERIOD_DEFAULT_SECONDS = 300;
export const HEALTH_TOP_STATEMENTS_DEFAULT = 5;

const thresholdsSchema = z
  .object({
    storagePercent: z.number().min(0).max(100).default(HEALTH_THRESHOLD_DEFAULTS.storagePercent).describe('Unhealthy when more than this percent of the provisioned storage is used (Azure servers).'),
    replicationLagSeconds: z.int().min(1).max(86400).default(HEALTH_THRESHOLD_DEFAULTS.replicationLagSeconds).describe('Unhealthy when a replica replays more than this many seconds behind, or does not stream.'),
    backupRetentionDays: z.int().min(1).max(35).default(HEALTH_THRESHOLD_DEFAULTS.backupRetentionDays).describe('Unhealthy when Azure keeps backups for fewer days, or has none (Azure servers).'),
    connectionsPercent: z.number().min(1).max(100).default(HEALTH_THRESHOLD_DEFAULTS.connectionsPercent).describe('Unhealthy when more than this percent of max_connections is in use.'),
    transactionAgeSeconds: z.int().min(1).max(604800).default(HEALTH_THRESHOLD_DEFAULTS.transactionAgeSeconds).describe('Unhealthy when a transaction has been open longer than this.'),
    wraparoundHeadroomXids: z
      .int()
      .min(0)
      .max(2_147_483_647)
      .default(HEALTH_THRESHOLD_DEFAULTS.wraparoundHeadroomXids)
      .describe('Unhealthy when fewer transaction ids than this are left before wraparound in some database of the server.'),
  })
  .describe('When the Healthy condition turns False; each field defaults as documented in the README (Health).');

export const healthSpecSchema = z
  .object({
    periodSeconds: z.int().min(30).max(86400).default(HEALTH_PERIOD_DEFAULT_SECONDS).describe('How often the figures are read (seconds, at least 30).'),
    topStatements: z.int().min(0).max(20).default(HEALTH_TOP_STATEMENTS_DEFAULT).describe('How many statements (by total time, from pg_stat_statements) to report; 0 reads none.'),
    thresholds: thresholdsSchema.optional(),
  })
  .describe('Opt in to health figures in status.health and the Healthy condition; absent: no health checks.');

const statementSchema = z
  .object({
    query: z.string().max(512).describe('Normalised statement text as pg_stat_statements keeps it (constants replaced by $n), truncated.'),
    calls: z.int().min(0).describe('Times executed.'),
    totalTimeMs: z.int().min(0).describe('Total execution time in milliseconds.'),
    meanTimeMs: z.number().min(0).describe('Mean execution time in milliseconds (one decimal).'),
  })
  .describe('A statement by total execution time.');

const replicaHealthSchema = z
  .object({
    name: z.string().max(63).describe('Replica (its application name on the primary, the server name on Azure) or its replication slot.'),
    slot: z.string().max(63).optional().describe('Physical replication slot on the primary it streams from (or that waits for it).'),
    streaming: z.boolean().describe('Whether the replica is connected and streaming.'),
    state: z.string().max(32).optional().describe('WAL sender state (streaming, catchup...), absent when not connected.'),
    lagSeconds: z.int().min(0).optional().describe('Replay lag in seconds as the primary measures it.'),
    lagMiB: z.int().min(0).optional().describe('WAL not yet replayed (or retained by its slot when not connected), in MiB.'),
  })
  .describe('Replication to one replica.');

export const healthStatusSchema = z
  .object({
    checkedAt: timestampField('When the figures were read (written only together with a change of a figure).').optional(),
    storage: z
      .object({
        usedMiB: z.int().min(0).describe('Sum of the sizes of the server databases (pg_database_size), MiB.'),
        provisionedMiB: z.int().min(0).optional().describe('Storage provisioned for the server (Azure storage.storageSizeGB), MiB.'),
        percentUsed: z.number().min(0).optional().describe('usedMiB / provisionedMiB in percent, one decimal.'),
      })
      .optional()
      .describe('Storage of the server.'),
    connections: z
      .object({
        inUse: z.int().min(0).describe("Client connections to the server, not counting the operator's own."),
        max: z.int().min(0).describe('max_connections of the server.'),
        percentUsed: z.number().min(0).describe('inUse / max in percent, one decimal.'),
      })
      .optional()
      .describe('Connections of the server.'),
    oldestTransactionAgeSeconds: z.int().min(0).optional().describe('Age of the oldest open transaction on the server (seconds); absent when none is open.'),
    wraparoundHeadroomXids: z.int().min(0).optional().describe('Transaction ids left before wraparound in the database of the server closest to it.'),
    replicas: z.array(replicaHealthSchema).max(16).optional().describe('Replication to each replica, as the primary sees it.'),
    replicationUnavailable: z.string().max(512).optional().describe('Why replication figures cannot be read, when they cannot.'),
    backups: z
      .object({
        count: z.int().min(0).describe('Backups Azure lists for the server.'),
        earliestRestorePoint: timestampField('Earliest point in time the server can be restored to.').optional(),
        retentionDays: z.int().min(0).optional().describe('Days of backups Azure keeps.'),
      })
      .optional()
      .describe('Backups of the server (Azure servers only).'),
    topStatements: z.array(statementSchema).max(20).optional().describe("Statements of the database with the most total execution time (not the administrator's)."),
    statementsUnavailable: z.string().max(512).optional().describe('Why statements cannot be read, when they cannot.'),
    problem: z.string().max(1024).optional().describe('Why the last refresh failed, when it did (figures are from the refresh before).'),
  })
  .describe('Health figures of the server and database (spec.health).');

export type HealthSpec = z.infer<typeof healthSpecSchema>;
export type HealthThresholds = Required<z.infer<typeof thresholdsSchema>>;
export type HealthStatus = z.infer<typeof healthStatusSchema>;
