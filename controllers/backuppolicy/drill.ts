// Restore drills as a resumable state machine kept in status.lastDrill, so no step blocks a worker and
// a restarted operator picks up where the last one stopped:
//   (start) marker row on the source, restore point = the moment after it → Restoring
//   Restoring: PUT the throw-away server (createMode PointInTimeRestore, or GeoRestore into the drill's
//     region for a region-failure drill) when absent, poll until Ready
//   Checking: every check in a READ ONLY transaction on the copy, the newest marker → RTO, RPO
//   CleaningUp: DELETE the throw-away server (only one tagged as this policy's), poll until gone → Done
// Any failure or the timeout moves to CleaningUp with the outcome decided, so the server always goes.
import type { Server } from '@azure/arm-postgresql-flexible';
import type { AzureClients } from '../../src/azure/clients.js';
import { classifyArmError } from '../../src/azure/errors.js';
import { beginOperation, serversOf, WAIT_FRESH_MS, type ArmScope } from '../../src/azure/arm/index.js';
import type { PostgresConnections } from '../../src/postgres/connections.js';
import { inspectRestoredCopy, writeDrillMarker, type DrillCheck } from '../../src/postgres/drill/index.js';
import { azureAdminTarget, type AzureServerRef, type SecretValueFn } from '../../src/tenantdatabase/index.js';
import { drillServerName, newRunId } from './naming.js';
import type { DrillRecord } from './pass.js';

export const DRILL_TAG = 'tenantdb-drill';
const POLL_MS = 5_000;

/** Polls often at first and less as the drill goes on (a real restore takes minutes): 1-30 s. */
function pollDelay(drill: DrillRecord, now: Date): number {
  const elapsed = now.getTime() - Date.parse(drill.startedAt ?? now.toISOString());
  return Math.min(30_000, Math.max(1_000, Math.round(elapsed / 10)));
}

export type { DrillRecord };

export interface DrillEnv {
  clients: AzureClients;
  server: AzureServerRef;
  /** namespace/name of the policy, the throw-away server's tag value. */
  owner: string;
  checks: DrillCheck[];
  timeoutSeconds: number;
  /** PointInTimeRestore in the server's region, or GeoRestore into `location`. */
  kind: 'PointInTimeRestore' | 'GeoRestore';
  location?: string;
  conns: PostgresConnections;
  secretValue: SecretValueFn;
}

export interface DrillStep {
  drill: DrillRecord;
  requeueMs: number;
  /** Set when the drill ended in this step. */
  finished?: 'Passed' | 'Failed';
}

const iso = (d: Date) => d.toISOString();

function fail(drill: DrillRecord, message: string, failedChecks?: string[]): DrillRecord {
  return { ...drill, phase: 'CleaningUp', pendingResult: 'Failed', message: message.slice(0, 4000), ...(failedChecks ? { failedChecks } : {}) };
}

/** Writes the marker and returns the drill's first record (Restoring); throws when the source cannot be written. */
export async function startDrill(env: DrillEnv, trigger: string, now: Date): Promise<DrillRecord> {
  const runId = newRunId(now);
  // The source's address is ARM's (lookupAzureServer), never its TenantDatabase's status.serverFQDN.
  const target = await azureAdminTarget(env.server.spec, env.secretValue, env.server.fqdn, env.clients.credential);
  if (!target.ok) throw new Error(`cannot reach the source database to write the drill marker: ${target.message}`);
  const markerAt = await writeDrillMarker(env.conns, target.target, runId, env.owner);
  // The restore point is the moment after the marker: the copy should hold it, and what it lacks is the loss.
  // +1 ms: PostgreSQL stamps commits in microseconds, Date.now() truncates to the millisecond.
  const restorePoint = new Date(Math.max(Date.now(), markerAt.getTime()) + 1);
  return {
    result: 'Running',
    phase: 'Restoring',
    runId,
    trigger,
    serverName: drillServerName(env.server.serverName, runId),
    startedAt: iso(now),
    restorePoint: iso(restorePoint),
    markerAt: iso(markerAt),
    kind: env.kind,
    location: env.kind === 'GeoRestore' && env.location ? env.location : env.server.location,
  };
}

/** The throw-away server from its group's shared list (recent: the drill waits on its state); an absence is confirmed by a GET. */
async function getServer(env: DrillEnv, name: string): Promise<Server | undefined> {
  const dir = serversOf(env.clients, env.server.resourceGroup);
  return (await dir.get(name, { notBefore: Date.now() - WAIT_FRESH_MS })) ?? (await dir.read(name));
}

/** Writes to the throw-away server go through the ARM operation path as writes concerning the source server. */
const scopeOf = (env: DrillEnv): ArmScope => ({ clients: env.clients, resourceGroup: env.server.resourceGroup, server: env.server.serverName });

const ours = (env: DrillEnv, s: Server) => s.tags?.[DRILL_TAG] === env.owner;

/** One step of a running drill. Errors Azure will not fix by retrying end the drill (with cleanup). */
export async function advanceDrill(env: DrillEnv, drill: DrillRecord, now: Date): Promise<DrillStep> {
  const name = drill.serverName!;
  const started = Date.parse(drill.startedAt ?? iso(now));
  if (drill.phase !== 'CleaningUp' && drill.phase !== 'Done' && now.getTime() - started > env.timeoutSeconds * 1000) {
    return { drill: fail(drill, `timed out after ${env.timeoutSeconds} s in phase ${drill.phase}`), requeueMs: 1 };
  }
  try {
    switch (drill.phase) {
      case 'Restoring': {
        const s = await getServer(env, name);
        if (!s) {
          // Kind and region as recorded when the drill started (a spec edit mid-drill does not change them).
          const body: Server = {
            location: drill.location ?? env.server.location,
            createMode: drill.kind ?? 'PointInTimeRestore',
            sourceServerResourceId: env.server.serverId,
            pointInTimeUTC: new Date(drill.restorePoint!),
            tags: { [DRILL_TAG]: env.owner },
          };
          await beginOperation(scopeOf(env), 'servers.create', name, body);
          return { drill, requeueMs: pollDelay(drill, now) };
        }
        if (!ours(env, s)) return { drill: { ...drill, phase: 'Done', result: 'Failed', completedAt: iso(now), message: `a server named ${name} exists and was not made by this policy; it was left alone` }, requeueMs: 1, finished: 'Failed' };
        if (s.state === 'Ready') return { drill: { ...drill, phase: 'Checking' }, requeueMs: 1 };
        return { drill, requeueMs: pollDelay(drill, now) };
      }
      case 'Checking': {
        const s = await getServer(env, name);
        if (!s?.fullyQualifiedDomainName) return { drill: fail(drill, `the restored server ${name} disappeared before the checks ran`), requeueMs: 1 };
        const target = await azureAdminTarget(env.server.spec, env.secretValue, s.fullyQualifiedDomainName, env.clients.credential);
        if (!target.ok) return { drill: fail(drill, `cannot reach the restored copy: ${target.message}`), requeueMs: 1 };
        const inspection = await inspectRestoredCopy(env.conns, target.target, env.checks, { ownerRole: target.ownerRole });
        const done = new Date();
        const failed = inspection.checks.filter((c) => !c.passed);
        const requested = Date.parse(drill.restorePoint!);
        // The newest point the copy holds: its newest marker, or the last commit its recovery replayed (a
        // geo-restore replays only archived log, usually older than the marker written for this drill).
        const held = Math.max(inspection.newestMarker?.getTime() ?? 0, inspection.lastReplayed?.getTime() ?? 0);
        const rpoSeconds = held > 0 ? Math.max(0, (requested - held) / 1000) : undefined;
        const rtoSeconds = Math.max(0, (done.getTime() - started) / 1000);
        const measured = { rtoSeconds: Math.round(rtoSeconds * 1000) / 1000, ...(rpoSeconds !== undefined ? { rpoSeconds: Math.round(rpoSeconds * 1000) / 1000 } : {}) };
        if (failed.length > 0) {
          const detail = failed.map((c) => `${c.name}: ${c.detail ?? 'failed'}`).join('; ');
          return { drill: { ...fail(drill, `checks failed: ${detail}`, failed.map((c) => c.name)), ...measured }, requeueMs: 1 };
        }
        const note = rpoSeconds === undefined ? 'no marker or replayed commit found in the copy, so the RPO is unknown' : `restored copy ${measured.rpoSeconds} s behind the source`;
        return { drill: { ...drill, ...measured, phase: 'CleaningUp', pendingResult: 'Passed', failedChecks: [], message: `all ${env.checks.length} checks passed; ${note}` }, requeueMs: 1 };
      }
      case 'CleaningUp': {
        const s = await getServer(env, name);
        if (!s || !ours(env, s)) {
          const result = drill.pendingResult ?? 'Failed';
          const completedAt = now;
          return {
            drill: { ...drill, phase: 'Done', result, completedAt: iso(completedAt), durationSeconds: Math.max(0, Math.round((completedAt.getTime() - started) / 1000)) },
            requeueMs: 1,
            finished: result,
          };
        }
        if (s.state !== 'Dropping') await beginOperation(scopeOf(env), 'servers.delete', name);
        return { drill, requeueMs: pollDelay(drill, now) };
      }
      default:
        return { drill, requeueMs: 0 };
    }
  } catch (err) {
    const e = classifyArmError(err);
    if (e.retryable || e.kind === 'unknown' || e.kind === 'network') return { drill, requeueMs: e.retryAfterMs ?? POLL_MS };
    if (drill.phase === 'CleaningUp') return { drill: { ...drill, message: `deleting the throw-away server failed, retrying: ${e.code}: ${e.message}`.slice(0, 4000) }, requeueMs: POLL_MS * 6 };
    return { drill: fail(drill, `${drill.phase}: ${e.code}: ${e.message}`), requeueMs: 1 };
  }
}
