// SQL of replica promotion (issue 18): WAL positions read before a promotion to measure what a Forced
// one loses, and the check that a promoted server accepts writes. Functions PostgreSQL grants to every
// role (no superuser needed, as on Azure), one statement each, through the shared pools (timeouts there).
import type { DbTarget, PostgresConnections } from './connections.js';

/** A WAL position ("16/B374D848") as a byte offset. */
export function lsnBytes(lsn: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn.trim());
  if (!m) throw new Error(`not a WAL position: ${lsn.slice(0, 40)}`);
  return (BigInt(`0x${m[1]}`) << 32n) + BigInt(`0x${m[2]}`);
}

/** Bytes from `from` to `to` (0 when `to` is not ahead). */
export function walBytesBetween(from: string, to: string): number {
  const d = lsnBytes(to) - lsnBytes(from);
  return d > 0n ? Number(d) : 0;
}

/** The primary's current write position. */
export async function currentWalPosition(conns: PostgresConnections, primary: DbTarget): Promise<string> {
  const r = await conns.query<{ lsn: string }>(primary, 'SELECT pg_current_wal_lsn()::text AS lsn');
  return r.rows[0]!.lsn;
}

export interface ReplicaPosition {
  /** Last WAL position received (and flushed) by the replica; undefined when it streams nothing. */
  received?: string;
  /** Last WAL position replayed. */
  replayed?: string;
  /** Commit time of the last transaction replayed. */
  lastReplayedAt?: Date;
  inRecovery: boolean;
}

/** Where a replica is: received and replayed WAL, the last transaction replayed. */
export async function replicaPosition(conns: PostgresConnections, replica: DbTarget): Promise<ReplicaPosition> {
  const r = await conns.query<{ received: string | null; replayed: string | null; at: Date | null; rec: boolean }>(
    replica,
    'SELECT pg_last_wal_receive_lsn()::text AS received, pg_last_wal_replay_lsn()::text AS replayed, pg_last_xact_replay_timestamp() AS at, pg_is_in_recovery() AS rec',
  );
  const row = r.rows[0]!;
  return { ...(row.received ? { received: row.received } : {}), ...(row.replayed ? { replayed: row.replayed } : {}), ...(row.at ? { lastReplayedAt: row.at } : {}), inRecovery: row.rec };
}

/** The server accepts writes (not in recovery): a promoted replica answering as a primary. */
export async function acceptsWrites(conns: PostgresConnections, server: DbTarget): Promise<boolean> {
  const r = await conns.query<{ rec: boolean }>(server, 'SELECT pg_is_in_recovery() AS rec');
  return r.rows[0]!.rec === false;
}
