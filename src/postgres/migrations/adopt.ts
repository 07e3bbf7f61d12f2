// Taking over from the tool that migrated a database before: its history table is read (SELECT only;
// it is not ours, so it is never altered or dropped) in the schema the tool uses by default, or the one
// spec.adopt names. What each tool records (from its sources):
// - golang-migrate (database/postgres): `schema_migrations(version bigint, dirty boolean)`, one row, the
//   version it is at; dirty = a migration failed part-way and `migrate force` is needed.
// - Flyway: `flyway_schema_history(installed_rank, version, description, type, script, checksum,
//   installed_by, installed_on, execution_time, success)` in the default schema; type SQL/JDBC rows apply
//   a version, UNDO_SQL undoes one, BASELINE marks a baseline, DELETE (repair) removes one; version NULL
//   is a repeatable; success = false is a failed migration (`flyway repair` removes it).
// - goose: `goose_db_version(id, version_id, is_applied, tstamp)`, one row per up (is_applied true) or
//   down (false), the latest row of a version deciding; version 0 is goose's own first row.
// - dbmate: `schema_migrations(version varchar)`, one row per applied version.
// - Atlas: `atlas_schema_revisions.atlas_schema_revisions(version, description, type, applied, total,
//   error, hash, ...)`; type is a bit set (1 baseline, 2 executed, 4 resolved by `migrate set`); a row
//   with an error or applied < total stopped part-way unless it was resolved.
import type pg from 'pg';
import type { AdoptableTool } from '../../api/migration.js';
import type { AdoptedHistory } from '../../migrations/plan.js';
import { describePgError } from '../connections.js';
import { ident } from '../ident.js';

export interface AdoptSource {
  tool: AdoptableTool;
  schema?: string | undefined;
  table?: string | undefined;
  /** The role the run reads it as, for the GRANT a person has to give when it cannot read the table. */
  readerRole?: string | undefined;
  /** Also check (from the catalog) that readerRole may read it: the administrator's look ahead of a run as the owner. */
  checkReader?: boolean | undefined;
}

export const ADOPT_DEFAULTS: Readonly<Record<AdoptableTool, { schema: string; table: string }>> = {
  'golang-migrate': { schema: 'public', table: 'schema_migrations' },
  flyway: { schema: 'public', table: 'flyway_schema_history' },
  goose: { schema: 'public', table: 'goose_db_version' },
  dbmate: { schema: 'public', table: 'schema_migrations' },
  atlas: { schema: 'atlas_schema_revisions', table: 'atlas_schema_revisions' },
};

type Queryable = Pick<pg.ClientBase, 'query'>;
type Row = Record<string, unknown>;

export type AdoptRead = { history: AdoptedHistory } | { unreadable: string } | undefined;

const str = (v: unknown) => (v === null || v === undefined ? undefined : String(v));

function golangMigrate(rows: Row[], base: Pick<AdoptedHistory, 'tool' | 'table'>): AdoptedHistory {
  const r = rows[0];
  if (!r || Number(r.version) < 0) return { ...base, applied: [] };
  const version = String(r.version);
  if (r.dirty === true) {
    return { ...base, applied: [], problem: `version ${version} is dirty (a migration failed part-way); check what it left, then run \`migrate force ${version}\` (it is complete) or \`migrate force <previous version>\` with golang-migrate` };
  }
  return { ...base, upTo: version, applied: [] };
}

function flyway(rows: Row[], base: Pick<AdoptedHistory, 'tool' | 'table'>): AdoptedHistory {
  const applied = new Map<string, string | undefined>();
  const repeatables = new Map<string, string | undefined>();
  let baseline: string | undefined;
  for (const r of rows) {
    const version = str(r.version);
    const type = String(r.type);
    if (r.success === false) {
      return { ...base, applied: [], problem: `${version !== undefined ? `version ${version}` : `repeatable ${str(r.description)}`} (${str(r.script)}) failed (success = false); fix the database, then run \`flyway repair\` to remove the failed entry` };
    }
    if (type === 'SCHEMA') continue;
    if (type === 'BASELINE') baseline = version;
    else if (version === undefined) repeatables.set(String(r.description), str(r.checksum));
    else if (type === 'UNDO_SQL' || type === 'DELETE') applied.delete(version);
    else applied.set(version, str(r.checksum));
  }
  return {
    ...base,
    applied: [...applied].map(([version, checksum]) => ({ version, ...(checksum !== undefined ? { checksum } : {}) })),
    ...(baseline !== undefined ? { baseline } : {}),
    repeatables: [...repeatables].map(([description, checksum]) => ({ description, ...(checksum !== undefined ? { checksum } : {}) })),
  };
}

function goose(rows: Row[], base: Pick<AdoptedHistory, 'tool' | 'table'>): AdoptedHistory {
  const state = new Map<string, boolean>();
  for (const r of rows) if (String(r.version_id) !== '0') state.set(String(r.version_id), r.is_applied === true);
  return { ...base, applied: [...state].filter(([, on]) => on).map(([version]) => ({ version })) };
}

function atlas(rows: Row[], base: Pick<AdoptedHistory, 'tool' | 'table'>): AdoptedHistory {
  let baseline: string | undefined;
  const applied: AdoptedHistory['applied'] = [];
  for (const r of rows) {
    const version = String(r.version);
    const type = Number(r.type);
    const partial = (str(r.error) ?? '') !== '' || Number(r.applied) < Number(r.total);
    if (partial && (type & 4) === 0) {
      return { ...base, applied: [], problem: `version ${version} stopped part-way (${Number(r.applied)} of ${Number(r.total)} statements${str(r.error) ? `: ${str(r.error)}` : ''}); fix the database, then run \`atlas migrate set\` to record what it holds` };
    }
    if ((type & 1) !== 0) baseline = version;
    else applied.push({ version, ...(str(r.hash) ? { checksum: String(r.hash).replace(/^h1:/, '') } : {}) });
  }
  return { ...base, applied, ...(baseline !== undefined ? { baseline } : {}) };
}

const QUERIES: Readonly<Record<AdoptableTool, { columns: string; order: string; read: (rows: Row[], base: Pick<AdoptedHistory, 'tool' | 'table'>) => AdoptedHistory }>> = {
  'golang-migrate': { columns: 'version, dirty', order: 'version DESC', read: golangMigrate },
  flyway: { columns: 'installed_rank, version, description, type, script, checksum, success', order: 'installed_rank', read: flyway },
  goose: { columns: 'id, version_id, is_applied', order: 'id', read: goose },
  dbmate: { columns: 'version', order: 'version', read: (rows, base) => ({ ...base, applied: rows.map((r) => ({ version: String(r.version) })) }) },
  atlas: { columns: 'version, type, applied, total, error, hash', order: 'version', read: atlas },
};

/** The old tool's history; undefined when its table does not exist (nothing to adopt: a fresh database). */
export async function readAdoptedHistory(db: Queryable, src: AdoptSource): Promise<AdoptRead> {
  const d = ADOPT_DEFAULTS[src.tool];
  const schema = src.schema ?? d.schema;
  const table = src.table ?? d.table;
  const name = `${ident(schema)}.${ident(table)}`;
  const q = QUERIES[src.tool];
  try {
    const exists = await db.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [name]);
    if (exists.rows[0]?.t == null) return undefined;
    if (src.checkReader && src.readerRole !== undefined) {
      const p = await db.query<{ ok: boolean }>(`SELECT has_schema_privilege($1, $2, 'USAGE') AND has_table_privilege($1, $3, 'SELECT') AS ok`, [src.readerRole, schema, name]);
      if (!p.rows[0]?.ok) return { unreadable: grantMessage(src, schema, table, `${src.readerRole} has no SELECT on it`) };
    }
    const r = await db.query<Row>(`SELECT ${q.columns} FROM ${name} ORDER BY ${q.order}`);
    return { history: q.read(r.rows, { tool: src.tool, table: `${schema}.${table}` }) };
  } catch (err) {
    const e = describePgError(err);
    if (e.code === '42501') return { unreadable: grantMessage(src, schema, table, e.message) };
    if (e.code === '42703' || e.code === '42P01') return { unreadable: `${schema}.${table} is not ${src.tool}'s history table (${e.message}); name the right one in spec.adopt` };
    throw err;
  }
}

function grantMessage(src: AdoptSource, schema: string, table: string, why: string): string {
  const who = src.readerRole !== undefined ? ident(src.readerRole) : '<the role the migration runs as>';
  return `cannot read ${src.tool}'s history ${schema}.${table} to adopt it (${why}); it is not the operator's, so it is only read: GRANT USAGE ON SCHEMA ${ident(schema)} TO ${who}; GRANT SELECT ON ${ident(schema)}.${ident(table)} TO ${who}`;
}
