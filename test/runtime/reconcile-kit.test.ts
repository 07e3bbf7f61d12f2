import { setHealth } from '../../src/runtime/conditions.js';
import type { KubeObject } from '../../src/runtime/kubeclient.js';
import { decodeSecret, invalidSpecHealth, readyChanged, readyMessageChanged, regardingOf, secretValue, stalledChanged } from '../../src/runtime/reconcile-kit.js';

const secret = (data: Record<string, string>, stringData?: Record<string, string>): KubeObject =>
  ({ metadata: { name: 's', namespace: 'ns' }, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])), ...(stringData ? { stringData } : {}) }) as KubeObject;

describe('decodeSecret / secretValue', () => {
  it('decodes base64 data, with stringData over it', () => {
    expect(decodeSecret(secret({ user: 'alice', password: 'p@ss wörd' }))).toEqual({ user: 'alice', password: 'p@ss wörd' });
    expect(decodeSecret(secret({ a: 'x' }, { a: 'y', b: 'z' }))).toEqual({ a: 'y', b: 'z' });
  });
  it('is undefined for a missing Secret or key', () => {
    expect(decodeSecret(undefined)).toBeUndefined();
    expect(secretValue(undefined, 'k')).toBeUndefined();
    expect(secretValue(secret({ a: 'x' }), 'b')).toBeUndefined();
    expect(secretValue(secret({ a: 'x' }), 'a')).toBe('x');
  });
});

describe('regardingOf', () => {
  it('sets apiVersion and kind of the operator kind', () => {
    const r = regardingOf({ metadata: { name: 'a', namespace: 'b', uid: 'u' } } as KubeObject, 'Migration');
    expect(r).toMatchObject({ apiVersion: 'tenantdb.io/v1alpha1', kind: 'Migration', metadata: { name: 'a', uid: 'u' } });
  });
});

describe('event rules', () => {
  const t0 = new Date('2026-01-01T00:00:00Z');
  const reconciling = setHealth(undefined, { state: 'Reconciling', reason: 'Waiting', message: 'a' }, 1, t0);
  it('readyChanged: Ready status or reason, not the message', () => {
    expect(readyChanged(undefined, { state: 'Reconciling', reason: 'Waiting', message: 'a' })).toBe(true);
    expect(readyChanged(reconciling, { state: 'Reconciling', reason: 'Waiting', message: 'b' })).toBe(false);
    expect(readyChanged(reconciling, { state: 'Reconciling', reason: 'Other', message: 'a' })).toBe(true);
    expect(readyChanged(reconciling, { state: 'Ready', reason: 'Waiting', message: 'a' })).toBe(true);
  });
  it('stalledChanged: into or out of Stalled', () => {
    expect(stalledChanged(reconciling, { state: 'Stalled', reason: 'Waiting', message: 'a' })).toBe(true);
    expect(stalledChanged(reconciling, { state: 'Ready', reason: 'Ready', message: '' })).toBe(false);
  });
  it('InvalidSpec: one event per distinct message, capped', () => {
    const h = invalidSpecHealth('x'.repeat(40_000));
    expect(h).toMatchObject({ state: 'Stalled', reason: 'InvalidSpec' });
    expect(h.message).toHaveLength(32_000);
    const stalled = setHealth(undefined, invalidSpecHealth('bad: spec.a'), 1, t0);
    expect(readyMessageChanged(stalled, invalidSpecHealth('bad: spec.a'))).toBe(false);
    expect(readyMessageChanged(stalled, invalidSpecHealth('bad: spec.b'))).toBe(true);
  });
});
