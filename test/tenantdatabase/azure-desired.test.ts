// The Azure part's pure diffs: a converged server yields no PATCH, each changed property only itself;
// firewall rules and Entra administrators converge to the spec's set; azure.extensions is widened by the
// database's extensions; parameter values compare as PostgreSQL reads them; maintenance-window math;
// ownership tags; generated passwords.
import type { Server } from '@azure/arm-postgresql-flexible';
import type { AzureServerSpec, TenantDatabaseSpec } from '../../src/api/tenantdatabase.js';
import {
  adminSteps,
  createBody,
  desiredParameters,
  desiredTags,
  firewallSteps,
  inMaintenanceWindow,
  maintenanceWindowStart,
  ownershipOf,
  parameterSteps,
  replicasToDelete,
  sameParameterValue,
  serverPatch,
} from '../../controllers/tenantdatabase/server-azure/desired.js';
import { generatePassword } from '../../src/postgres/database/scram.js';

const spec: AzureServerSpec = {
  subscriptionId: '6a1f3c2e-8b4d-4e7a-9c0f-1d2e3f4a5b6c',
  resourceGroup: 'rg',
  name: 'srv',
  location: 'eastus',
  version: '16',
  sku: { name: 'Standard_D4ds_v5', tier: 'GeneralPurpose' },
  storage: { sizeGB: 128, autoGrow: true },
  highAvailability: { mode: 'ZoneRedundant', standbyAvailabilityZone: '2' },
  availabilityZone: '1',
  backup: { retentionDays: 14, geoRedundant: true },
  network: { publicNetworkAccess: 'Enabled', firewallRules: [{ name: 'a', startIpAddress: '10.0.0.1', endIpAddress: '10.0.0.9' }] },
  restartPolicy: 'MaintenanceWindow',
  maintenanceWindow: { dayOfWeek: 0, startHour: 2, startMinute: 0 },
  authentication: { passwordAuth: true, entraAuth: true, tenantId: '3b1e9f0a-7c42-4d8e-a6b5-0f9d2c8e71a3' },
  entraAdministrators: [{ objectId: '5a7d3c19-2e84-4f6b-b0c9-1d8e6f2a4b75', principalName: 'dba', principalType: 'Group' }],
  administratorLogin: 'admin1',
  tags: { env: 'prod' },
};
const owner = 'ns/db';

function actualFrom(s: AzureServerSpec): Server {
  const body = createBody(s, desiredTags(s, undefined, owner, 'created'), 'pw');
  return { ...body, state: 'Ready', version: s.version };
}

test('converged server: no patch; each change patches only itself', () => {
  const actual = actualFrom(spec);
  const tags = desiredTags(spec, actual.tags, owner, 'created');
  expect(actual.tags).toEqual({ env: 'prod', 'tenantdb-owner': owner, 'tenantdb-origin': 'created', 'tenantdb-tags': 'env' });
  expect(serverPatch(spec, actual, { tags })).toBeUndefined();

  const bigger = serverPatch({ ...spec, storage: { sizeGB: 256, autoGrow: true } }, actual, { tags });
  expect(bigger).toEqual({ patch: { storage: { storageSizeGB: 256, autoGrow: 'Enabled' } }, changed: ['storage'] });
  // Storage never shrinks, the version never goes down (admission refuses both; an adopted server keeps its own).
  expect(serverPatch({ ...spec, storage: { sizeGB: 64, autoGrow: true } }, actual, { tags })).toBeUndefined();
  expect(serverPatch({ ...spec, version: '15' }, actual, { tags })).toBeUndefined();
  expect(serverPatch({ ...spec, version: '17' }, actual, { tags })?.changed).toEqual(['version']);
  expect(serverPatch({ ...spec, sku: { name: 'Standard_E8ds_v5', tier: 'MemoryOptimized' } }, actual, { tags })?.patch).toEqual({ sku: { name: 'Standard_E8ds_v5', tier: 'MemoryOptimized' } });
  // A BackupPolicy owns retention: not written.
  expect(serverPatch({ ...spec, backup: { retentionDays: 30, geoRedundant: true } }, actual, { tags, skipBackupRetention: true })).toBeUndefined();
  expect(serverPatch({ ...spec, backup: { retentionDays: 30, geoRedundant: true } }, actual, { tags })?.patch).toEqual({ backup: { backupRetentionDays: 30 } });
});

test('tags: spec and ownership tags set, foreign tags kept, tags we set and the spec dropped removed (the record on the server says which)', () => {
  // Recorded as ours: env and keep; policy is someone else's.
  const server = { env: 'prod', keep: '0', policy: 'x', 'tenantdb-owner': owner, 'tenantdb-tags': 'env,keep' };
  const t = desiredTags({ ...spec, tags: { keep: '1' } }, server, owner, 'adopted');
  expect(t).toEqual({ keep: '1', policy: 'x', 'tenantdb-owner': owner, 'tenantdb-origin': 'adopted', 'tenantdb-tags': 'keep' });
  expect(ownershipOf(t, owner)).toEqual({ kind: 'ours', origin: 'adopted' });
  expect(ownershipOf(t, 'ns/other')).toEqual({ kind: 'other', owner });
  expect(ownershipOf({ env: 'x' }, owner)).toEqual({ kind: 'unowned' });
});

test('tags: a tag the server had before the spec named it gets the spec value but is never recorded, so never removed', () => {
  const adopted = desiredTags({ ...spec, tags: { env: 'prod', team: 'a' } }, { env: 'staging', policy: 'x' }, owner, 'adopted');
  expect(adopted).toEqual({ env: 'prod', team: 'a', policy: 'x', 'tenantdb-owner': owner, 'tenantdb-origin': 'adopted', 'tenantdb-tags': 'team' });
  const dropped = desiredTags({ ...spec, tags: {} }, adopted, owner, 'adopted');
  expect(dropped).toEqual({ env: 'prod', policy: 'x', 'tenantdb-owner': owner, 'tenantdb-origin': 'adopted' });
});

test('tags: a server tagged before the record existed: nothing is taken as recorded, created or adopted (never inferred later)', () => {
  for (const origin of ['created', 'adopted'] as const) {
    const old = { env: 'prod', team: 'a', policy: 'x', 'tenantdb-owner': owner, 'tenantdb-origin': origin };
    // env is in the spec and already there: it keeps the spec's value, unrecorded; a new spec tag is recorded.
    const now = desiredTags({ ...spec, tags: { env: 'prod', app: 'shop' } }, old, owner, origin);
    expect(now).toEqual({ ...old, app: 'shop', 'tenantdb-tags': 'app' });
    expect(desiredTags({ ...spec, tags: {} }, now, owner, origin)).toEqual(old);
  }
});

test('tags: the record holds the names that fit in one tag value (256); the rest are never removed', () => {
  const long = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`tag-name-${String(i).padStart(2, '0')}`, 'v']));
  const t = desiredTags({ ...spec, tags: long }, undefined, owner, 'created');
  const record = t['tenantdb-tags'] as string;
  expect(record.length).toBeLessThanOrEqual(256);
  expect(record.split(',')).toEqual(Object.keys(long).sort().slice(0, record.split(',').length));
  const after = desiredTags({ ...spec, tags: {} }, t, owner, 'created');
  expect(Object.keys(after).filter((k) => k.startsWith('tag-name-')).length).toBe(30 - record.split(',').length);
});

test('firewall rules and administrators converge to the spec set; absent field leaves them alone', () => {
  const actual = [
    { name: 'a', startIpAddress: '10.0.0.1', endIpAddress: '10.0.0.8' },
    { name: 'old', startIpAddress: '1.1.1.1', endIpAddress: '1.1.1.1' },
  ];
  expect(firewallSteps(spec, actual)).toEqual([
    { op: 'put', name: 'a', startIpAddress: '10.0.0.1', endIpAddress: '10.0.0.9' },
    { op: 'delete', name: 'old' },
  ]);
  expect(firewallSteps({ ...spec, network: { publicNetworkAccess: 'Enabled' } }, actual)).toEqual([]);
  expect(adminSteps(spec, [{ objectId: '5a7d3c19-2e84-4f6b-b0c9-1d8e6f2a4b75', principalName: 'dba', principalType: 'Group' }])).toEqual([]);
  expect(adminSteps(spec, [{ objectId: 'ffffffff-2e84-4f6b-b0c9-1d8e6f2a4b75', principalName: 'x', principalType: 'User' }]).map((s) => s.op)).toEqual(['put', 'delete']);
});

test('parameters: azure.extensions widened by database extensions; values compared as PostgreSQL reads them', () => {
  const full = { server: { azure: { ...spec, parameters: { 'azure.extensions': 'PG_TRGM,PGCRYPTO', work_mem: '4096' } } }, database: { name: 'd', extensions: ['pgcrypto', 'citext'] } } as unknown as TenantDatabaseSpec;
  expect(desiredParameters(full)).toEqual({ 'azure.extensions': 'PG_TRGM,PGCRYPTO,citext', work_mem: '4096' });
  expect(sameParameterValue('azure.extensions', 'PG_TRGM,PGCRYPTO,citext', 'citext,pg_trgm,pgcrypto')).toBe(true);
  expect(sameParameterValue('log_connections', 'ON', 'on')).toBe(true);
  expect(sameParameterValue('pgbouncer.enabled', 'true', 'on')).toBe(true);
  expect(sameParameterValue('work_mem', '4096', '8192')).toBe(false);
  expect(parameterSteps({ work_mem: '4096', max_connections: '200' }, [{ name: 'work_mem', value: '4096' }, { name: 'max_connections', value: '100' }])).toEqual([{ name: 'max_connections', value: '200' }]);
});

test('maintenance window: start of the current or next window (UTC), membership', () => {
  const mw = { dayOfWeek: 0, startHour: 2, startMinute: 0 };
  // Wednesday 2026-12-02 10:00 → Sunday 2026-12-06 02:00.
  expect(maintenanceWindowStart(mw, new Date('2026-12-02T10:00:00Z')).toISOString()).toBe('2026-12-06T02:00:00.000Z');
  // Inside the window: its own start.
  expect(maintenanceWindowStart(mw, new Date('2026-12-06T02:30:00Z')).toISOString()).toBe('2026-12-06T02:00:00.000Z');
  expect(inMaintenanceWindow(mw, new Date('2026-12-06T02:30:00Z'))).toBe(true);
  // Just after: next week.
  expect(maintenanceWindowStart(mw, new Date('2026-12-06T03:00:00Z')).toISOString()).toBe('2026-12-13T02:00:00.000Z');
  expect(inMaintenanceWindow(mw, new Date('2026-12-06T03:00:00Z'))).toBe(false);
  // A window starting Saturday 23:30 still open on Sunday 00:10.
  expect(inMaintenanceWindow({ dayOfWeek: 6, startHour: 23, startMinute: 30 }, new Date('2026-12-06T00:10:00Z'))).toBe(true);
});

test('replicas to delete: only ours, created by us, no longer in the spec', () => {
  const ours = { 'tenantdb-owner': owner, 'tenantdb-origin': 'created' };
  const replicas: Server[] = [
    { name: 'r1', location: 'x', tags: ours },
    { name: 'r2', location: 'x', tags: ours },
    { name: 'r3', location: 'x', tags: { 'tenantdb-owner': owner, 'tenantdb-origin': 'adopted' } },
    { name: 'r4', location: 'x' },
  ];
  expect(replicasToDelete({ ...spec, readReplicas: [{ name: 'r1' }] }, replicas, owner)).toEqual(['r2']);
});

test('generated passwords are long and meet Azure complexity', () => {
  for (let i = 0; i < 50; i++) {
    const p = generatePassword(32);
    expect(p).toHaveLength(32);
    expect([/[A-Z]/, /[a-z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((r) => r.test(p)).length).toBeGreaterThanOrEqual(3);
  }
});
