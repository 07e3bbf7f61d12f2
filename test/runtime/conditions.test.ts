import { conditionsEqual, findCondition, metaTime, setCondition, setHealth } from '../../src/runtime/conditions.js';

const t0 = new Date('2026-01-01T00:00:00.123Z');
const t1 = new Date('2026-01-01T01:00:00Z');

describe('setCondition', () => {
  it('adds a condition with second-precision lastTransitionTime', () => {
    const c = setCondition([], { type: 'Ready', status: 'True', reason: 'Observed', message: 'ok', observedGeneration: 1 }, t0);
    expect(c).toEqual([{ type: 'Ready', status: 'True', reason: 'Observed', message: 'ok', observedGeneration: 1, lastTransitionTime: '2026-01-01T00:00:00Z' }]);
    expect(metaTime(t0)).toBe('2026-01-01T00:00:00Z');
  });

  it('keeps lastTransitionTime when only reason, message or generation change', () => {
    const a = setCondition([], { type: 'Ready', status: 'False', reason: 'A', message: 'a' }, t0);
    const b = setCondition(a, { type: 'Ready', status: 'False', reason: 'B', message: 'b', observedGeneration: 2 }, t1);
    expect(findCondition(b, 'Ready')).toMatchObject({ reason: 'B', message: 'b', observedGeneration: 2, lastTransitionTime: '2026-01-01T00:00:00Z' });
  });

  it('moves lastTransitionTime when the status changes', () => {
    const a = setCondition([], { type: 'Ready', status: 'False', reason: 'A', message: '' }, t0);
    const b = setCondition(a, { type: 'Ready', status: 'True', reason: 'A', message: '' }, t1);
    expect(findCondition(b, 'Ready')?.lastTransitionTime).toBe('2026-01-01T01:00:00Z');
  });

  it('does not mutate its input and leaves other conditions alone', () => {
    const a = setCondition([], { type: 'Other', status: 'True', reason: 'X', message: '' }, t0);
    const frozen = JSON.stringify(a);
    const b = setCondition(a, { type: 'Ready', status: 'True', reason: 'Y', message: '' }, t1);
    expect(JSON.stringify(a)).toBe(frozen);
    expect(b.map((c) => c.type)).toEqual(['Other', 'Ready']);
  });
});

describe('setHealth (kstatus)', () => {
  it('Ready → Ready=True, Reconciling=False, Stalled=False, all at the generation', () => {
    const c = setHealth(undefined, { state: 'Ready', reason: 'Observed', message: 'fine' }, 3, t0);
    expect(c.map((x) => [x.type, x.status, x.observedGeneration])).toEqual([
      ['Ready', 'True', 3],
      ['Reconciling', 'False', 3],
      ['Stalled', 'False', 3],
    ]);
  });

  it('Stalled → Ready=False and Stalled=True with the reason', () => {
    const c = setHealth(undefined, { state: 'Stalled', reason: 'InvalidSpec', message: 'bad' }, 1, t0);
    expect(findCondition(c, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(findCondition(c, 'Stalled')).toMatchObject({ status: 'True', reason: 'InvalidSpec', message: 'bad' });
    expect(findCondition(c, 'Reconciling')?.status).toBe('False');
  });

  it('Reconciling → Reconciling=True', () => {
    const c = setHealth(undefined, { state: 'Reconciling', reason: 'Progressing', message: 'working' }, 1, t0);
    expect(findCondition(c, 'Reconciling')).toMatchObject({ status: 'True', reason: 'Progressing' });
    expect(findCondition(c, 'Ready')?.status).toBe('False');
  });

  it('is idempotent: applying the same health later changes nothing', () => {
    const a = setHealth(undefined, { state: 'Ready', reason: 'Observed', message: 'fine' }, 1, t0);
    const b = setHealth(a, { state: 'Ready', reason: 'Observed', message: 'fine' }, 1, t1);
    expect(conditionsEqual(a, b)).toBe(true);
    const c = setHealth(a, { state: 'Ready', reason: 'Observed', message: 'fine' }, 2, t1);
    expect(conditionsEqual(a, c)).toBe(false);
  });
});
