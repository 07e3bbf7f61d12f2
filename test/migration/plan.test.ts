// Pure logic: gathering steps from inline and ConfigMap sources (with errors naming the key), and the
// plan (validate, repair, baseline, outOfOrder, target, down).
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
