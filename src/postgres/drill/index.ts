// SQL of restore drills. On the source: a timestamped marker row in the operator's own schema
// (`tenantdb`, as the migration history), written just before the restore is requested, so the newest
// marker found in the restored copy says how much the copy lost (the drill's RPO). On the restored copy:
// every check in its own READ ONLY transaction, so a check cannot change what it inspects, sent as one
// statement over the extended protocol (a second statement, such as a COMMIT that would end the READ
// ONLY transaction, is rejected by the server), with a statement timeout; then the newest marker. Identifiers through ident(), values as parameters.
import type pg from 'pg';
import { describePgError, type DbTarget, type PostgresConnections } from '../connections.js';
import { ident, qualified } from '../ident.js';

export const MARKER_SCHEMA = 'tenantdb';
export const MARKER_TABLE = 'drill_markers';
const T = qualified(MARKER_SCHEMA, MARKER_TABLE);

const MARKER_DDL = [
  `CREATE SCHEMA IF NOT EXISTS ${ident(MARKER_SCHEMA)}`,
  `CREATE TABLE IF NOT EXISTS ${T} (
    run_id     text        PRIMARY KEY,
    policy     text        NOT NULL,
    written_at timestamptz NOT NULL DEFAULT clock_timestamp()
  )`,
  `COMMENT ON TABLE ${T} IS 'Restore-drill markers of tenantdb-operator: the newest one found in a restored copy measures its data loss. Old rows are pruned by the operator.'`,
];

/** How many markers a source keeps (one per drill; older ones say nothing new). */
const KEEP_MARKERS = 100;

/** Writes the marker of one drill run on the source; returns the time the server stamped on it. */
export async function writeDrillMarker(conns: PostgresConnections, source: DbTarget, runId: string, policy: string): Promise<Date> {
  return conns.withTransaction(source, async (c: pg.ClientBase) => {
    for (const ddl of MARKER_DDL) await c.query(ddl);
    const r = await c.query<{ written_at: Date }>(
      `INSERT INTO ${T} (run_id, policy) VALUES ($1, $2) ON CONFLICT (run_id) DO UPDATE SET written_at = ${T}.written_at RETURNING written_at`,
      [runId, policy],
    );
    await c.query(`DELETE FROM ${T} WHERE run_id IN (SELECT run_id FROM ${T} WHERE policy = $1 ORDER BY written_at DESC OFFSET $2)`, [policy, KEEP_MARKERS]);
    return r.rows[0]!.written_at;
  });
}

export interface DrillCheck {
  name: string;
  sql: string;
  expectRowsAtLeast: number;
}

export interface CheckOutcome {
  name: string;
  passed: boolean;
  rows?: number;
  /** Why it failed: too few rows, or the PostgreSQL error (code and message, no secrets). */
  detail?: string;
}

export interface CopyInspection {
  checks: CheckOutcome[];
  /** The newest marker in the copy, undefined when it has none. */
  newestMarker: Date | undefined;
  /** Commit time of the last transaction the copy's recovery replayed (pg_last_xact_replay_timestamp), when known. */
  lastReplayed?: Date | undefined;
}

/** A query sent over the extended protocol (pg's types do not list queryMode, which pg 8.11+ honours). */
function oneStatement(text: string): pg.QueryConfig {
  return { text, queryMode: 'extended' } as pg.QueryConfig;
}

/**
 * Runs every check on the restored copy, each in a READ ONLY transaction (as `ownerRole` when the
 * administrator may SET ROLE to it, else as the administrator), and reads the newest marker. A session
 * of its own, outside the pools: the copy is deleted right after.
 */
export async function inspectRestoredCopy(conns: PostgresConnections, copy: DbTarget, checks: DrillCheck[], opts: { ownerRole?: string; statementTimeoutMs?: number } = {}): Promise<CopyInspection> {
  const c = await conns.connect(copy, { statementTimeoutMs: opts.statementTimeoutMs ?? 60_000 });
  try {
    const out: CheckOutcome[] = [];
    for (const check of checks) {
      try {
        await c.query('BEGIN READ ONLY');
        if (opts.ownerRole) {
          await c.query('SAVEPOINT as_owner');
          await c.query(`SET LOCAL ROLE ${ident(opts.ownerRole)}`).then(
            () => c.query('RELEASE SAVEPOINT as_owner'),
            () => c.query('ROLLBACK TO SAVEPOINT as_owner'),
          );
        }
        // The extended protocol takes exactly one statement: `SELECT 1; COMMIT; CREATE ROLE ...` is
        // refused by PostgreSQL (42601) instead of leaving the READ ONLY transaction.
        const r = await c.query(oneStatement(check.sql));
        await c.query('ROLLBACK');
        const rows = r.rowCount ?? r.rows.length;
        out.push(rows >= check.expectRowsAtLeast ? { name: check.name, passed: true, rows } : { name: check.name, passed: false, rows, detail: `${rows} row(s), expected at least ${check.expectRowsAtLeast}` });
      } catch (err) {
        await c.query('ROLLBACK').catch(() => undefined);
        const e = describePgError(err);
        out.push({ name: check.name, passed: false, detail: `${e.code ?? 'error'}: ${e.message}` });
      }
    }
    let newestMarker: Date | undefined;
    let lastReplayed: Date | undefined;
    try {
      // Kept after promotion until the copy restarts; NULL when recovery replayed no transaction.
      const r = await c.query<{ t: Date | null }>('SELECT pg_last_xact_replay_timestamp() AS t');
      lastReplayed = r.rows[0]?.t ?? undefined;
    } catch {
      lastReplayed = undefined;
    }
    try {
      await c.query('BEGIN READ ONLY');
      const exists = await c.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [`${ident(MARKER_SCHEMA)}.${ident(MARKER_TABLE)}`]);
      if (exists.rows[0]?.t) {
        const r = await c.query<{ newest: Date | null }>(`SELECT max(written_at) AS newest FROM ${T}`);
        newestMarker = r.rows[0]?.newest ?? undefined;
      }
      await c.query('ROLLBACK');
    } catch {
      await c.query('ROLLBACK').catch(() => undefined);
    }
    return { checks: out, newestMarker, lastReplayed };
  } finally {
    await c.end().catch(() => undefined);
  }
}
