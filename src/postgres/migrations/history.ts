// The migration history the operator keeps in each database: schema `tenantdb` (the operator's own,
// created by the administrator), table `schema_migrations`, one row per applied step and per Migration
// object (`migration` = namespace/name). Flyway's flyway_schema_history and golang-migrate's dirty flag
// in one table: a row is `success`, or `dirty` while (or after) a non-transactional step runs.
import type pg from 'pg';
import { ident, literal, qualified } from '../ident.js';
import { compareVersions } from '../../api/migration.js';
import type { HistoryRow } from '../../migrations/plan.js';

export const HISTORY_SCHEMA = 'tenantdb';
export const HISTORY_TABLE = 'schema_migrations';
const T = qualified(HISTORY_SCHEMA, HISTORY_TABLE);

/**
 * The row checks: versions as MIGRATION_VERSION_PATTERN (Flyway's dotted ones included), and
 * Flyway's repeatables keyed `R__<description>`. Named, so a table made before dotted versions and
 * repeatables existed (its checks were inline) is brought up to date once (ensureHistory).
 */
const CHECKS = [
  { name: 'schema_migrations_version_check2', check: `type = 'repeatable' OR version ~ '^[0-9]{1,18}([.][0-9]{1,18}){0,7}$'` },
  { name: 'schema_migrations_type_check2', check: `type IN ('up', 'baseline', 'repeatable')` },
] as const;

export const HISTORY_DDL = [
  `CREATE SCHEMA IF NOT EXISTS ${ident(HISTORY_SCHEMA)}`,
  `CREATE TABLE IF NOT EXISTS ${T} (
    migration    text        NOT NULL,
    version      text        NOT NULL,
    name         text        NOT NULL,
    checksum     text,
    type         text        NOT NULL,
    state        text        NOT NULL CHECK (state IN ('success', 'dirty')),
    started_at   timestamptz NOT NULL,
    applied_at   timestamptz,
    execution_ms integer,
    applied_by   text        NOT NULL,
    PRIMARY KEY (migration, version),
    ${CHECKS.map((c) => `CONSTRAINT ${ident(c.name)} CHECK (${c.check})`).join(',\n    ')}
  )`,
  `COMMENT ON TABLE ${T} IS 'Migration history of tenantdb-operator: one row per applied step and Migration object (namespace/name). Do not edit by hand; use the tenantdb.io/resolve and tenantdb.io/repair annotations.'`,
];

type Queryable = Pick<pg.ClientBase, 'query'>;

export async function historyExists(db: Queryable): Promise<boolean> {
  const r = await db.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [`${HISTORY_SCHEMA}.${HISTORY_TABLE}`]);
  return r.rows[0]?.t != null;
}

/** A table from before dotted versions and repeatables: its inline checks give way to CHECKS (one write, once). */
async function upgradeChecks(db: Queryable): Promise<void> {
  const r = await db.query<{ n: string }>(`SELECT conname AS n FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'c'`, [`${HISTORY_SCHEMA}.${HISTORY_TABLE}`]);
  const names = r.rows.map((x) => x.n);
  if (CHECKS.every((c) => names.includes(c.name))) return;
  await db.query('BEGIN');
  try {
    for (const old of ['schema_migrations_version_check', 'schema_migrations_type_check']) {
      if (names.includes(old)) await db.query(`ALTER TABLE ${T} DROP CONSTRAINT ${ident(old)}`);
    }
    for (const c of CHECKS) if (!names.includes(c.name)) await db.query(`ALTER TABLE ${T} ADD CONSTRAINT ${ident(c.name)} CHECK (${c.check})`);
    await db.query('COMMIT');
  } catch (err) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** The owner's rights on the history (schema USAGE, row reads and writes; no DDL). */
function grantsTo(role: string): string[] {
  return [`GRANT USAGE ON SCHEMA ${ident(HISTORY_SCHEMA)} TO ${ident(role)}`, `GRANT SELECT, INSERT, UPDATE, DELETE ON ${T} TO ${ident(role)}`];
}

/**
 * Creates the history table when missing (or brings its checks up to date); no write at all when it is
 * current. `grantTo`: the role that also gets its rights on it (grantHistoryTo), in the creating
 * transaction when the table is new. A new table is made in ONE round trip (the statements as one
 * simple-protocol query between BEGIN and COMMIT): it sits between `kubectl apply` and a fresh
 * database's first step.
 */
export async function ensureHistory(db: Queryable, opts: { grantTo?: string } = {}): Promise<void> {
  if (await historyExists(db)) {
    await upgradeChecks(db);
    if (opts.grantTo !== undefined) await grantHistoryTo(db, opts.grantTo);
    return;
  }
  const grants = opts.grantTo !== undefined ? grantsTo(opts.grantTo) : [];
  try {
    await db.query(['BEGIN', ...HISTORY_DDL, ...grants, 'COMMIT'].join(';\n'));
  } catch (err) {
    await db.query('ROLLBACK').catch(() => undefined);
    // Two runners on a fresh database: the other one created it first.
    if (!(await historyExists(db))) throw err;
    if (opts.grantTo !== undefined) await grantHistoryTo(db, opts.grantTo);
  }
}

export interface RawHistoryRow {
  version: string;
  name: string;
  checksum: string | null;
  type: HistoryRow['type'];
  state: 'success' | 'dirty';
  started_at: Date;
  applied_at: Date | null;
  execution_ms: number | null;
  applied_by: string;
}

const SELECT_HISTORY = `SELECT version, name, checksum, type, state, started_at, applied_at, execution_ms, applied_by FROM ${T} WHERE migration =`;

/** The history of one Migration object; empty when the table does not exist yet (read-only). `exists`: the caller made sure it does. */
export async function readHistory(db: Queryable, migration: string, opts: { exists?: boolean } = {}): Promise<HistoryRow[]> {
  return (await readHistoryOf(db, migration, opts)).rows;
}

/**
 * The history of one Migration object and whether the table is there (read-only). `seen`: it was when
 * this process last looked, so the rows are read at once, one round trip instead of two (a converged
 * pass, or a new Migration on a database with history, reads it on every look), and a table dropped
 * since (42P01) is an empty history. Otherwise the table is looked for first: a read of a missing table
 * would put an error in the server's log on every look at a database no run has reached yet.
 */
export async function readHistoryOf(db: Queryable, migration: string, opts: { exists?: boolean; seen?: boolean } = {}): Promise<{ rows: HistoryRow[]; exists: boolean }> {
  if (!opts.exists && !opts.seen && !(await historyExists(db))) return { rows: [], exists: false };
  try {
    const r = await db.query<RawHistoryRow>(`${SELECT_HISTORY} $1`, [migration]);
    return { rows: historyOf(r.rows), exists: true };
  } catch (err) {
    if (opts.seen && !opts.exists && (err as { code?: string }).code === '42P01') return { rows: [], exists: false };
    throw err;
  }
}

/**
 * One statement reading the history of `migration`, for a simple-protocol query that sends it behind
 * another (the run's lock): the key is a quoted literal, as such a query takes no parameters.
 */
export function historyStatement(migration: string): string {
  return `${SELECT_HISTORY} ${literal(migration)}`;
}

/** History rows as read (readHistory, historyStatement), in order. */
export function historyOf(rows: RawHistoryRow[]): HistoryRow[] {
  // Versions in order (dotted ones compare part by part), repeatables after them by description.
  const rep = (v: string) => v.startsWith('R__');
  rows.sort((a, b) => (rep(a.version) || rep(b.version) ? Number(rep(a.version)) - Number(rep(b.version)) || (a.version < b.version ? -1 : 1) : compareVersions(a.version, b.version)));
  return rows.map((x) => ({
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
  insertAdopted: `INSERT INTO ${T} (migration, version, name, checksum, type, state, started_at, applied_at, execution_ms, applied_by)
    VALUES ($1, $2, $3, $4, $5, 'success', clock_timestamp(), clock_timestamp(), 0, $6)`,
  insertRepeatable: `INSERT INTO ${T} (migration, version, name, checksum, type, state, started_at, applied_at, execution_ms, applied_by)
    VALUES ($1, $2, $3, $4, 'repeatable', $5, clock_timestamp(), CASE WHEN $5 = 'success' THEN clock_timestamp() END, $6, $7)`,
  markRepeatable: `UPDATE ${T} SET state = 'success', applied_at = clock_timestamp(), execution_ms = $3 WHERE migration = $1 AND version = $2`,
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
  for (const g of grantsTo(role)) await db.query(g);
}
