// Pure rules of promotion (issue 18): which server ARM reports as a confirmed primary of this object,
// and the WAL arithmetic of the lost window. The end-to-end behaviour is in azure-promotion.test.ts.
import { expect, test } from '@jest/globals';
import { confirmedPrimary, isReplicaServer, primaryServerName } from '../../src/tenantdatabase/promotion.js';
import { lsnBytes, walBytesBetween } from '../../src/postgres/replication.js';

const OWNER = 'ns/db';
const TAG = 'tenantdb-owner';
const primary = { name: 'b', location: 'eastus', replicationRole: 'Primary', replica: { role: 'Primary' }, tags: { [TAG]: OWNER } };

test('a promoted replica is the primary only when ARM says so and tags it as ours', () => {
  expect(confirmedPrimary(primary, OWNER, TAG)).toBe(true);
  expect(confirmedPrimary({ ...primary, replicationRole: 'None', replica: { role: 'None' } }, OWNER, TAG)).toBe(true);
  expect(confirmedPrimary({ ...primary, tags: { [TAG]: 'other/db' } }, OWNER, TAG)).toBe(false);
  expect(confirmedPrimary({ ...primary, tags: {} }, OWNER, TAG)).toBe(false);
  expect(confirmedPrimary({ ...primary, replicationRole: 'AsyncReplica', replica: { role: 'AsyncReplica' } }, OWNER, TAG)).toBe(false);
  expect(confirmedPrimary({ ...primary, sourceServerResourceId: '/subscriptions/x/resourceGroups/g/providers/Microsoft.DBforPostgreSQL/flexibleServers/a' }, OWNER, TAG)).toBe(false);
  expect(confirmedPrimary({ ...primary, replicationRole: undefined, replica: undefined }, OWNER, TAG)).toBe(false);
  expect(confirmedPrimary(undefined, OWNER, TAG)).toBe(false);
  expect(isReplicaServer({ location: 'eastus', replicationRole: 'GeoAsyncReplica' })).toBe(true);
});

test('the primary is the spec server until ARM confirms the requested replica', async () => {
  const az = { name: 'a', promotion: { replica: 'b', mode: 'Standalone' as const, option: 'Planned' as const, requestId: 'r1' } };
  expect(await primaryServerName({ name: 'a' }, OWNER, TAG, async () => primary)).toBe('a');
  expect(await primaryServerName(az, OWNER, TAG, async (n) => (n === 'b' ? primary : undefined))).toBe('b');
  expect(await primaryServerName(az, OWNER, TAG, async () => ({ ...primary, replicationRole: 'AsyncReplica', replica: { role: 'AsyncReplica' } }))).toBe('a');
  expect(await primaryServerName(az, OWNER, TAG, async () => undefined)).toBe('a');
});

test('WAL positions: byte offsets and the distance between two', () => {
  expect(lsnBytes('0/16B3748')).toBe(0x16b3748n);
  expect(lsnBytes('1/0')).toBe(1n << 32n);
  expect(walBytesBetween('0/FFFFFF00', '1/100')).toBe(0x200);
  expect(walBytesBetween('1/100', '0/FFFFFF00')).toBe(0);
  expect(() => lsnBytes('1/2/3')).toThrow(/not a WAL position/);
});
