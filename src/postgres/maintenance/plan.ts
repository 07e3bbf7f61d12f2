// From catalog facts to statements, pure. Tables the owner role does not own are reported and left
// alone (maintenance runs as the owner and never touches what is not the database's own). A table past
// both thresholds gets one VACUUM (ANALYZE) rather than two passes over it. Never VACUUM FULL: it
// rewrites the table under an ACCESS EXCLUSIVE lock, which is exactly what maintenance must not do.
import type { MaintenanceSpec, MaintenanceTask } from '../../api/maintenance.js';
import { ident, qualified } from '../ident.js';
import type { IndexStat, MatViewStat, TableStat, Thresholds } from './catalog.js';

export interface MaintenanceStep {
  task: MaintenanceTask;
  /** A second task the same statement does (VACUUM (ANALYZE) counts for analyze too). */
  also?: MaintenanceTask;
  /** The object as SQL names it. */
  object: string;
  sql: string;
  /** Set for REINDEX ... CONCURRENTLY: what a cancelled rebuild may leave behind (see run.ts). */
  reindex?: { schema: string; index: string };
  /** Said in status (e.g. a view refreshed without CONCURRENTLY). */
  note?: string;
}

export interface PlanNote {
  task: MaintenanceTask;
  object: string;
  reason: string;
}

export interface Plan {
  steps: MaintenanceStep[];
  notes: PlanNote[];
}

export function thresholdsOf(spec: MaintenanceSpec): Thresholds {
  return {
    minDeadTuples: spec.vacuum ? spec.vacuum.minDeadTuples : null,
    minModifiedRows: spec.analyze ? spec.analyze.minModifiedRows : null,
    minIndexPages: spec.reindex ? spec.reindex.minIndexPages : null,
  };
}

export function planTables(spec: MaintenanceSpec, tables: readonly TableStat[], owner: string): Plan {
  const plan: Plan = { steps: [], notes: [] };
  for (const t of tables) {
    const object = qualified(t.schema, t.name);
    const vacuum = spec.vacuum !== undefined && t.deadTuples >= spec.vacuum.minDeadTuples;
    const analyze = spec.analyze !== undefined && t.modifiedSinceAnalyze >= spec.analyze.minModifiedRows;
    if (!vacuum && !analyze) continue;
    if (!t.owned) {
      plan.notes.push({ task: vacuum ? 'vacuum' : 'analyze', object, reason: `skipped: not owned by ${owner}` });
      continue;
    }
    if (vacuum && analyze) plan.steps.push({ task: 'vacuum', also: 'analyze', object, sql: `VACUUM (ANALYZE) ${object}` });
    else if (vacuum) plan.steps.push({ task: 'vacuum', object, sql: `VACUUM ${object}` });
    else plan.steps.push({ task: 'analyze', object, sql: `ANALYZE ${object}` });
  }
  return plan;
}

// B-tree page layout (PostgreSQL's storage/bufpage.h and access/nbtree.h): a 24-byte page header and a
// 16-byte special space; each tuple is an 8-byte IndexTupleData (heap TID + info) plus its keys,
// MAXALIGNed to 8, and a 4-byte line pointer. Leaves are filled to fillfactor (90 by default).
const PAGE_HEADER = 24;
const BTREE_SPECIAL = 16;
const INDEX_TUPLE_HEADER = 8;
const LINE_POINTER = 4;
const align8 = (n: number) => Math.ceil(n / 8) * 8;

/** Estimated bloat of a B-tree index in percent (0-100), or undefined when it cannot be estimated. */
export function estimateBtreeBloat(ix: Pick<IndexStat, 'pages' | 'tuples' | 'keyWidths' | 'fillfactor' | 'blockSize'>): number | undefined {
  if (!ix.keyWidths || ix.pages <= 1 || ix.tuples < 0) return undefined;
  const tupleBytes = align8(INDEX_TUPLE_HEADER + ix.keyWidths.reduce((a, b) => a + b, 0)) + LINE_POINTER;
  const perLeaf = Math.max(1, Math.floor(((ix.blockSize - PAGE_HEADER - BTREE_SPECIAL) * ix.fillfactor) / 100 / tupleBytes));
  const leaves = Math.max(1, Math.ceil(ix.tuples / perLeaf));
  // The metapage, plus internal pages: one downlink per leaf, perLeaf downlinks per internal page.
  const expected = 1 + leaves + Math.ceil(leaves / perLeaf);
  return Math.max(0, Math.min(100, Math.round((1 - expected / ix.pages) * 100)));
}

/** Leftovers of a cancelled REINDEX CONCURRENTLY: PostgreSQL's docs say to drop them, not rebuild them. */
const CONCURRENT_LEFTOVER = /_cc(new|old)[0-9]*$/;

export function planIndexes(spec: MaintenanceSpec, indexes: readonly IndexStat[], owner: string): Plan {
  const plan: Plan = { steps: [], notes: [] };
  if (!spec.reindex) return plan;
  for (const ix of indexes) {
    const object = qualified(ix.schema, ix.name);
    let why: string | undefined;
    if (!ix.valid) why = 'invalid (a failed CREATE INDEX CONCURRENTLY)';
    else {
      const bloat = estimateBtreeBloat(ix);
      if (bloat !== undefined && bloat >= spec.reindex.minBloatPercent) why = `estimated bloat ${bloat}%`;
    }
    if (!why) continue;
    if (!ix.owned) plan.notes.push({ task: 'reindex', object, reason: `skipped (${why}): not owned by ${owner}` });
    else if (!ix.valid && CONCURRENT_LEFTOVER.test(ix.name)) plan.notes.push({ task: 'reindex', object, reason: 'skipped: left by an interrupted REINDEX CONCURRENTLY; drop it (DROP INDEX CONCURRENTLY), the original index is intact' });
    else if (ix.exclusion) plan.notes.push({ task: 'reindex', object, reason: `skipped (${why}): backs an exclusion constraint, which cannot be rebuilt CONCURRENTLY` });
    else plan.steps.push({ task: 'reindex', object, sql: `REINDEX INDEX CONCURRENTLY ${object}`, reindex: { schema: ix.schema, index: ix.name }, note: why });
  }
  return plan;
}

export function planViews(views: readonly MatViewStat[], owner: string): Plan {
  const plan: Plan = { steps: [], notes: [] };
  for (const v of views) {
    const object = qualified(v.schema, v.name);
    if (!v.exists) plan.notes.push({ task: 'refreshMaterializedViews', object, reason: 'skipped: no such materialized view' });
    else if (!v.owned) plan.notes.push({ task: 'refreshMaterializedViews', object, reason: `skipped: not owned by ${owner}` });
    else if (v.concurrentOk) plan.steps.push({ task: 'refreshMaterializedViews', object, sql: `REFRESH MATERIALIZED VIEW CONCURRENTLY ${object}` });
    else {
      const why = v.populated ? 'it has no unique index on plain columns' : 'it was never populated';
      plan.steps.push({ task: 'refreshMaterializedViews', object, sql: `REFRESH MATERIALIZED VIEW ${object}`, note: `refreshed without CONCURRENTLY (readers wait): ${why}` });
    }
  }
  return plan;
}

/** SET ROLE for the run: the owner's rights, never the administrator's. */
export function setRoleSql(owner: string): string {
  return `SET ROLE ${ident(owner)}`;
}
