// Pure logic: gathering steps from inline and ConfigMap sources (with errors naming the key), and the
// plan (validate, repair, baseline, outOfOrder, target, down).
import { compareVersions, normalizeVersion } from '../../src/api/migration.js';
import type { HistoryRow, PlanOptions } from '../../src/migrations/plan.js';
import { planMigration } from '../../src/migrations/plan.js';
import { gatherSteps, inputFingerprint, sha256, stepsFromInline } from '../../src/migrations/steps.js';

const opts = (o: Partial<PlanOptions> = {}): PlanOptions => ({ allowDown: false, outOfOrder: false, repair: false, ...o });
const steps = stepsFromInline([
  { version: '1', name: 'a', up: 'A', down: 'a', transactional: true },
  { version: '2', name: 'b', up: 'B', transactional: true },
  { version: '10', name: 'c', up: 'C', down: 'c', transactional: true },
]);
const row = (version: string, up: string, extra: Partial<HistoryRow> = {}): HistoryRow => ({
  version,
  name: 'x',
  checksum: sha256(up),
  type: 'up',
  state: 'success',
  startedAt: new Date(),
  appliedAt: new Date(),
  executionMs: 1,
  appliedBy: 't',
  ...extra,
});

describe('gatherSteps', () => {
  const cm = (name: string, data: Record<string, string>) => ({ metadata: { name }, data });
  test('orders versions numerically across inline and ConfigMaps, pairs down scripts, reads the transactional directive', () => {
    const r = gatherSteps([{ version: '2', name: 'two', up: 'SELECT 2', transactional: true }], ['m'], new Map([
      ['m', cm('m', { '10_ten.up.sql': '-- tenantdb:transactional false\nCREATE INDEX CONCURRENTLY i ON t (a);', '10_ten.down.sql': 'DROP INDEX i;', '3_three.up.sql': 'SELECT 3' })],
    ]));
    expect(r.ok && r.steps.map((s) => [s.version, s.transactional, s.down !== undefined, s.source])).toEqual([
      ['2', true, false, 'inline'],
      ['3', true, false, 'configmap/m'],
      ['10', false, true, 'configmap/m'],
    ]);
  });
  test.each([
    [{ 'init.sql': 'x' }, /key init.sql: not a step/],
    [{ '1_Bad.up.sql': 'x' }, /key 1_Bad.up.sql: not a step/],
    [{ '1_a.up.sql': 'x', '01_b.up.sql': 'y' }, /key 1_a.up.sql: version 1 is defined twice \(also in ConfigMap m key 01_b.up.sql\)/],
    [{ '2_b.down.sql': 'x' }, /key 2_b.down.sql: a down script without 2_b.up.sql/],
    [{ '3_c.up.sql': '   ' }, /key 3_c.up.sql: the script is empty/],
  ])('the tenantdb form refuses %j', (data, message) => {
    const r = gatherSteps([], [{ name: 'm', format: 'tenantdb' }], new Map([['m', cm('m', data)]]));
    expect(!r.ok && r.problem).toEqual({ reason: 'InvalidSource', message: expect.stringMatching(message) });
  });
  test('a missing ConfigMap is waited for', () => {
    const r = gatherSteps([], ['gone'], new Map([['gone', undefined]]));
    expect(!r.ok && r.problem.reason).toBe('WaitingForSource');
  });
  test('001 and 1 are the same version', () => {
    const r = gatherSteps([{ version: '001', name: 'a', up: 'x', transactional: true }], ['m'], new Map([['m', cm('m', { '1_a.up.sql': 'y' })]]));
    expect(!r.ok && r.problem.message).toMatch(/version 1 is defined twice \(also in spec.migrations version 001\)/);
  });
  test('the fingerprint changes with any script or option', () => {
    const a = inputFingerprint(steps, { targetVersion: undefined });
    expect(inputFingerprint(steps, { targetVersion: '2' })).not.toBe(a);
    expect(inputFingerprint(stepsFromInline([{ version: '1', name: 'a', up: 'A2', transactional: true }]), {})).not.toBe(inputFingerprint(stepsFromInline([{ version: '1', name: 'a', up: 'A', transactional: true }]), {}));
  });
});

describe('planMigration', () => {
  test('a fresh database gets every step in numeric order', () => {
    const p = planMigration([], steps, opts());
    expect(p.ok && p.pending).toEqual(['1', '2', '10']);
  });
  test('targetVersion stops early; below the applied version it needs allowDown and down scripts', () => {
    expect(planMigration([], steps, opts({ targetVersion: '2' }))).toMatchObject({ ok: true, pending: ['1', '2'] });
    const applied = [row('1', 'A'), row('2', 'B'), row('10', 'C')];
    expect(planMigration(applied, steps, opts({ targetVersion: '1' }))).toMatchObject({ ok: false, reason: 'DownNotAllowed' });
    expect(planMigration(applied, steps, opts({ targetVersion: '1', allowDown: true }))).toMatchObject({ ok: false, reason: 'MissingDownScript', message: expect.stringContaining('step 2') });
    expect(planMigration(applied, steps, opts({ targetVersion: '2', allowDown: true }))).toMatchObject({ ok: true, pending: ['10'] });
  });
  test('validate: changed checksum, vanished step; repair accepts both', () => {
    expect(planMigration([row('1', 'A-changed')], steps, opts())).toMatchObject({ ok: false, reason: 'ChecksumMismatch' });
    expect(planMigration([row('1', 'A'), row('5', 'gone')], steps, opts())).toMatchObject({ ok: false, reason: 'AppliedStepMissing', message: expect.stringContaining('step 5') });
    const p = planMigration([row('1', 'A-changed'), row('5', 'gone')], steps, opts({ repair: true }));
    expect(p.ok && p.actions.map((a) => a.type)).toEqual(['repair', 'forget', 'up', 'up']);
  });
  test('outOfOrder and baseline', () => {
    expect(planMigration([row('1', 'A'), row('10', 'C')], steps, opts())).toMatchObject({ ok: false, reason: 'OutOfOrder', message: expect.stringContaining('step 2') });
    expect(planMigration([row('1', 'A'), row('10', 'C')], steps, opts({ outOfOrder: true }))).toMatchObject({ ok: true, pending: ['2'] });
    const b = planMigration([], steps, opts({ baselineVersion: '2' }));
    expect(b.ok && [b.actions[0], b.pending]).toEqual([{ type: 'baseline', version: '2' }, ['10']]);
    // Once a history exists, baselineVersion does nothing more.
    expect(planMigration([row('1', 'A')], steps, opts({ baselineVersion: '2' }))).toMatchObject({ ok: true, pending: ['2', '10'] });
  });
  test('dirty blocks until resolved', () => {
    const dirty = [row('1', 'A'), row('2', 'B', { state: 'dirty' })];
    expect(planMigration(dirty, steps, opts())).toMatchObject({ ok: false, reason: 'Dirty', message: expect.stringContaining('tenantdb.io/resolve: "2=applied"') });
    expect(planMigration(dirty, steps, opts({ resolve: { version: '2', as: 'applied' } }))).toMatchObject({ ok: true, pending: ['10'] });
    expect(planMigration(dirty, steps, opts({ resolve: { version: '2', as: 'reverted' } }))).toMatchObject({ ok: true, pending: ['2', '10'] });
  });
});

describe('versions', () => {
  // The reference: every part parsed as a number of any size, missing parts 0 (what the comparison was
  // before it compared digit strings).
  const reference = (a: string, b: string): number => {
    const x = a.split('.').map(BigInt);
    const y = b.split('.').map(BigInt);
    for (let i = 0; i < Math.max(x.length, y.length); i++) {
      const p = x[i] ?? 0n;
      const q = y[i] ?? 0n;
      if (p !== q) return p < q ? -1 : 1;
    }
    return 0;
  };
  // Deterministic pseudo-random versions: leading zeros, zero parts, up to 25 digits and 4 parts.
  let seed = 7;
  const next = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
  const part = () => '0'.repeat(next(3)) + (next(4) === 0 ? '0' : Array.from({ length: 1 + next(25) }, () => String(next(10))).join(''));
  const versionOf = () => Array.from({ length: 1 + next(4) }, part).join('.');

  test('compare as numbers of any length, part by part, as the parsed reference does', () => {
    const pairs: Array<[string, string]> = [['1', '01'], ['1.0', '1'], ['2', '10'], ['1.10', '1.9'], ['0', '0.0.0'], ['20230101120000', '20230101120001'], ['99999999999999999999', '100000000000000000000']];
    for (let i = 0; i < 3000; i++) pairs.push([versionOf(), versionOf()]);
    const wrong = pairs.filter(([a, b]) => compareVersions(a, b) !== reference(a, b) || (normalizeVersion(a) === normalizeVersion(b)) !== (reference(a, b) === 0));
    expect(wrong).toEqual([]);
    expect(pairs.filter(([a, b]) => reference(a, b) === 0).length).toBeGreaterThan(100);
    expect(normalizeVersion('001.02.0')).toBe('1.2');
    expect(normalizeVersion('0.0')).toBe('0');
  });
});

describe('planMigration on a long history', () => {
  const many = stepsFromInline(Array.from({ length: 3000 }, (_, i) => ({ version: String(i + 1), name: `s${i + 1}`, up: `U${i + 1}`, transactional: true })));
  test('only the steps the history lacks are pending, whatever the spelling of the applied versions', () => {
    // Applied as another tool spelled them: zero-padded, some with a trailing .0.
    const applied = many.slice(0, 2998).map((s, i) => row(i % 7 === 0 ? `${s.version}.0` : s.version.padStart(6, '0'), `U${s.version}`));
    const p = planMigration(applied, many, opts());
    expect(p).toMatchObject({ ok: true, pending: ['2999', '3000'], appliedVersion: '002998' });
  });
  test('a gap in a long history is out of order unless allowed', () => {
    const applied = many.filter((s) => s.version !== '1500').map((s) => row(s.version, `U${s.version}`));
    expect(planMigration(applied, many, opts())).toMatchObject({ ok: false, reason: 'OutOfOrder', message: expect.stringContaining('step 1500') });
    expect(planMigration(applied, many, opts({ outOfOrder: true }))).toMatchObject({ ok: true, pending: ['1500'] });
  });
});
