// Promotion of a read replica (PATCH properties.replica.promoteMode/promoteOption, 2025-08-01 `Replica`).
// Standalone only: the replica becomes an independent primary and the old primary is left as it is.
// Planned waits until the replica has replayed everything its source had written when the request
// arrived (no committed row lost); Forced promotes at once, whatever the replica has not replayed yet.
import { ArmError, armErrors } from '../framework/errors.js';
import type { InstanceManager, InstanceRecord } from './instances.js';

export type PromoteOption = 'Planned' | 'Forced';

/** How long a Planned promotion waits for the replica to catch up before the operation fails. */
export const PLANNED_CATCH_UP_MS = 120_000;

/** The promotion a PATCH body asks for, or undefined; refuses what this emulator does not model. */
export function promotionOf(replica: Record<string, unknown>, serverName: string, role: string): PromoteOption | undefined {
  if (replica.promoteMode === undefined) return undefined;
  if (role !== 'AsyncReplica') throw armErrors.invalidParameter('properties.replica.promoteMode', `Server '${serverName}' is not a replica.`);
  if (replica.promoteMode !== 'Standalone') {
    // Switchover (roles swapped with the primary) is published but not emulated: refused rather than faked.
    throw armErrors.invalidParameter('properties.replica.promoteMode', `promoteMode '${String(replica.promoteMode)}' is not supported by the emulator; use Standalone.`);
  }
  const option = replica.promoteOption ?? 'Planned';
  if (option !== 'Planned' && option !== 'Forced') throw armErrors.invalidParameter('properties.replica.promoteOption', `promoteOption must be Planned or Forced.`);
  return option;
}

/** The source's current WAL position when the request arrives: what a Planned promotion waits for. */
export async function plannedTarget(instances: InstanceManager, rec: InstanceRecord): Promise<string> {
  const source = rec.replicaOf ? instances.get(rec.replicaOf.sourceKey) : undefined;
  if (!source || !(await source.server.ping())) {
    throw new ArmError(409, 'SourceServerUnavailable', 'A Planned promotion needs the primary server to be available; use promoteOption Forced.');
  }
  // A flushed marker record: everything written before the request precedes its end (the source may run
  // with synchronous_commit off, so pg_current_wal_lsn can lag what clients saw committed).
  const sql = "SELECT pg_logical_emit_message(false, 'tenantdb-emulator-promote', '', true)::text AS l";
  return instances.withSuperClient(source, 'postgres', async (c) => (await c.query<{ l: string }>(sql)).rows[0]!.l);
}

/** Waits until the replica has replayed up to `target` (bytes still to replay reach zero). */
async function waitForReplay(instances: InstanceManager, rec: InstanceRecord, target: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const behind = await instances.withSuperClient(rec, 'postgres', async (c) =>
      Number((await c.query<{ b: string }>('SELECT pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_replay_lsn()) AS b', [target])).rows[0]!.b),
    );
    if (behind <= 0) return;
    if (Date.now() > deadline) throw new ArmError(409, 'ReplicaNotCaughtUp', `The replica is still ${behind} bytes behind its primary; a Planned promotion waits for it to catch up (use Forced to promote now).`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Runs the promotion on the replica's instance: with a `target` (Planned) after the replica replayed up
 * to it. PostgreSQL's promotion still applies the WAL the replica has received (a paused replay ends), so
 * Forced loses what had not reached the replica.
 */
export async function promoteReplica(instances: InstanceManager, rec: InstanceRecord, target: string | undefined, catchUpMs = PLANNED_CATCH_UP_MS): Promise<void> {
  if (target !== undefined) await waitForReplay(instances, rec, target, catchUpMs);
  await instances.promote(rec);
}
