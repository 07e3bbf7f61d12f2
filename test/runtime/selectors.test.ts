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
});
