// Pure parts of the controllers: what health a spec maps to, and which updates are worth a reconcile.
import { desiredHealth } from '../../controllers/observe.js';
import { validateBackupPolicy } from '../../src/api/backuppolicy.js';
import { requestFromKey, updateNeedsReconcile } from '../../src/runtime/controller.js';
import type { KubeObject } from '../../src/runtime/kubeclient.js';

const base = (): KubeObject => ({
  apiVersion: 'tenantdb.io/v1alpha1',
  kind: 'BackupPolicy',
  metadata: { name: 'b', namespace: 'n', generation: 1, resourceVersion: '1', finalizers: ['tenantdb.io/finalizer'] },
  spec: { databaseRef: { name: 'db' } },
});

describe('desiredHealth', () => {
  it('a valid spec is Ready with reason Observed and an honest message', () => {
    const h = desiredHealth('BackupPolicy', validateBackupPolicy(base()), 4);
    expect(h).toEqual({ state: 'Ready', reason: 'Observed', message: expect.stringMatching(/generation 4 observed; provisioning is not implemented yet/) });
  });

  it('an invalid spec is Stalled with reason InvalidSpec naming the field', () => {
    const bad = { ...base(), spec: { databaseRef: { name: 'db' }, retentionDays: 3 } };
    const h = desiredHealth('BackupPolicy', validateBackupPolicy(bad), 1);
    expect(h.state).toBe('Stalled');
    expect(h.reason).toBe('InvalidSpec');
    expect(h.message).toMatch(/retentionDays/);
  });
});

describe('updateNeedsReconcile', () => {
  it('ignores status-only updates', () => {
    const a = base();
    const b = { ...base(), metadata: { ...base().metadata, resourceVersion: '2' }, status: { observedGeneration: 1 } };
    expect(updateNeedsReconcile(a, b)).toBe(false);
  });

  it('reacts to spec (generation), labels, annotations, finalizers and deletion', () => {
    const m = base().metadata;
    expect(updateNeedsReconcile(base(), { ...base(), metadata: { ...m, generation: 2 } })).toBe(true);
    expect(updateNeedsReconcile(base(), { ...base(), metadata: { ...m, labels: { a: 'b' } } })).toBe(true);
    expect(updateNeedsReconcile(base(), { ...base(), metadata: { ...m, annotations: { a: 'b' } } })).toBe(true);
    expect(updateNeedsReconcile(base(), { ...base(), metadata: { ...m, finalizers: [] } })).toBe(true);
    expect(updateNeedsReconcile(base(), { ...base(), metadata: { ...m, deletionTimestamp: '2026-01-01T00:00:00Z' } })).toBe(true);
  });

  it('objects without generation react to any new resourceVersion', () => {
    const a: KubeObject = { metadata: { name: 'x', resourceVersion: '1' } };
    expect(updateNeedsReconcile(a, { metadata: { name: 'x', resourceVersion: '2' } })).toBe(true);
  });
});

test('requestFromKey splits namespace/name and handles cluster-scoped keys', () => {
  expect(requestFromKey('ns/a')).toEqual({ namespace: 'ns', name: 'a' });
  expect(requestFromKey('a')).toEqual({ namespace: undefined, name: 'a' });
});
