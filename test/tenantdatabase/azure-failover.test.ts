// HA planned failover on request: a zone-redundant TenantDatabase (the emulator runs a real standby)
// gets spec highAvailability.failover { requestId, mode: Planned }; the operator asks ARM once for a
// restart with failover, measures the seconds until the database accepted a write again on the new
// primary, and records it in status.azure.failover. The application reconnects with the same connection
// Secret (unchanged: same host name) and finds every committed row; applying the same requestId again
// does nothing (no second restart reaches ARM); a new requestId with mode Forced fails over again; an
// operator restarted mid-failover resumes the recorded operation and finishes it once; one stopped right
// after sending the restart, before recording it, leaves a successor that does not send it again.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { PostgresConnections } from '../../src/postgres/connections.js';
import { generatePassword } from '../../src/postgres/database/scram.js';
import type { Manager } from '../../src/runtime/manager.js';
import { createTestNamespace } from '../../dev/env/testenv.js';
import { eventually, getJson, installCrds, run } from '../runtime/helpers.js';
import { azureTenantDatabase, credentialsSecret, RG, startAzureHarness, startOperatorInProcess, type AzureHarness } from './azure-harness.js';
import { events, nudge, readSecret, waitReady } from './db-harness.js';

interface Failover {
  requestId?: string;
  mode?: string;
  phase?: string;
  startedAt?: string;
  completedAt?: string;
  writableAfterSeconds?: number;
  message?: string;
  operation?: { kind: string };
}
type Td = { metadata: { generation: number }; status?: { observedGeneration?: number; azure?: { failover?: Failover }; conditions?: Array<{ type: string; status: string; reason: string }> } };

const NAME = 'ha-app';
const SERVER = `ha-fo-${Date.now().toString(36)}`;
const ROWS = 500;
let h: AzureHarness;
let ns: string;
let mgr: Manager;
let adminPassword: string;

const azure = (failover?: { requestId: string; mode: 'Planned' | 'Forced' }) => ({
  availabilityZone: '1',
  highAvailability: { mode: 'ZoneRedundant', standbyAvailabilityZone: '2', ...(failover ? { failover } : {}) },
});
const getTd = () => getJson<Td>(['get', 'tenantdatabases.tenantdb.io', NAME, '-n', ns]);
/** The attack of the lost-status tests: status.azure.failover removed, as an etcd restore would leave it. */
const removeFailoverRecord = () =>
  run(['patch', 'tenantdatabases.tenantdb.io', NAME, '-n', ns, '--subresource=status', '--type=json', '-p', '[{"op":"remove","path":"/status/azure/failover"}]']);
/** status.azure.failover once the request `id` has ended. */
const failoverDone = (id: string) =>
  eventually(`failover ${id} done`, async () => {
    const f = (await getTd())?.status?.azure?.failover;
    return f?.requestId === id && (f.phase === 'Succeeded' || f.phase === 'Failed') ? f : undefined;
  }, 120_000, 300);
const restarts = async () => (await h.control.operations()).filter((o) => o.action === 'servers.restart' && o.resourceId.toLowerCase().endsWith(`/${SERVER}`)).length;

async function appTarget(): Promise<{ host: string; port: number; sslMode: 'verify-full'; user: string; password: string; database: string }> {
  const s = await readSecret(ns, `${NAME}-connection`);
  return { host: s!.data.host!, port: Number(s!.data.port), sslMode: 'verify-full', user: s!.data.username!, password: s!.data.password!, database: 'app' };
}

beforeAll(async () => {
  await installCrds();
  h = await startAzureHarness('ha-failover');
  ns = await createTestNamespace('ha-failover');
  await run(['apply', '-f', '-'], JSON.stringify(credentialsSecret(ns, 'azure-creds')));
  adminPassword = generatePassword();
  await run(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: `${NAME}-admin`, namespace: ns }, stringData: { password: adminPassword } }));
  mgr = await startOperatorInProcess(h, ns, { parts: 'all' });
  await run(['apply', '-f', '-'], JSON.stringify(azureTenantDatabase(ns, NAME, SERVER, azure())));
  await waitReady(ns, NAME, 240_000);
}, 300_000);

afterAll(async () => {
  await mgr?.stop();
  if (ns) await run(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  await h?.stop();
});

test('a planned failover on request keeps every row behind the same Secret, is measured, and runs once per requestId', async () => {
  // Rows written by the application through its connection Secret (the table made by the administrator).
  const before = await appTarget();
  const app = new PostgresConnections(h.settings.postgres);
  const admin = { host: before.host, port: 5432, sslMode: 'verify-full' as const, user: 'tdbadmin', password: adminPassword, database: 'app' };
  await app.query(admin, 'CREATE TABLE orders (id int PRIMARY KEY, note text)');
  await app.query(admin, 'GRANT SELECT, INSERT ON orders TO app_user');
  await app.query(before, `INSERT INTO orders SELECT i, 'before failover' FROM generate_series(1, ${ROWS}) i`);
  await app.close();
  const secretBefore = await readSecret(ns, `${NAME}-connection`);
  const serverBefore = await h.client.servers.get(RG, SERVER);
  expect(serverBefore.highAvailability).toMatchObject({ mode: 'ZoneRedundant', state: 'Healthy' });
  expect(await restarts()).toBe(0);

  await run(['apply', '-f', '-'], JSON.stringify(azureTenantDatabase(ns, NAME, SERVER, azure({ requestId: 'fo-1', mode: 'Planned' }))));
  const fo = await failoverDone('fo-1');
  console.log(`planned HA failover through the operator: database writable again after ${fo.writableAfterSeconds} s (operation ${(Date.parse(fo.completedAt!) - Date.parse(fo.startedAt!)) / 1000} s)`);
  expect(fo).toMatchObject({ phase: 'Succeeded', mode: 'Planned' });
  expect(fo.writableAfterSeconds).toBeGreaterThan(0);
  expect(fo.writableAfterSeconds!).toBeLessThanOrEqual((Date.parse(fo.completedAt!) - Date.parse(fo.startedAt!)) / 1000 + 0.01);
  expect(await restarts()).toBe(1);
  // The primary now runs where the standby was; the name did not change.
  const serverAfter = await h.client.servers.get(RG, SERVER);
  expect(serverAfter).toMatchObject({ availabilityZone: '2', fullyQualifiedDomainName: serverBefore.fullyQualifiedDomainName, highAvailability: { state: 'Healthy', standbyAvailabilityZone: '1' } });

  // The application reconnects with the same Secret and finds every committed row, and can write.
  await waitReady(ns, NAME, 60_000);
  const secretAfter = await readSecret(ns, `${NAME}-connection`);
  expect(secretAfter?.data).toEqual(secretBefore?.data);
  const again = new PostgresConnections(h.settings.postgres);
  try {
    const t = await appTarget();
    expect((await again.query<{ n: string }>(t, 'SELECT count(*) AS n FROM orders')).rows).toEqual([{ n: String(ROWS) }]);
    await again.query(t, `INSERT INTO orders VALUES (${ROWS + 1}, 'after failover')`);
  } finally {
    await again.close();
  }
  const ev = await events(ns, NAME);
  expect(ev.some((e) => e.reason === 'FailoverStarted')).toBe(true);
  expect(ev.some((e) => e.reason === 'FailedOver' && /accepted writes again after [\d.]+ s/.test(e.note ?? e.message ?? ''))).toBe(true);

  // The same requestId again (re-applied, and a reconcile forced): nothing reaches ARM, status stays.
  await run(['apply', '-f', '-'], JSON.stringify(azureTenantDatabase(ns, NAME, SERVER, azure({ requestId: 'fo-1', mode: 'Planned' }))));
  await nudge(ns, NAME);
  await waitReady(ns, NAME, 60_000);
  await new Promise((r) => setTimeout(r, 3_000));
  expect(await restarts()).toBe(1);
  expect((await getTd())?.status?.azure?.failover).toMatchObject({ requestId: 'fo-1', startedAt: fo.startedAt, completedAt: fo.completedAt });
}, 240_000);

test('status is output: with status.azure.failover wiped, the same requestId does not fail over again (the server tag records it)', async () => {
  // The attack: the record in status is lost (an etcd restore, an object re-created from Git, or anyone
  // who may write status). Run-once must not depend on it: the server carries the request it handled.
  expect(await restarts()).toBe(1);
  expect((await h.client.servers.get(RG, SERVER)).tags).toMatchObject({ 'tenantdb-failover': 'fo-1' });
  await removeFailoverRecord();
  expect((await getTd())?.status?.azure?.failover).toBeUndefined();
  await nudge(ns, NAME);
  await waitReady(ns, NAME, 60_000);
  await new Promise((r) => setTimeout(r, 3_000));
  await nudge(ns, NAME);
  await waitReady(ns, NAME, 60_000);
  expect(await restarts()).toBe(1);
  expect((await h.client.servers.get(RG, SERVER)).tags).toMatchObject({ 'tenantdb-failover': 'fo-1' });
}, 120_000);

test('a claim with no record of it (status lost between the claim and the restart) is never repeated on a guess', async () => {
  // The claim (the tag PATCH) is held in Azure while status loses the record of it; then the claim lands.
  await h.control.pauseOperations({ method: 'PATCH', path: `flexibleServers/${SERVER}$`, count: 1 });
  await run(['apply', '-f', '-'], JSON.stringify(azureTenantDatabase(ns, NAME, SERVER, azure({ requestId: 'fo-lost', mode: 'Planned' }))));
  await eventually('claim recorded', async () => ((await getTd())?.status?.azure?.failover?.phase === 'Requested' ? true : undefined), 60_000, 200);
  const claim = await eventually('claim paused in Azure', async () => (await h.control.operations()).find((o) => o.paused && o.resourceId.toLowerCase().endsWith(`/${SERVER}`)), 30_000, 200);
  // A pass that read the object before the removal can write the record back from what it claimed itself
  // (a status write is a merge patch): the removal is repeated until the record stays gone for a second.
  await eventually('record removed and still gone', async () => {
    if ((await getTd())?.status?.azure?.failover) await removeFailoverRecord();
    await new Promise((r) => setTimeout(r, 1_000));
    return (await getTd())?.status?.azure?.failover === undefined ? true : undefined;
  }, 30_000, 100);
  await h.control.resumeOperation(claim.id);
  const fo = await failoverDone('fo-lost');
  expect(fo).toMatchObject({ phase: 'Failed' });
  expect(fo.message).toMatch(/never repeated on a guess/);
  await eventually('marked handled', async () => ((await h.client.servers.get(RG, SERVER)).tags?.['tenantdb-failover'] === 'fo-lost' ? true : undefined), 60_000, 300);
  expect(await restarts()).toBe(1);
  expect((await events(ns, NAME)).some((e) => e.reason === 'FailoverNotConfirmed')).toBe(true);
}, 120_000);

test('a forced failover on a new requestId runs too, back to the first zone, and is measured', async () => {
  await run(['apply', '-f', '-'], JSON.stringify(azureTenantDatabase(ns, NAME, SERVER, azure({ requestId: 'fo-2', mode: 'Forced' }))));
  const fo = await failoverDone('fo-2');
  console.log(`forced HA failover through the operator: database writable again after ${fo.writableAfterSeconds} s (operation ${(Date.parse(fo.completedAt!) - Date.parse(fo.startedAt!)) / 1000} s)`);
  expect(fo).toMatchObject({ phase: 'Succeeded', mode: 'Forced' });
  expect(await restarts()).toBe(2);
  expect(await h.client.servers.get(RG, SERVER)).toMatchObject({ availabilityZone: '1', highAvailability: { state: 'Healthy', standbyAvailabilityZone: '2' } });
  await waitReady(ns, NAME, 60_000);
  const app = new PostgresConnections(h.settings.postgres);
  try {
    // Nothing was being written during it: every row is there.
    expect((await app.query<{ n: string }>(await appTarget(), 'SELECT count(*) AS n FROM orders')).rows).toEqual([{ n: String(ROWS + 1) }]);
  } finally {
    await app.close();
  }
}, 180_000);

test('an operator restarted while a failover runs resumes it from status and finishes it once', async () => {
  // The failover operation starts paused: the first operator records it and is stopped meanwhile.
  await h.control.pauseOperations({ method: 'POST', path: `flexibleServers/${SERVER}/restart$`, count: 1 });
  await run(['apply', '-f', '-'], JSON.stringify(azureTenantDatabase(ns, NAME, SERVER, azure({ requestId: 'fo-3', mode: 'Planned' }))));
  const running = await eventually('failover fo-3 recorded', async () => {
    const f = (await getTd())?.status?.azure?.failover;
    return f?.requestId === 'fo-3' && f.phase === 'Running' && f.operation ? f : undefined;
  }, 60_000, 200);
  await mgr.stop();
  const op = (await h.control.operations()).find((o) => o.paused && o.action === 'servers.restart');
  expect(op).toBeDefined();
  mgr = await startOperatorInProcess(h, ns, { parts: 'all' });
  await h.control.resumeOperation(op!.id);
  const fo = await failoverDone('fo-3');
  expect(fo).toMatchObject({ phase: 'Succeeded', startedAt: running.startedAt });
  expect(await restarts()).toBe(3);
  await waitReady(ns, NAME, 60_000);
}, 180_000);

test('an operator stopped right after its restart with failover was sent, before it recorded that, does not fail over a second time', async () => {
  // The state such an operator leaves: the server claimed for the request, status saying "Requested"
  // (the restart comes next), and the restart sent and done in Azure. A successor that sends it again
  // fails the database back to where it was: a second outage, undoing the first.
  const before = await restarts();
  await h.control.pauseOperations({ method: 'PATCH', path: `flexibleServers/${SERVER}$`, count: 1 });
  await run(['apply', '-f', '-'], JSON.stringify(azureTenantDatabase(ns, NAME, SERVER, azure({ requestId: 'fo-4', mode: 'Planned' }))));
  await eventually('claim recorded', async () => ((await getTd())?.status?.azure?.failover?.phase === 'Requested' ? true : undefined), 60_000, 200);
  const claim = await eventually('claim paused in Azure', async () => (await h.control.operations()).find((o) => o.paused && o.resourceId.toLowerCase().endsWith(`/${SERVER}`)), 30_000, 200);
  await mgr.stop();
  await h.control.resumeOperation(claim.id);
  await eventually('server claimed', async () => ((await h.client.servers.get(RG, SERVER)).tags?.['tenantdb-failover']?.startsWith('requested:fo-4') ? true : undefined), 60_000, 300);
  const zoneBefore = (await h.client.servers.get(RG, SERVER)).availabilityZone;
  // The stopped operator's restart, sent and finished.
  await h.client.servers.beginRestartAndWait(RG, SERVER, { parameters: { restartWithFailover: true, failoverMode: 'PlannedFailover' }, updateIntervalInMs: 200 });
  expect(await restarts()).toBe(before + 1);
  const zoneAfter = (await h.client.servers.get(RG, SERVER)).availabilityZone;
  expect(zoneAfter).not.toBe(zoneBefore);

  mgr = await startOperatorInProcess(h, ns, { parts: 'all' });
  const fo = await failoverDone('fo-4');
  expect(fo.message).toMatch(/restarted after it was claimed/);
  await eventually('marked handled', async () => ((await h.client.servers.get(RG, SERVER)).tags?.['tenantdb-failover'] === 'fo-4' ? true : undefined), 60_000, 300);
  await waitReady(ns, NAME, 60_000);
  expect(await restarts()).toBe(before + 1);
  expect((await h.client.servers.get(RG, SERVER)).availabilityZone).toBe(zoneAfter);
  expect((await events(ns, NAME)).some((e) => e.reason === 'FailoverNotConfirmed')).toBe(true);
}, 240_000);
