// The migration history the operator keeps in each database: schema `tenantdb` (the operator's own,
// created by the administrator), table `schema_migrations`, one row per applied step and per Migration
// object (`migration` = namespace/name). Flyway's flyway_schema_history and golang-migrate's dirty flag
// in one table: a row is `success`, or `dirty` while (or after) a non-transactional step runs.
import type pg from 'pg';
import { ident, qualified } from '../ident.js';
import type { HistoryRow } from '../../migrations/plan.js';

export const HISTORY_SCHEMA = 'tenantdb';
export const HISTORY_TABLE = 'schema_migrations';
const T = qualified(HISTORY_SCHEMA, HISTORY_TABLE);

export const HISTORY_DDL = [
  `CREATE SCHEMA IF NOT EXISTS ${ident(HISTORY_SCHEMA)}`,
  `CREATE TABLE IF NOT EXISTS ${T} (
    migration    text        NOT NULL,
    version      text        NOT NULL CHECK (version ~ '^[0-9]{1,18}$'),
    name         text        NOT NULL,
    checksum     text,
    type         text        NOT NULL CHECK (type IN ('up', 'baseline')),
    state        text        NOT NULL CHECK (state IN ('success', 'dirty')),
    started_at   timestamptz NOT NULL,
    applied_at   timestamptz,
    execution_ms integer,
    applied_by   text        NOT NULL,
    PRIMARY KEY (migration, version)
  )`,
  `COMMENT ON TABLE ${T} IS 'Migration history of tenantdb-operator: one row per applied step and Migration object (namespace/name). Do not edit by hand; use the tenantdb.io/resolve and tenantdb.io/repair annotations.'`,
];

type Queryable = Pick<pg.ClientBase, 'query'>;

export async function historyExists(db: Queryable): Promise<boolean> {
  const r = await db.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [`${HISTORY_SCHEMA}.${HISTORY_TABLE}`]);
  return r.rows[0]?.t != null;
}

/** Creates the history table when missing; no write at all when it exists. */
export async function ensureHistory(db: Queryable): Promise<void> {
  if (await historyExists(db)) return;
  await db.query('BEGIN');
  try {
    for (const ddl of HISTORY_DDL) await db.query(ddl);
    await db.query('COMMIT');
  } catch (err) {
    await db.query('ROLLBACK').catch(() => undefined);
    // Two runners on a fresh database: the other one created it first.
    if (!(await historyExists(db))) throw err;
  }
}

interface Raw {
  version: string;
  name: string;
  checksum: string | null;
  type: 'up' | 'baseline';
  state: 'success' | 'dirty';
  started_at: Date;
  applied_at: Date | null;
  execution_ms: number | null;
  applied_by: string;
}

/** The history of one Migration object; empty when the table does not exist yet (read-only). */
export async function readHistory(db: Queryable, migration: string): Promise<HistoryRow[]> {
  if (!(await historyExists(db))) return [];
  const r = await db.query<Raw>(
    `SELECT version, name, checksum, type, state, started_at, applied_at, execution_ms, applied_by FROM ${T} WHERE migration = $1 ORDER BY version::numeric`,
    [migration],
  );
  return r.rows.map((x) => ({
    version: x.version,
    name: x.name,
    checksum: x.checksum,
    type: x.type,
    state: x.state,
    startedAt: x.started_at,
    appliedAt: x.applied_at,
    executionMs: x.execution_ms,
    appliedBy: x.applied_by,
  }));
}

export const SQL = {
  insertSuccess: `INSERT INTO ${T} (migration, version, name, checksum, type, state, started_at, applied_at, execution_ms, applied_by)
    VALUES ($1, $2, $3, $4, 'up', 'success', coalesce($5::timestamptz, now()), clock_timestamp(), $6, $7)`,
  insertDirty: `INSERT INTO ${T} (migration, version, name, checksum, type, state, started_at, applied_by)
    VALUES ($1, $2, $3, $4, 'up', 'dirty', $5, $6)`,
  markSuccess: `UPDATE ${T} SET state = 'success', applied_at = clock_timestamp(), execution_ms = $3 WHERE migration = $1 AND version = $2`,
  markDirty: `UPDATE ${T} SET state = 'dirty' WHERE migration = $1 AND version = $2`,
  resolveApplied: `UPDATE ${T} SET state = 'success', applied_at = coalesce(applied_at, clock_timestamp()) WHERE migration = $1 AND version = $2 AND state = 'dirty'`,
  remove: `DELETE FROM ${T} WHERE migration = $1 AND version = $2`,
  repair: `UPDATE ${T} SET checksum = $3, name = $4 WHERE migration = $1 AND version = $2 AND type = 'up'`,
  insertBaseline: `INSERT INTO ${T} (migration, version, name, checksum, type, state, started_at, applied_at, execution_ms, applied_by)
    VALUES ($1, $2, '<< baseline >>', NULL, 'baseline', 'success', clock_timestamp(), clock_timestamp(), 0, $3)`,
} as const;

/**
 * The owner's rights on the history (as the administrator, who created it): the migration login acts as
 * the owner and records its steps in the step's own transaction. A write only when something is missing.
 */
export async function grantHistoryTo(db: Queryable, role: string): Promise<void> {
  const r = await db.query<{ ok: boolean }>(
    `SELECT has_schema_privilege($1, $2, 'USAGE') AND has_table_privilege($1, $3, 'SELECT') AND has_table_privilege($1, $3, 'INSERT')
        AND has_table_privilege($1, $3, 'UPDATE') AND has_table_privilege($1, $3, 'DELETE') AS ok`,
    [role, HISTORY_SCHEMA, `${ident(HISTORY_SCHEMA)}.${ident(HISTORY_TABLE)}`],
  );
  if (r.rows[0]?.ok) return;
  await db.query(`GRANT USAGE ON SCHEMA ${ident(HISTORY_SCHEMA)} TO ${ident(role)}`);
  await db.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${T} TO ${ident(role)}`);
}
