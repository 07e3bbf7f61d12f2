// Pure logic around HA failover: after a failover Azure swaps the zones (primary where the standby was), and
// the properties diff must not PATCH them back; a different standby zone is still a change. The spec's
// highAvailability.failover is admitted only with HA on.
import type { Server } from '@azure/arm-postgresql-flexible';
import { validateTenantDatabase, type AzureServerSpec } from '../../src/api/tenantdatabase.js';
import { createBody, desiredTags, failoverAction, failoverMark, instanceFingerprint, parseFailoverMark, serverPatch } from '../../controllers/tenantdatabase/server-azure/desired.js';

const spec: AzureServerSpec = {
  subscriptionId: '6a1f3c2e-8b4d-4e7a-9c0f-1d2e3f4a5b6c',
  resourceGroup: 'rg',
  name: 'srv',
  location: 'eastus',
  version: '17',
  sku: { name: 'Standard_D2ds_v5', tier: 'GeneralPurpose' },
  availabilityZone: '1',
  highAvailability: { mode: 'ZoneRedundant', standbyAvailabilityZone: '2', failover: { requestId: 'fo-1', mode: 'Planned' } },
  administratorLogin: 'admin1',
} as AzureServerSpec;

/** A TenantDatabase on `spec` with these Azure fields changed. */
const tdWith = (azure: Record<string, unknown>) => ({
  apiVersion: 'tenantdb.io/v1alpha1',
  kind: 'TenantDatabase',
  metadata: { name: 'x', namespace: 'ns' },
  spec: {
    server: { azure: { ...spec, ...azure, administratorPasswordSecretRef: { name: 'x-admin', key: 'password' } } },
    database: { name: 'app' },
    roles: { owner: 'app_owner', application: 'app_user' },
  },
});

function actual(zone: string, standbyZone: string): Server {
  const body = createBody(spec, desiredTags(spec, undefined, 'ns/db', 'created'), 'pw');
  return { ...body, state: 'Ready', version: '17', availabilityZone: zone, highAvailability: { mode: 'ZoneRedundant', state: 'Healthy', standbyAvailabilityZone: standbyZone } };
}

test('zones swapped by a failover are the same pair: no PATCH; another standby zone is a change', () => {
  const before = actual('1', '2');
  const tags = desiredTags(spec, before.tags, 'ns/db', 'created');
  expect(serverPatch(spec, before, { tags })).toBeUndefined();
  expect(serverPatch(spec, actual('2', '1'), { tags })).toBeUndefined();
  expect(serverPatch(spec, actual('1', '3'), { tags })?.changed).toEqual(['highAvailability']);
});

test('highAvailability.failover is refused without HA', () => {
  const td = (ha: Record<string, unknown>) => tdWith({ highAvailability: ha });
  expect(validateTenantDatabase(td({ mode: 'ZoneRedundant', failover: { requestId: 'fo-1' } })).ok).toBe(true);
  const refused = validateTenantDatabase(td({ mode: 'Disabled', failover: { requestId: 'fo-1' } }));
  expect(refused.ok).toBe(false);
  expect(refused.ok ? '' : refused.error.message).toMatch(/highAvailability.failover needs highAvailability.mode SameZone or ZoneRedundant/);
});

test('run-once of a failover request is decided by the server tag; the record can only hold a restart back', () => {
  // No tag, or a tag about another request: claim the server first.
  expect(failoverAction(undefined, 'fo-2', undefined)).toBe('claim');
  expect(failoverAction('fo-1', 'fo-2', 'Succeeded')).toBe('claim');
  expect(failoverAction(failoverMark('fo-1', 'claimed'), 'fo-2', 'Requested')).toBe('claim');
  // Claimed: the restart only while the record says it was not sent; an ended record marks it handled.
  expect(failoverAction(failoverMark('fo-2', 'claimed'), 'fo-2', 'Requested')).toBe('restart');
  expect(failoverAction(failoverMark('fo-2', 'claimed'), 'fo-2', 'Succeeded')).toBe('handle');
  expect(failoverAction(failoverMark('fo-2', 'claimed'), 'fo-2', 'Failed')).toBe('handle');
  // Claimed but no record (status lost): never repeated on a guess.
  expect(failoverAction(failoverMark('fo-2', 'claimed'), 'fo-2', undefined)).toBe('unconfirmed');
  // Handled: nothing, whatever status says (a forged or stale record included).
  for (const phase of [undefined, 'Requested', 'Running', 'Failed']) expect(failoverAction('fo-2', 'fo-2', phase)).toBe('handled');
});

test('a claim names the primary that answered then, by fingerprint; claims without one (earlier versions) still work', () => {
  const primary = '10.0.0.4/32@2026-12-07 01:02:03.123+00';
  const mark = failoverMark('fo-2', 'claimed', primary);
  expect(mark).toMatch(/^requested:fo-2;[0-9a-f]{16}$/);
  expect(mark.length).toBeLessThanOrEqual(256);
  expect(parseFailoverMark(mark)).toEqual({ id: 'fo-2', claimed: true, primary: instanceFingerprint(primary) });
  expect(instanceFingerprint('10.0.0.4/32@2026-12-07 01:09:00.5+00')).not.toBe(instanceFingerprint(primary));
  expect(parseFailoverMark('requested:fo-2')).toEqual({ id: 'fo-2', claimed: true });
  expect(parseFailoverMark('fo-2')).toEqual({ id: 'fo-2', claimed: false });
  expect(failoverAction(mark, 'fo-2', 'Requested')).toBe('restart');
  expect(failoverAction(mark, 'fo-3', 'Requested')).toBe('claim');
  expect(failoverAction(mark, 'fo-2', undefined)).toBe('unconfirmed');
  // The longest requestId the CRD allows still fits Azure's 256 characters.
  expect(failoverMark('a'.repeat(63), 'claimed', primary).length).toBeLessThanOrEqual(256);
});

test("spec tags cannot set the operator's own tags", () => {
  const td = (tags: Record<string, string>) => tdWith({ tags });
  expect(validateTenantDatabase(td({ env: 'prod' })).ok).toBe(true);
  for (const k of ['tenantdb-failover', 'TenantDB-Owner']) {
    const r = validateTenantDatabase(td({ [k]: 'fo-1' }));
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.error.message).toContain('reserved for the operator');
  }
});
