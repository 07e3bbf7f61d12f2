// Pure logic of the lint (src/migrations/lint): each rule on the statement it is about and on the safe
// form of it, tables created earlier in the pending steps exempt, waivers per step (spec and script),
// the size filter, and the cache by content.
import { lintSteps, onLargeTables, scriptWaivers, tablesToSize, unwaived, type LintFinding, type LintStep } from '../../src/migrations/lint/index.js';

const step = (version: string, up: string, name = `s${version}`): LintStep => ({ version, name, up });
const rulesOf = async (sql: string) => (await lintSteps([step('1', sql)])).map((f) => f.rule);

test.each([
  ['CREATE INDEX i ON t (a)', ['require-concurrent-index-creation']],
  ['CREATE UNIQUE INDEX CONCURRENTLY i ON t (a)', []],
  ['DROP INDEX i', ['require-concurrent-index-deletion']],
  ['DROP INDEX CONCURRENTLY i', []],
  ['ALTER TABLE t ADD COLUMN c int NOT NULL', ['adding-required-field']],
  ['ALTER TABLE t ADD COLUMN c int NOT NULL DEFAULT 0', []],
  ['ALTER TABLE t ADD COLUMN c int', []],
  ['ALTER TABLE t ALTER COLUMN c SET NOT NULL', ['adding-not-nullable-field']],
  ['ALTER TABLE t ADD COLUMN c uuid DEFAULT gen_random_uuid()', ['adding-field-with-default']],
  ['ALTER TABLE t ADD COLUMN c timestamptz DEFAULT now()', []],
  ['ALTER TABLE t ADD COLUMN c timestamptz DEFAULT current_timestamp', []],
  ['ALTER TABLE t ADD COLUMN c bigserial', ['adding-field-with-default']],
  ['ALTER TABLE t ADD COLUMN c int GENERATED ALWAYS AS (a * 2) STORED', ['adding-field-with-default']],
  ['ALTER TABLE t ALTER COLUMN c TYPE bigint', ['changing-column-type']],
  ['ALTER TABLE t ADD CONSTRAINT k CHECK (a > 0)', ['constraint-missing-not-valid']],
  ['ALTER TABLE t ADD CONSTRAINT k CHECK (a > 0) NOT VALID', []],
  ['ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES u (id)', ['adding-foreign-key-constraint']],
  ['ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES u (id) NOT VALID', []],
  ['ALTER TABLE t ADD CONSTRAINT q UNIQUE (a)', ['disallowed-unique-constraint']],
  ['ALTER TABLE t ADD CONSTRAINT q UNIQUE USING INDEX i', []],
  ['ALTER TABLE t ADD PRIMARY KEY (a)', ['adding-serial-primary-key-field']],
  ['ALTER TABLE t RENAME COLUMN a TO b', ['renaming-column']],
  ['ALTER TABLE t RENAME TO u', ['renaming-table']],
  ['ALTER TABLE t DROP COLUMN a', ['ban-drop-column']],
  ['DROP TABLE t, s.u', ['ban-drop-table', 'ban-drop-table']],
  ['SELECT 1; INSERT INTO t VALUES (1)', []],
])('%s -> %j', async (sql, expected) => {
  expect(await rulesOf(sql)).toEqual(expected);
});

test('findings name the step, line, a bounded statement, the table and a message', async () => {
  const [f] = await lintSteps([step('7', `-- a comment\nSELECT 1;\n\nCREATE INDEX i ON app.orders (${'a, '.repeat(200)}b);`, 'idx')]);
  expect(f).toMatchObject({ version: '7', name: 'idx', rule: 'require-concurrent-index-creation', line: 4, table: 'app.orders', sizeSensitive: true });
  expect(f?.statement.length).toBeLessThanOrEqual(200);
  expect(f?.statement.endsWith('...')).toBe(true);
  expect(f?.message).toMatch(/CONCURRENTLY/);
});

test('a table created earlier in the pending steps (same step or an earlier one) is never an existing table', async () => {
  const found = await lintSteps([
    step('1', 'CREATE TABLE app.t (a int); CREATE INDEX ti ON app.t (a);'),
    step('2', 'ALTER TABLE t ADD COLUMN b int NOT NULL; ALTER TABLE app.t ALTER COLUMN a TYPE bigint; DROP INDEX ti; CREATE TABLE x AS SELECT 1 AS a; CREATE INDEX xi ON x (a)'),
    step('3', 'CREATE INDEX oi ON other (a)'),
  ]);
  expect(found.map((f) => [f.version, f.rule])).toEqual([['3', 'require-concurrent-index-creation']]);
});

test('a syntax error is left to the run (which reports it with its line); other steps are still linted', async () => {
  const found = await lintSteps([step('1', 'CREATE TABLE ('), step('2', 'CREATE INDEX i ON t (a)')]);
  expect(found.map((f) => f.version)).toEqual(['2']);
});

test('waivers: per step version in the spec (001 = 1), or a tenantdb:lint-ignore line in the step script', async () => {
  const steps = [step('1', 'CREATE INDEX i ON t (a); ALTER TABLE t DROP COLUMN z;'), step('2', '-- tenantdb:lint-ignore ban-drop-column, renaming-column\nALTER TABLE t DROP COLUMN y; CREATE INDEX j ON t (b);')];
  expect(scriptWaivers(steps[1]?.up ?? '')).toEqual(new Set(['ban-drop-column', 'renaming-column']));
  const found = await lintSteps(steps);
  expect(found.map((f) => `${f.version}:${f.rule}`)).toEqual(['1:require-concurrent-index-creation', '1:ban-drop-column', '2:ban-drop-column', '2:require-concurrent-index-creation']);
  const left = unwaived(found, steps, [{ version: '001', rules: ['require-concurrent-index-creation'] }]);
  expect(left.map((f) => `${f.version}:${f.rule}`)).toEqual(['1:ban-drop-column', '2:require-concurrent-index-creation']);
});

test('size: lock-while-scanning findings stand on tables larger than the threshold; others always; a missing table is small', async () => {
  const found = await lintSteps([step('1', 'CREATE INDEX i ON big (a); CREATE INDEX j ON small (a); CREATE INDEX k ON gone (a); ALTER TABLE small DROP COLUMN c;')]);
  expect(tablesToSize(found).sort()).toEqual(['big', 'gone', 'small']);
  const sizes = new Map<string, number | undefined>([
    ['big', 10_000_000],
    ['small', 8192],
    ['gone', undefined],
  ]);
  expect(onLargeTables(found, sizes, 1_048_576).map((f: LintFinding) => `${f.table}:${f.rule}`)).toEqual(['big:require-concurrent-index-creation', 'small:ban-drop-column']);
  expect(onLargeTables(found, sizes, 0).map((f) => f.table)).toEqual(['big', 'small', 'small']);
});

test('the same pending set is linted once (cached by content); a changed script is linted again', async () => {
  const a = [step('1', 'CREATE INDEX i ON t (a)')];
  const first = lintSteps(a);
  expect(lintSteps([step('1', 'CREATE INDEX i ON t (a)')])).toBe(first);
  expect(lintSteps([step('1', 'CREATE INDEX CONCURRENTLY i ON t (a)')])).not.toBe(first);
  expect(await lintSteps([step('1', 'CREATE INDEX CONCURRENTLY i ON t (a)')])).toEqual([]);
});
