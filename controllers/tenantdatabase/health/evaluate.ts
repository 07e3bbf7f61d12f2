// Pure rules of the health part, apart from I/O so they are tested on their own: the figures as status
// holds them (quantised, so noise does not turn into a status write every period), the Healthy condition
// (thresholds, with a reason and a message a person can act on) and the status patch (only when a figure
// changed; checkedAt moves only with a change).
import { isDeepStrictEqual } from 'node:util';
import { HEALTH_THRESHOLD_DEFAULTS, type HealthSpec, type HealthStatus, type HealthThresholds } from '../../../src/api/tenantdatabase-health.js';
import type { ServerFigures } from '../../../src/postgres/health/figures.js';
import type { PartCondition } from '../context.js';

export const CONDITION = 'Healthy';
const MiB = 1024 * 1024;
const XID_QUANTUM = 1_000_000;
const HOUR_MS = 3_600_000;

/** What Azure says about the server (absent for external servers). */
export interface AzureFigures {
  provisionedGiB?: number;
  backupCount?: number;
  earliestRestorePoint?: Date;
  retentionDays?: number;
  /** Why Azure figures are missing, when an ARM read failed. */
  problem?: string;
}

export function thresholdsOf(spec: HealthSpec | undefined): HealthThresholds {
  return { ...HEALTH_THRESHOLD_DEFAULTS, ...(spec?.thresholds ?? {}) };
}

const round1 = (x: number): number => Math.round(x * 10) / 10;
const iso = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

function storageOf(f: ServerFigures, az: AzureFigures | undefined): HealthStatus['storage'] {
  if (f.usedBytes === undefined) return undefined;
  const provisioned = az?.provisionedGiB !== undefined ? az.provisionedGiB * 1024 * MiB : undefined;
  return {
    usedMiB: Math.round(f.usedBytes / MiB),
    ...(provisioned ? { provisionedMiB: Math.round(provisioned / MiB), percentUsed: round1((f.usedBytes / provisioned) * 100) } : {}),
  };
}

function backupsOf(az: AzureFigures | undefined): HealthStatus['backups'] {
  if (az?.backupCount === undefined) return undefined;
  // Rounded up to the hour: a restore to that point is possible, and a window that slides every second
  // (past the retention) changes status at most once an hour.
  const erp = az.earliestRestorePoint ? new Date(Math.ceil(az.earliestRestorePoint.getTime() / HOUR_MS) * HOUR_MS) : undefined;
  return { count: az.backupCount, ...(erp ? { earliestRestorePoint: iso(erp) } : {}), ...(az.retentionDays !== undefined ? { retentionDays: az.retentionDays } : {}) };
}

/** status.health from the figures (without checkedAt): every figure quantised. */
export function healthFigures(f: ServerFigures, az: AzureFigures | undefined, topStatements: number): HealthStatus {
  const storage = storageOf(f, az);
  const out: HealthStatus = {
    ...(storage ? { storage } : {}),
    connections: { inUse: f.connectionsInUse, max: f.maxConnections, percentUsed: f.maxConnections ? round1((f.connectionsInUse / f.maxConnections) * 100) : 0 },
    wraparoundHeadroomXids: Math.floor(f.wraparoundHeadroomXids / XID_QUANTUM) * XID_QUANTUM,
    replicas: f.replicas.map((r) => ({
      name: r.name.slice(0, 63),
      ...(r.slot ? { slot: r.slot.slice(0, 63) } : {}),
      streaming: r.streaming,
      ...(r.state ? { state: r.state.slice(0, 32) } : {}),
      ...(r.lagSeconds !== undefined ? { lagSeconds: Math.round(r.lagSeconds) } : {}),
      ...(r.lagBytes !== undefined ? { lagMiB: Math.round(r.lagBytes / MiB) } : {}),
    })),
  };
  if (f.oldestTransactionSeconds !== undefined) out.oldestTransactionAgeSeconds = Math.floor(f.oldestTransactionSeconds);
  if (f.replicationUnavailable) out.replicationUnavailable = f.replicationUnavailable.slice(0, 512);
  const backups = backupsOf(az);
  if (backups) out.backups = backups;
  if (f.statements) {
    out.topStatements = f.statements.slice(0, topStatements).map((s) => ({ query: s.query.slice(0, 512), calls: s.calls, totalTimeMs: Math.round(s.totalTimeMs), meanTimeMs: round1(s.meanTimeMs) }));
  }
  if (f.statementsUnavailable) out.statementsUnavailable = f.statementsUnavailable.slice(0, 512);
  if (az?.problem) out.problem = az.problem.slice(0, 1024);
  return out;
}

interface Problem {
  reason: string;
  message: string;
}

function replicaProblems(h: HealthStatus, t: HealthThresholds): Problem[] {
  const out: Problem[] = [];
  for (const r of h.replicas ?? []) {
    if (!r.streaming) {
      const kept = r.lagMiB !== undefined ? ` (the slot keeps ${r.lagMiB} MiB of WAL on the primary)` : '';
      // Not connected: the primary knows only the slot, not which replica server it was made for.
      const who = r.slot && r.slot !== r.name ? `replica ${r.name} (slot ${r.slot})` : `no replica streams from replication slot ${r.slot ?? r.name}`;
      const what = r.slot && r.slot !== r.name ? `${who} is not streaming` : who;
      out.push({ reason: 'ReplicaNotStreaming', message: `${what}${kept}: check that the replica server runs and reaches the primary (spec.server.azure.readReplicas states); a slot nobody streams from makes the primary keep WAL until storage runs out` });
    } else if ((r.lagSeconds ?? 0) > t.replicationLagSeconds) {
      out.push({ reason: 'ReplicationLagging', message: `replica ${r.name} replays ${r.lagSeconds} s behind the primary (threshold ${t.replicationLagSeconds} s): look for long queries or load on the replica, or give it the primary's size` });
    }
  }
  return out;
}

/** Problems in order of urgency: what stops the server first comes first. */
export function healthProblems(h: HealthStatus, t: HealthThresholds): Problem[] {
  const out: Problem[] = [];
  if (h.wraparoundHeadroomXids !== undefined && h.wraparoundHeadroomXids < t.wraparoundHeadroomXids) {
    out.push({ reason: 'WraparoundNear', message: `${h.wraparoundHeadroomXids} transaction ids left before wraparound (threshold ${t.wraparoundHeadroomXids}): run VACUUM (FREEZE) in the oldest database, end long transactions and drop unused replication slots that hold back the xmin horizon` });
  }
  const s = h.storage;
  if (s?.percentUsed !== undefined && s.percentUsed > t.storagePercent) {
    out.push({ reason: 'StorageNearlyFull', message: `storage ${s.percentUsed}% used (${s.usedMiB} of ${s.provisionedMiB} MiB, threshold ${t.storagePercent}%): raise spec.server.azure.storage.sizeGB or set autoGrow, or remove data` });
  }
  out.push(...replicaProblems(h, t));
  const c = h.connections;
  if (c && c.percentUsed > t.connectionsPercent) {
    out.push({ reason: 'ConnectionsNearlyExhausted', message: `${c.inUse} of ${c.max} connections in use (${c.percentUsed}%, threshold ${t.connectionsPercent}%): connect through the pooler (PgBouncer), lower the applications' pool sizes or raise max_connections` });
  }
  if (h.oldestTransactionAgeSeconds !== undefined && h.oldestTransactionAgeSeconds > t.transactionAgeSeconds) {
    out.push({ reason: 'LongRunningTransaction', message: `a transaction has been open for ${h.oldestTransactionAgeSeconds} s (threshold ${t.transactionAgeSeconds} s): find it in pg_stat_activity (xact_start, state 'idle in transaction') and end it (pg_terminate_backend); it holds back vacuum on the whole server` });
  }
  const b = h.backups;
  if (b && b.count === 0) out.push({ reason: 'NoBackups', message: 'Azure lists no backup of the server: check the server state and its backup settings' });
  else if (b?.retentionDays !== undefined && b.retentionDays < t.backupRetentionDays) {
    out.push({ reason: 'BackupRetentionShort', message: `Azure keeps backups for ${b.retentionDays} days (threshold ${t.backupRetentionDays}): raise spec.server.azure.backup.retentionDays, or the BackupPolicy's retention` });
  }
  return out;
}

/** The Healthy condition: the most urgent problem gives the reason, the message lists them all. */
export function healthCondition(h: HealthStatus, t: HealthThresholds): PartCondition {
  const problems = healthProblems(h, t);
  if (problems.length === 0) {
    const notes = ['every figure within its threshold (see status.health)'];
    if (h.replicationUnavailable) notes.push(h.replicationUnavailable);
    if (h.problem) notes.push(h.problem);
    return { type: CONDITION, ok: true, reason: 'Healthy', message: notes.join('; ').slice(0, 2000), informational: true };
  }
  return { type: CONDITION, ok: false, reason: problems[0]!.reason, message: problems.map((p) => p.message).join('; ').slice(0, 4000), informational: true };
}

/** The figures of a status.health, without the time they were read. */
function figuresOf(h: HealthStatus | undefined): Omit<HealthStatus, 'checkedAt'> {
  const { checkedAt: _checkedAt, ...rest } = h ?? {};
  return rest;
}

/** True when the figures are those status already holds (nothing to write). */
export function sameFigures(next: HealthStatus, prev: HealthStatus | undefined): boolean {
  return isDeepStrictEqual(figuresOf(next), figuresOf(prev));
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A merge patch turning `prev` into `next`: keys `prev` has and `next` lacks become null (arrays are replaced whole). */
export function mergePatch(next: Record<string, unknown>, prev: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(next)) out[k] = isObject(v) && isObject(prev?.[k]) ? mergePatch(v, prev[k] as Record<string, unknown>) : v;
  for (const k of Object.keys(prev ?? {})) if (!(k in next)) out[k] = null;
  return out;
}

/** The status.health patch, or undefined when no figure changed (then nothing is written, not even checkedAt). */
export function healthPatch(next: HealthStatus, prev: HealthStatus | undefined, now: Date): Record<string, unknown> | undefined {
  if (sameFigures(next, prev)) return undefined;
  return mergePatch({ ...next, checkedAt: iso(now) }, prev as Record<string, unknown> | undefined);
}
