import { selectorMatches } from '../../src/runtime/selectors.js';
import { statusContains } from '../../src/runtime/status.js';

describe('selectorMatches (metav1.LabelSelector semantics)', () => {
  const labels = { tier: 'standard', region: 'eu' };
  it('matchLabels must all match', () => {
    expect(selectorMatches({ matchLabels: { tier: 'standard' } }, labels)).toBe(true);
    expect(selectorMatches({ matchLabels: { tier: 'standard', region: 'us' } }, labels)).toBe(false);
  });
  it('matchExpressions In/NotIn/Exists/DoesNotExist', () => {
    expect(selectorMatches({ matchExpressions: [{ key: 'region', operator: 'In', values: ['eu', 'us'] }] }, labels)).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'region', operator: 'NotIn', values: ['eu'] }] }, labels)).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'missing', operator: 'NotIn', values: ['x'] }] }, labels)).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, labels)).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] }, labels)).toBe(false);
  });
  it('an empty selector matches everything', () => {
    expect(selectorMatches({}, {})).toBe(true);
  });
});

describe('statusContains', () => {
  it('treats null (remove) as satisfied by an absent field, so clearing costs one write only', () => {
    expect(statusContains({ a: 1 }, { b: null })).toBe(true);
    expect(statusContains({ a: 1, b: 2 }, { b: null })).toBe(false);
    expect(statusContains({ a: { x: [1] } }, { a: { x: [1] } })).toBe(true);
  });
  it('compares nested objects as a merge patch applies them: key by key, null inside removes', () => {
    expect(statusContains({ m: { next: 't', last: { a: 1 } } }, { m: { next: 't', gone: null } })).toBe(true);
    expect(statusContains({ m: { next: 't', gone: 1 } }, { m: { gone: null } })).toBe(false);
    expect(statusContains({ m: { last: { a: 1, b: 2 } } }, { m: { last: { a: 1 } } })).toBe(true);
    expect(statusContains({ m: { last: { a: 1 } } }, { m: { last: { a: 2 } } })).toBe(false);
    expect(statusContains({ m: { list: [1, 2] } }, { m: { list: [1] } })).toBe(false);
  });
});
