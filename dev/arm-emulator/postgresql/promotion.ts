// Promotion of a read replica (PATCH properties.replica.promoteMode/promoteOption, 2025-08-01 `Replica`).
// Standalone: the replica becomes an independent primary and the old primary is left as it is.
// Switchover: the roles swap: the replica becomes the primary and the old primary a streaming replica of
// it (its data replaced by a copy of the new primary, at its own address and name).
// Planned waits until the replica has replayed everything its source had written (a Planned switchover
// first fences the source: read-only for new transactions, its clients disconnected), so no committed row
// is lost; Forced promotes at once, whatever the replica has not replayed yet.
import { ArmError, armErrors } from '../framework/errors.js';
import type { InstanceManager, InstanceRecord } from './instances.js';

export type PromoteOption = 'Planned' | 'Forced';
export type PromoteMode = 'Standalone' | 'Switchover';
export interface Promotion {
  mode: PromoteMode;
  option: PromoteOption;
}

/** How long a Planned promotion waits for the replica to catch up before the operation fails. */
export const PLANNED_CATCH_UP_MS = 120_000;

/** The promotion a PATCH body asks for, or undefined; refuses what this emulator does not model. */
export function promotionOf(replica: Record<string, unknown>, serverName: string, role: string): Promotion | undefined {
  if (replica.promoteMode === undefined) return undefined;
  if (role !== 'AsyncReplica') throw armErrors.invalidParameter('properties.replica.promoteMode', `Server '${serverName}' is not a replica.`);
  const mode = replica.promoteMode;
  if (mode !== 'Standalone' && mode !== 'Switchover') throw armErrors.invalidParameter('properties.replica.promoteMode', `promoteMode must be Standalone or Switchover.`);
  const option = replica.promoteOption ?? 'Planned';
  if (option !== 'Planned' && option !== 'Forced') throw armErrors.invalidParameter('properties.replica.promoteOption', `promoteOption must be Planned or Forced.`);
  return { mode, option };
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

/**
 * Planned switchover: the source takes no more writes (read-only for new transactions, client sessions
 * ended), then a flushed marker says how far the replica must replay. `on: false` lifts the fence.
 */
async function fence(instances: InstanceManager, source: InstanceRecord, on: boolean): Promise<string | undefined> {
  return instances.withSuperClient(source, 'postgres', async (c) => {
    await c.query(on ? 'ALTER SYSTEM SET default_transaction_read_only = on' : 'ALTER SYSTEM RESET default_transaction_read_only');
    await c.query('SELECT pg_reload_conf()');
    if (!on) return undefined;
    await c.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()");
    await c.query('SET default_transaction_read_only = off');
    const sql = "SELECT pg_logical_emit_message(false, 'tenantdb-emulator-switchover', '', true)::text AS l";
    return (await c.query<{ l: string }>(sql)).rows[0]!.l;
  });
}

/**
 * Switchover: the replica promoted, then the old primary turned into its streaming replica. Returns the
 * old primary's new instance (undefined when it was not running: Forced then leaves it for later).
 */
export async function switchover(
  instances: InstanceManager,
  replica: InstanceRecord,
  primary: InstanceRecord | undefined,
  option: PromoteOption,
  primarySettings: Record<string, string>,
  catchUpMs = PLANNED_CATCH_UP_MS,
): Promise<InstanceRecord | undefined> {
  const running = primary !== undefined && (await primary.server.ping());
  if (option === 'Planned') {
    if (!running) throw new ArmError(409, 'SourceServerUnavailable', 'A Planned switchover needs the primary server to be available; use promoteOption Forced.');
    const target = (await fence(instances, primary, true))!;
    try {
      await waitForReplay(instances, replica, target, catchUpMs);
    } catch (err) {
      await fence(instances, primary, false);
      throw err;
    }
  }
  await instances.promote(replica);
  return running ? instances.demoteToReplica(primary, replica, primarySettings) : undefined;
}
