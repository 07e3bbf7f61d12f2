// Pure logic: each tool's migration directory read into the one step model (empty scripts, dotted
// names and versions, per-script transaction directives, Flyway's checksum and repeatables, Atlas's
// atlas.sum), detection, and the plan's adoption of another tool's history.
import { createHash } from 'node:crypto';
import { compareVersions, normalizeVersion } from '../../src/api/migration.js';
import { PARSERS, atlasHashes, detectFormat, flywayChecksum } from '../../src/migrations/formats/index.js';
import { adoptHistory, planMigration, type AdoptedHistory, type PlanOptions } from '../../src/migrations/plan.js';
import { gatherSteps, type ConfigMapLike } from '../../src/migrations/steps.js';

const opts = (o: Partial<PlanOptions> = {}): PlanOptions => ({ allowDown: false, outOfOrder: false, repair: false, ...o });
const parse = (format: keyof typeof PARSERS, data: Record<string, string>) => {
  const r = PARSERS[format](data, 'cm');
  if (!r.ok) throw new Error(r.message);
  return { ...r, steps: [...r.steps].sort((a, b) => compareVersions(a.version, b.version)) };
};

test('versions: Flyway dotted parts compare left-aligned, leading zeros and trailing .0 ignored', () => {
  expect(compareVersions('1.2.10', '1.2.9.4')).toBe(1);
  expect(compareVersions('1.0', '1')).toBe(0);
  expect(compareVersions('001', '2')).toBe(-1);
  expect(normalizeVersion('01.02.0')).toBe('1.2');
});

describe('golang-migrate', () => {
  test('any title (dots included), empty scripts as no-op steps, a down script missing only matters going down', () => {
    const r = parse('golang-migrate', {
      '1_init.up.sql': 'CREATE TABLE t (id int);',
      '1_init.down.sql': '',
      '2_upgrade_channels_v6.0.up.sql': '',
      '3_Index Concurrently.up.sql': 'CREATE INDEX CONCURRENTLY i ON t (id);',
    });
    expect(r.steps.map((s) => [s.version, s.name, s.up, s.down, s.auto])).toEqual([
      ['1', 'init', 'CREATE TABLE t (id int);', '', { up: true, down: true }],
      ['2', 'upgrade_channels_v6.0', '', undefined, { up: true, down: true }],
      ['3', 'Index Concurrently', 'CREATE INDEX CONCURRENTLY i ON t (id);', undefined, { up: true, down: true }],
    ]);
    const applied = r.steps.map((s) => ({ version: s.version, name: s.name, checksum: s.checksum, type: 'up' as const, state: 'success' as const, startedAt: new Date(), appliedAt: null, executionMs: 0, appliedBy: 't' }));
    expect(planMigration(applied.slice(0, 2), r.steps, opts())).toMatchObject({ ok: true, pending: ['3'] });
    expect(planMigration(applied, r.steps, opts({ targetVersion: '1', allowDown: true }))).toMatchObject({ ok: false, reason: 'MissingDownScript', message: expect.stringContaining('step 3, 2') });
  });
  test('our directive on the down script is its own', () => {
    const r = parse('golang-migrate', { '1_a.up.sql': 'SELECT 1;', '1_a.down.sql': '-- tenantdb:transactional false\nDROP INDEX CONCURRENTLY i;' });
    expect(r.steps[0]).toMatchObject({ transactional: true, downTransactional: false, auto: { up: true, down: false } });
  });
});

describe('flyway', () => {
  test('V/U/R scripts, dotted and underscored versions, executeInTransaction per script, checksums', () => {
    const r = parse('flyway', {
      'V1__init.sql': 'CREATE TABLE t (id int);\n',
      'V1_1__add_v.sql': 'ALTER TABLE t ADD v text;',
      'V2.0.1__index.sql': 'CREATE INDEX CONCURRENTLY i ON t (v);',
      'V2.0.1__index.sql.conf': 'executeInTransaction=false\n',
      'U2.0.1__index.sql': 'DROP INDEX CONCURRENTLY i;',
      'U2.0.1__index.sql.conf': '# undo outside a transaction\nexecuteInTransaction=false',
      'U1_1__add_v.sql': 'ALTER TABLE t DROP v;',
      'R__views.sql': 'CREATE OR REPLACE VIEW v AS SELECT 1;',
    });
    expect(r.steps.map((s) => [s.version, s.name, s.transactional, s.down !== undefined, s.downTransactional])).toEqual([
      ['1', 'init', true, false, true],
      ['1.1', 'add_v', true, true, true],
      ['2.0.1', 'index', false, true, false],
    ]);
    expect(r.steps[2]?.auto).toEqual({ up: false, down: false });
    expect(r.repeatables.map((x) => x.description)).toEqual(['views']);
    expect(r.steps[0]?.toolChecksum).toBe(String(flywayChecksum('CREATE TABLE t (id int);\n')));
  });
  test("the checksum is CRC32 of the lines without terminators (line endings and a BOM do not matter), signed 32-bit", () => {
    const lines = ['CREATE TABLE t (', '  id int', ');'];
    const crcOfConcat = flywayChecksum(lines.join(''));
    expect(flywayChecksum(lines.join('\n'))).toBe(crcOfConcat);
    expect(flywayChecksum(lines.join('\r\n') + '\r\n')).toBe(crcOfConcat);
    expect(flywayChecksum('\uFEFF' + lines.join('\n'))).toBe(crcOfConcat);
    // java.util.zip.CRC32 of "123456789" is 0xCBF43926, stored as an int: -873187034.
    expect(flywayChecksum('123456789')).toBe(-873187034);
  });
  test('refuses what it cannot honour, naming the key', () => {
    expect(PARSERS.flyway({ 'V1__a.sql.conf': 'executeInTransaction=false' }, 'cm')).toMatchObject({ ok: false, message: expect.stringMatching(/key V1__a.sql.conf: a script configuration without its script/) });
    expect(PARSERS.flyway({ 'V1__a.sql': 'x', 'V1__a.sql.conf': 'mixed=true' }, 'cm')).toMatchObject({ ok: false, message: expect.stringMatching(/not supported/) });
    expect(PARSERS.flyway({ 'U3__a.sql': 'x' }, 'cm')).toMatchObject({ ok: false, message: expect.stringMatching(/key U3__a.sql: an undo script without a versioned script/) });
  });
});

describe('goose', () => {
  test('Up/Down sections keep their lines; NO TRANSACTION covers both; StatementBegin/End must pair', () => {
    const file = ['-- +goose NO TRANSACTION', '-- +goose Up', 'CREATE INDEX CONCURRENTLY i ON t (v);', '', '-- +goose Down', 'DROP INDEX CONCURRENTLY i;'].join('\n');
    const r = parse('goose', { '00002_index.sql': file, '00001_init.sql': '-- +goose up\n-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$;\n-- +goose StatementEnd\n' });
    expect(r.steps.map((s) => [s.version, s.name, s.transactional, s.downTransactional, s.down])).toEqual([
      ['00001', 'init', true, true, undefined],
      ['00002', 'index', false, false, '\n\n\n\n\nDROP INDEX CONCURRENTLY i;\n'],
    ]);
    expect(r.steps[1]?.up.split('\n')[2]).toBe('CREATE INDEX CONCURRENTLY i ON t (v);');
    expect(PARSERS.goose({ '1_a.sql': '-- +goose Up\n-- +goose StatementBegin\nSELECT 1;' }, 'cm')).toMatchObject({ ok: false, message: expect.stringMatching(/StatementBegin at line 2 is never ended/) });
    expect(PARSERS.goose({ '1_a.sql': 'SELECT 1;' }, 'cm')).toMatchObject({ ok: false, message: expect.stringMatching(/no -- \+goose Up/) });
  });
});

describe('dbmate', () => {
  test('transaction:false on each section for itself', () => {
    const r = parse('dbmate', { '20240101000000_idx.sql': '-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY i ON t (v);\n\n-- migrate:down\nDROP INDEX i;\n', '20240101000001_noop.sql': '-- migrate:up\n\n-- migrate:down transaction:false\n' });
    expect(r.steps.map((s) => [s.version, s.transactional, s.downTransactional, s.up.trim(), s.down?.trim()])).toEqual([
      ['20240101000000', false, true, 'CREATE INDEX CONCURRENTLY i ON t (v);', 'DROP INDEX i;'],
      ['20240101000001', true, false, '', ''],
    ]);
  });
});

describe('atlas', () => {
  const files = { '20240101000000_init.sql': 'CREATE TABLE t (id int);\n', '20240102000000_idx.sql': '-- atlas:txmode none\n\nCREATE INDEX CONCURRENTLY i ON t (id);\n' };
  const sumOf = (f: Record<string, string>) => {
    const h = atlasHashes(Object.keys(f).sort().map((name) => ({ name, text: f[name] as string })));
    return [`h1:${h.sum}`, ...[...h.hashes].map(([n, x]) => `${n} h1:${x}`)].join('\n') + '\n';
  };
  test('the running hash: each file hashes its name and bytes on top of the ones before; txmode none', () => {
    const h = atlasHashes([{ name: 'a.sql', text: 'A' }, { name: 'b.sql', text: 'B' }]);
    expect(h.hashes.get('a.sql')).toBe(createHash('sha256').update('a.sqlA').digest('base64'));
    expect(h.hashes.get('b.sql')).toBe(createHash('sha256').update('a.sqlAb.sqlB').digest('base64'));
    const r = parse('atlas', { ...files, 'atlas.sum': sumOf(files) });
    expect(r.steps.map((s) => [s.version, s.name, s.transactional, s.down])).toEqual([
      ['20240101000000', 'init', true, undefined],
      ['20240102000000', 'idx', false, undefined],
    ]);
  });
  test('an edited file or a missing atlas.sum is refused, naming the key', () => {
    const sum = sumOf(files);
    expect(PARSERS.atlas({ ...files, '20240101000000_init.sql': 'CREATE TABLE t (id bigint);\n', 'atlas.sum': sum }, 'cm')).toMatchObject({ ok: false, message: expect.stringMatching(/key 20240101000000_init.sql: does not match atlas.sum/) });
    expect(PARSERS.atlas(files, 'cm')).toMatchObject({ ok: false, message: expect.stringMatching(/key atlas.sum: missing/) });
    expect(PARSERS.atlas({ ...files, 'README.md': 'x', 'atlas.sum': sum }, 'cm')).toMatchObject({ ok: false, message: expect.stringMatching(/key README.md: not a migration/) });
  });
});

describe('detection and gathering', () => {
  test.each([
    [{ 'atlas.sum': '', '1_a.sql': '' }, 'atlas'],
    [{ 'V1__a.sql': '' }, 'flyway'],
    [{ 'R__a.sql': '' }, 'flyway'],
    [{ '1_a.up.sql': '' }, 'golang-migrate'],
    [{ '1_a.sql': '-- +goose Up\nSELECT 1;' }, 'goose'],
    [{ '1_a.sql': '-- migrate:up\nSELECT 1;' }, 'dbmate'],
  ])('%j reads as %s', (data, format) => {
    expect(detectFormat(data, 'cm')).toEqual({ ok: true, format });
  });
  test('undetectable keys ask for spec.sources[].format; status says what was detected', () => {
    expect(detectFormat({ 'init.sql': 'x' }, 'cm')).toMatchObject({ ok: false, message: expect.stringMatching(/set spec.sources\[\].format/) });
    const g = gatherSteps([], [{ name: 'a' }, { name: 'b', format: 'dbmate' }], new Map<string, ConfigMapLike>([
      ['a', { metadata: { name: 'a' }, data: { '1_x.up.sql': 'SELECT 1;' } }],
      ['b', { metadata: { name: 'b' }, data: { '2_y.sql': '-- migrate:up\nSELECT 2;' } }],
    ]));
    expect(g.ok && g.formats).toEqual([{ name: 'a', format: 'golang-migrate', detected: true }, { name: 'b', format: 'dbmate' }]);
  });
});

describe('adoption (plan)', () => {
  const flyway = parse('flyway', { 'V1__a.sql': 'SELECT 1;', 'V2__b.sql': 'SELECT 2;', 'V3__c.sql': 'SELECT 3;', 'R__v.sql': 'SELECT 4;' });
  const base: AdoptedHistory = { tool: 'flyway', table: 'public.flyway_schema_history', applied: [] };
  test('applied versions and checksums are taken over; nothing adopted is run; a changed repeatable runs again', () => {
    const adopted = { ...base, applied: [{ version: '1', checksum: flyway.steps[0]?.toolChecksum as string }, { version: '2', checksum: flyway.steps[1]?.toolChecksum as string }], repeatables: [{ description: 'v', checksum: '1' }] };
    const p = planMigration([], flyway.steps, opts({ adopted, repeatables: flyway.repeatables }));
    expect(p.ok && p.actions.map((a) => a.type)).toEqual(['adopt', 'up', 'repeat']);
    expect(p.ok && p.pending).toEqual(['3', 'R__v']);
  });
  test('a checksum that differs, an unknown version or a dirty entry stalls', () => {
    expect(adoptHistory({ ...base, applied: [{ version: '1', checksum: '42' }] }, flyway.steps, [], false)).toMatchObject({ ok: false, reason: 'ChecksumMismatch' });
    expect(adoptHistory({ ...base, applied: [{ version: '9' }] }, flyway.steps, [], false)).toMatchObject({ ok: false, reason: 'AppliedStepMissing' });
    expect(adoptHistory({ ...base, problem: 'version 2 failed' }, flyway.steps, [], false)).toMatchObject({ ok: false, reason: 'AdoptedHistoryDirty' });
  });
  test("golang-migrate's one version means every step up to it", () => {
    const g = parse('golang-migrate', { '1_a.up.sql': 'SELECT 1;', '2_b.up.sql': 'SELECT 2;', '3_c.up.sql': 'SELECT 3;' });
    const p = planMigration([], g.steps, opts({ adopted: { tool: 'golang-migrate', table: 'public.schema_migrations', upTo: '2', applied: [] } }));
    expect(p.ok && p.pending).toEqual(['3']);
  });
});
