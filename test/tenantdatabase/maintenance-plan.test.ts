// Maintenance planning, pure: the B-tree bloat estimate, thresholds per task, objects not owned by the
// owner role reported and left alone, leftovers of an interrupted REINDEX CONCURRENTLY never rebuilt,
// views refreshed CONCURRENTLY only when a unique index allows it.
import { describe, expect, test } from '@jest/globals';
import { estimateBtreeBloat, planIndexes, planTables, planViews } from '../../src/postgres/maintenance/plan.js';
import type { IndexStat } from '../../src/postgres/maintenance/catalog.js';
import { maintenanceSpecSchema } from '../../src/api/maintenance.js';

const spec = maintenanceSpecSchema.parse({ vacuum: { minDeadTuples: 100 }, analyze: { minModifiedRows: 50 }, reindex: { minBloatPercent: 30, minIndexPages: 10 } });
const ix = (o: Partial<IndexStat>): IndexStat => ({ schema: 'public', name: 'i', table: 't', valid: true, method: 'btree', pages: 276, tuples: 100000, keyWidths: [4], fillfactor: 90, blockSize: 8192, owned: true, exclusion: false, ...o });

describe('estimateBtreeBloat', () => {
  test('a freshly built int4 index of 100,000 rows (276 pages, as PostgreSQL builds it) is not bloated', () => {
    expect(estimateBtreeBloat(ix({}))).toBeLessThan(5);
  });
  test('the same pages holding 5% of the rows are ~94% bloat', () => {
    expect(estimateBtreeBloat(ix({ tuples: 5000 }))).toBeGreaterThanOrEqual(90);
  });
  test('no estimate without key widths (expression keys, never analyzed)', () => {
    expect(estimateBtreeBloat(ix({ keyWidths: null }))).toBeUndefined();
  });
});

describe('plans', () => {
  test('one VACUUM (ANALYZE) for a table past both thresholds; ANALYZE or VACUUM alone otherwise; not owned reported', () => {
    const p = planTables(spec, [
      { schema: 'public', name: 'both', deadTuples: 500, modifiedSinceAnalyze: 500, owned: true },
      { schema: 'public', name: 'stats', deadTuples: 0, modifiedSinceAnalyze: 60, owned: true },
      { schema: 'public', name: 'dead', deadTuples: 100, modifiedSinceAnalyze: 0, owned: true },
      { schema: 'other', name: 'theirs', deadTuples: 900, modifiedSinceAnalyze: 0, owned: false },
    ], 'o');
    expect(p.steps.map((s) => s.sql)).toEqual(['VACUUM (ANALYZE) "public"."both"', 'ANALYZE "public"."stats"', 'VACUUM "public"."dead"']);
    expect(p.notes).toEqual([{ task: 'vacuum', object: '"other"."theirs"', reason: 'skipped: not owned by o' }]);
  });
  test('a task that is off plans nothing even past its threshold', () => {
    const onlyAnalyze = maintenanceSpecSchema.parse({ analyze: {} });
    expect(planTables(onlyAnalyze, [{ schema: 'public', name: 't', deadTuples: 1e6, modifiedSinceAnalyze: 0, owned: true }], 'o').steps).toEqual([]);
  });
  test('invalid and bloated indexes rebuilt CONCURRENTLY; _ccnew leftovers and exclusion-constraint indexes reported', () => {
    const p = planIndexes(spec, [
      ix({ name: 'fresh' }),
      ix({ name: 'bloated', tuples: 5000 }),
      ix({ name: 'broken', valid: false, keyWidths: null, pages: 2 }),
      ix({ name: 'broken_ccnew', valid: false }),
      ix({ name: 'excl', tuples: 10, exclusion: true }),
    ], 'o');
    expect(p.steps.map((s) => s.sql)).toEqual(['REINDEX INDEX CONCURRENTLY "public"."bloated"', 'REINDEX INDEX CONCURRENTLY "public"."broken"']);
    expect(p.notes.map((n) => n.object)).toEqual(['"public"."broken_ccnew"', '"public"."excl"']);
  });
  test('views: CONCURRENTLY with a unique index; plainly otherwise, said why; missing and foreign ones reported', () => {
    const p = planViews([
      { schema: 'public', name: 'u', exists: true, populated: true, owned: true, concurrentOk: true },
      { schema: 'public', name: 'n', exists: true, populated: false, owned: true, concurrentOk: false },
      { schema: 'public', name: 'gone', exists: false, populated: false, owned: false, concurrentOk: false },
      { schema: 'public', name: 'theirs', exists: true, populated: true, owned: false, concurrentOk: true },
    ], 'o');
    expect(p.steps.map((s) => s.sql)).toEqual(['REFRESH MATERIALIZED VIEW CONCURRENTLY "public"."u"', 'REFRESH MATERIALIZED VIEW "public"."n"']);
    expect(p.steps[1]!.note).toMatch(/never populated/);
    expect(p.notes.map((n) => n.reason)).toEqual(['skipped: no such materialized view', 'skipped: not owned by o']);
  });
  test('the schema refuses maintenance without a task', () => {
    expect(maintenanceSpecSchema.safeParse({ schedule: '@weekly' }).success).toBe(false);
  });
});
