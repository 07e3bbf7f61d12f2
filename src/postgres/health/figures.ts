// Health figures of a server and one of its databases, read from the catalog in at most two queries on
// the administrator's connection to that database (a refresh of a fleet costs a bounded number of queries
// per database): one for the server-wide figures (storage, connections, the oldest transaction,
// wraparound headroom, replication, whether pg_stat_statements can be read), one for the top statements
// when it can. Every query runs under the connection layer's statement_timeout and query_timeout.
// Nothing here returns parameters or secrets: statements come as pg_stat_statements normalises them
// (constants replaced by $n), and only the kinds of statement it normalises are returned at all.
import type { ClientBase } from 'pg';
import { ident } from '../ident.js';

export interface ReplicaFigure {
  /** application_name of the WAL sender (the replica server's name on Azure/emulator), else the slot. */
  name: string;
  /** The physical replication slot it streams from (or that waits for it). */
  slot?: string;
  streaming: boolean;
  state?: string;
  lagSeconds?: number;
  lagBytes?: number;
}

export interface StatementFigure {
  query: string;
  calls: number;
  totalTimeMs: number;
  meanTimeMs: number;
}

export interface ServerFigures {
  /** Absent when not asked for (ReadOptions.storage false). */
  usedBytes?: number;
  connectionsInUse: number;
  maxConnections: number;
  /** Age of the oldest open transaction in seconds; undefined when none is open. */
  oldestTransactionSeconds?: number;
  wraparoundHeadroomXids: number;
  replicas: ReplicaFigure[];
  /** Why replication figures are missing (privileges), when they are. */
  replicationUnavailable?: string;
  statements?: StatementFigure[];
  statementsUnavailable?: string;
}

export interface ReadOptions {
  /** Statements to return (0: none, no second query). */
  topStatements: number;
  /**
   * Whether to sum the database sizes: it stats every file of every database of the server, so a fleet of
   * databases on one server shares one sum per period (the caller keeps it) instead of each reading it.
   */
  storage?: boolean;
  /** application_name of the operator's own sessions, left out of "connections in use". */
  ownApplicationName: string;
}

/** PostgreSQL refuses new transaction ids 3 million before wraparound; 2^31 - 1 is the distance in all. */
const XID_SPACE = 2_147_483_647;
const STATEMENT_TEXT_MAX = 500;

// One row. pg_database_size of a database the role may not connect to would fail the whole query, so
// sizes are summed only where CONNECT or pg_read_all_stats allows (on Azure the administrator has both).
const SERVER_SQL = `
SELECT
  CASE WHEN $2::boolean THEN (SELECT coalesce(sum(pg_database_size(d.oid)), 0)::bigint FROM pg_database d
    WHERE has_database_privilege(d.oid, 'CONNECT') OR pg_has_role('pg_read_all_stats', 'USAGE')) END AS used_bytes,
  current_setting('max_connections')::int AS max_connections,
  (SELECT count(*) FROM pg_stat_activity a
    WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid() AND a.application_name IS DISTINCT FROM $1)::int AS in_use,
  (SELECT floor(extract(epoch FROM max(clock_timestamp() - a.xact_start)))::bigint FROM pg_stat_activity a
    WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid() AND a.xact_start IS NOT NULL) AS oldest_xact_seconds,
  (SELECT ${XID_SPACE} - max(age(d.datfrozenxid)) FROM pg_database d)::bigint AS headroom,
  pg_has_role('pg_read_all_stats', 'USAGE') AS reads_all_stats,
  pg_is_in_recovery() AS in_recovery,
  (SELECT coalesce(json_agg(r), '[]'::json) FROM (
     SELECT coalesce(a.application_name, s.slot_name::text) AS name, s.slot_name AS slot, a.pid IS NOT NULL AS streaming, a.state,
            extract(epoch FROM a.replay_lag) AS lag_seconds,
            CASE WHEN pg_is_in_recovery() THEN NULL
                 ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), coalesce(a.replay_lsn, s.restart_lsn)) END AS lag_bytes
       FROM pg_replication_slots s FULL JOIN pg_stat_replication a ON a.pid = s.active_pid
      WHERE s.slot_name IS NULL OR s.slot_type = 'physical'
      ORDER BY 1 LIMIT 16) r) AS replicas,
  (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_stat_statements') AS pss_schema,
  CASE WHEN pg_has_role('pg_read_all_settings', 'USAGE')
       THEN 'pg_stat_statements' = ANY (string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ',')) END AS pss_loaded,
  current_setting('server_version_num')::int AS version_num,
  current_database() AS database`;

interface ServerRow {
  used_bytes: string | null;
  max_connections: number;
  in_use: number;
  oldest_xact_seconds: string | null;
  headroom: string;
  reads_all_stats: boolean;
  in_recovery: boolean;
  replicas: Array<{ name: string; slot: string | null; streaming: boolean; state: string | null; lag_seconds: number | null; lag_bytes: number | null }>;
  pss_schema: string | null;
  /** null: the role may not read shared_preload_libraries (pg_read_all_settings). */
  pss_loaded: boolean | null;
  version_num: number;
  database: string;
}

// Only statements pg_stat_statements normalises (constants become $n): utility commands (CREATE ROLE ...
// PASSWORD, SET ...) keep their text as typed, so they are never returned. The administrator's own
// statements (the operator's, this one among them) are left out: they are not the application's load
// and would change the figures at every refresh.
const DML = `^\\s*(select|insert|update|delete|merge|with|values|table)\\M`;

function statementsSql(schema: string, versionNum: number): string {
  return `SELECT left(s.query, ${STATEMENT_TEXT_MAX}) AS query, s.calls::bigint AS calls, s.total_exec_time AS total, s.mean_exec_time AS mean
    FROM ${ident(schema)}.pg_stat_statements s
   WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
     AND s.userid <> (SELECT oid FROM pg_roles WHERE rolname = current_user)
     ${versionNum >= 140000 ? 'AND s.toplevel' : ''}
     AND s.query ~* '${DML}' AND s.query !~* 'password'
   ORDER BY s.total_exec_time DESC
   LIMIT $1`;
}

/** Control characters out (status is read in terminals), length bounded. */
function cleanText(q: string): string {
  return q.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, ' ').replace(/\s+/g, ' ').trim().slice(0, STATEMENT_TEXT_MAX);
}

function replicationOf(row: ServerRow): Pick<ServerFigures, 'replicas' | 'replicationUnavailable'> {
  const replicas = row.replicas.map((r) => ({
    name: r.name,
    ...(r.slot ? { slot: r.slot } : {}),
    streaming: r.streaming,
    ...(r.state ? { state: r.state } : {}),
    ...(r.lag_seconds !== null ? { lagSeconds: Number(r.lag_seconds) } : r.streaming && row.reads_all_stats ? { lagSeconds: 0 } : {}),
    ...(r.lag_bytes !== null ? { lagBytes: Math.max(0, Number(r.lag_bytes)) } : {}),
  }));
  if (row.reads_all_stats) return { replicas };
  return { replicas, replicationUnavailable: 'the administrator is not a member of pg_read_all_stats (pg_monitor): replication lag is not visible to it' };
}

async function statementsOf(client: ClientBase, row: ServerRow, n: number): Promise<Pick<ServerFigures, 'statements' | 'statementsUnavailable'>> {
  if (n <= 0) return {};
  if (!row.pss_schema) {
    return { statementsUnavailable: `extension pg_stat_statements is not installed in database ${row.database}; add it to spec.database.extensions (and to azure.extensions on Azure)` };
  }
  const notLoaded = 'pg_stat_statements is not in the server parameter shared_preload_libraries; add it there (a restart follows)';
  if (row.pss_loaded === false) return { statementsUnavailable: notLoaded };
  if (!row.reads_all_stats) return { statementsUnavailable: 'the administrator is not a member of pg_read_all_stats (pg_monitor): statements of other roles are not visible to it' };
  let r;
  try {
    r = await client.query<{ query: string; calls: string; total: number; mean: number }>(statementsSql(row.pss_schema, row.version_num), [n]);
  } catch (err) {
    // Not preloaded (SQLSTATE 55000) when the administrator could not read shared_preload_libraries to tell.
    if ((err as { code?: string }).code === '55000') return { statementsUnavailable: notLoaded };
    throw err;
  }
  return { statements: r.rows.map((s) => ({ query: cleanText(s.query), calls: Number(s.calls), totalTimeMs: s.total, meanTimeMs: s.mean })) };
}

/** The figures, in one query (two with statements). */
export async function readHealthFigures(client: ClientBase, opts: ReadOptions): Promise<ServerFigures> {
  const row = (await client.query<ServerRow>(SERVER_SQL, [opts.ownApplicationName, opts.storage !== false])).rows[0]!;
  return {
    ...(row.used_bytes !== null ? { usedBytes: Number(row.used_bytes) } : {}),
    connectionsInUse: row.in_use,
    maxConnections: row.max_connections,
    ...(row.oldest_xact_seconds !== null ? { oldestTransactionSeconds: Math.max(0, Number(row.oldest_xact_seconds)) } : {}),
    wraparoundHeadroomXids: Math.max(0, Number(row.headroom)),
    ...replicationOf(row),
    ...(await statementsOf(client, row, opts.topStatements)),
  };
}
