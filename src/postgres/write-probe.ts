// Does a server accept a write now, and which instance answered? A failover moves the host name to
// another instance: the failover step (controllers/tenantdatabase/server-azure/failover.ts) measures the
// time until a write succeeds on an instance other than the one before. txid_current() assigns a
// transaction id, which a standby or a read-only server refuses, and changes no data.
import pg from 'pg';
import type { DbTarget, PostgresConnections } from './connections.js';

export interface WriteProbe {
  writable: boolean;
  /** The answering instance (its address and postmaster start time); undefined when it did not answer. */
  instance?: string;
}

/** One short session: connect (bounded by `timeoutMs`), one statement, end. Never throws. */
export async function probeWrite(conns: PostgresConnections, target: DbTarget, timeoutMs = 3_000): Promise<WriteProbe> {
  const client = new pg.Client({ ...conns.clientConfig(target), connectionTimeoutMillis: timeoutMs, statement_timeout: timeoutMs, query_timeout: timeoutMs + 1_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const who = await client.query<{ addr: string | null; started: string }>('SELECT inet_server_addr()::text AS addr, pg_postmaster_start_time()::text AS started');
    const instance = `${who.rows[0]?.addr ?? 'local'}@${who.rows[0]?.started ?? ''}`;
    try {
      await client.query('SELECT txid_current()');
      return { writable: true, instance };
    } catch {
      return { writable: false, instance };
    }
  } catch {
    return { writable: false };
  } finally {
    await client.end().catch(() => undefined);
  }
}
