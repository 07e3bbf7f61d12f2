// What maintenance needs to know about a database, read in three catalog queries whatever its size:
// tables past a dead-tuple or modified-rows threshold (pg_stat_user_tables), indexes that are invalid
// or large enough for a bloat estimate (pg_index, pg_class, with the average widths of their key
// columns from pg_stats), and the listed materialized views (populated, owner, a unique index that
// allows REFRESH ... CONCURRENTLY). Nothing is read per table, so planning over thousands of tables
// costs the same three round trips; a database where nothing passes a threshold returns no rows.
import type { Queryable } from '../database/catalog.js';

export interface TableStat {
  schema: string;
  name: string;
  deadTuples: number;
  modifiedSinceAnalyze: number;
  /** Owned by the role maintenance runs as (others are reported, never touched). */
  owned: boolean;
}

export interface IndexStat {
  schema: string;
  name: string;
  table: string;
  valid: boolean;
  method: string;
  pages: number;
  tuples: number;
  /** avg_width of each key column from pg_stats; null when a key is an expression or not analyzed. */
  keyWidths: number[] | null;
  /** Leaf fillfactor (reloptions), default 90 for B-tree. */
  fillfactor: number;
  blockSize: number;
  owned: boolean;
  /** Backs an exclusion constraint (REINDEX CONCURRENTLY refuses those). */
  exclusion: boolean;
}

export interface MatViewStat {
  schema: string;
  name: string;
  exists: boolean;
  populated: boolean;
  owned: boolean;
  /** A unique, valid, non-partial index on plain columns: what REFRESH ... CONCURRENTLY needs. */
  concurrentOk: boolean;
}

export interface Thresholds {
  /** null: the task is off. */
  minDeadTuples: number | null;
  minModifiedRows: number | null;
  minIndexPages: number | null;
}

const OWNER = `(SELECT oid FROM pg_roles WHERE rolname = $1)`;

export async function readTableStats(db: Queryable, owner: string, t: Thresholds): Promise<TableStat[]> {
  if (t.minDeadTuples === null && t.minModifiedRows === null) return [];
  const r = await db.query<{ schema: string; name: string; dead: string; modified: string; owned: boolean }>(
    `SELECT s.schemaname AS schema, s.relname AS name, s.n_dead_tup AS dead, s.n_mod_since_analyze AS modified, c.relowner = ${OWNER} AS owned
       FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
      WHERE ($2::bigint IS NOT NULL AND s.n_dead_tup >= $2::bigint) OR ($3::bigint IS NOT NULL AND s.n_mod_since_analyze >= $3::bigint)
      ORDER BY s.schemaname, s.relname`,
    [owner, t.minDeadTuples, t.minModifiedRows],
  );
  return r.rows.map((x) => ({ schema: x.schema, name: x.name, deadTuples: Number(x.dead), modifiedSinceAnalyze: Number(x.modified), owned: x.owned }));
}

export async function readIndexStats(db: Queryable, owner: string, t: Thresholds): Promise<IndexStat[]> {
  if (t.minIndexPages === null) return [];
  const r = await db.query<{
    schema: string; name: string; tbl: string; valid: boolean; method: string; pages: number; tuples: number;
    widths: number[] | null; ff: string | null; bs: string; owned: boolean; excl: boolean;
  }>(
    `SELECT n.nspname AS schema, ci.relname AS name, ct.relname AS tbl, i.indisvalid AS valid, am.amname AS method,
            ci.relpages AS pages, ci.reltuples::float8 AS tuples, ct.relowner = ${OWNER} AS owned, i.indisexclusion AS excl,
            (SELECT substring(o FROM 'fillfactor=([0-9]+)') FROM unnest(ci.reloptions) o WHERE o LIKE 'fillfactor=%') AS ff,
            current_setting('block_size') AS bs,
            CASE WHEN i.indexprs IS NULL THEN
              (SELECT array_agg(s.avg_width ORDER BY k.ord) FROM unnest(i.indkey[0:i.indnkeyatts - 1]) WITH ORDINALITY k(attnum, ord)
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                 JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = ct.relname AND s.attname = a.attname)
            END AS widths
       FROM pg_index i
       JOIN pg_class ci ON ci.oid = i.indexrelid AND ci.relkind = 'i'
       JOIN pg_class ct ON ct.oid = i.indrelid
       JOIN pg_namespace n ON n.oid = ci.relnamespace
       JOIN pg_am am ON am.oid = ci.relam
      WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
        AND (NOT i.indisvalid OR (am.amname = 'btree' AND ci.relpages >= $2))
      ORDER BY n.nspname, ci.relname`,
    [owner, t.minIndexPages],
  );
  return r.rows.map((x) => ({
    schema: x.schema,
    name: x.name,
    table: x.tbl,
    valid: x.valid,
    method: x.method,
    pages: Number(x.pages),
    tuples: Number(x.tuples),
    // pg_stats has one row per key column when all are analyzed; fewer means an estimate is not possible.
    keyWidths: x.widths && x.widths.length > 0 ? x.widths.map(Number) : null,
    fillfactor: x.ff ? Number(x.ff) : 90,
    blockSize: Number(x.bs),
    owned: x.owned,
    exclusion: x.excl,
  }));
}

export async function readMatViews(db: Queryable, owner: string, views: ReadonlyArray<{ schema: string; name: string }>): Promise<MatViewStat[]> {
  if (views.length === 0) return [];
  const r = await db.query<{ schema: string; name: string; oid: string | null; populated: boolean | null; owned: boolean | null; concurrent: boolean | null }>(
    `SELECT v.schema, v.name, c.oid, c.relispopulated AS populated, c.relowner = ${OWNER} AS owned,
            EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisunique AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL) AS concurrent
       FROM unnest($2::text[], $3::text[]) WITH ORDINALITY v(schema, name, ord)
       LEFT JOIN pg_namespace n ON n.nspname = v.schema
       LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = v.name AND c.relkind = 'm'
      ORDER BY v.ord`,
    [owner, views.map((v) => v.schema), views.map((v) => v.name)],
  );
  return r.rows.map((x) => ({ schema: x.schema, name: x.name, exists: x.oid !== null, populated: x.populated ?? false, owned: x.owned ?? false, concurrentOk: (x.concurrent ?? false) && (x.populated ?? false) }));
}
