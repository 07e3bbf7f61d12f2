// The health part (spec.health) on a Flexible Server the operator provisions in the ARM emulator (a real
// PostgreSQL 17 whose administrator is not superuser, with a real streaming read replica): the figures in
// status.health and the metrics; a transaction held open, a replica whose replay stops and storage over
// its threshold each turn Healthy False with a reason a person can act on, while Ready stays True; a
// converged object costs no status write over two periods.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import pg from 'pg';
import { closeAllPostgresConnections, PostgresConnections } from '../../src/postgres/connections.js';
import { generatePassword } from '../../src/postgres/database/scram.js';
import { metricsRegistry } from '../../src/runtime/metrics.js';
import type { Manager } from '../../src/runtime/manager.js';
import { createTestNamespace } from '../../dev/env/testenv.js';
import { eventually, getJson, installCrds, metricValue, run } from '../runtime/helpers.js';
import { azureTenantDatabase, credentialsSecret, startAzureHarness, startOperatorInProcess, type AzureHarness } from './azure-harness.js';
import { events, readSecret, waitReady } from './db-harness.js';

interface Cond { type: string; status: string; reason: string; message: string }
interface Tdb {
  metadata: { resourceVersion: string; generation: number };
  status?: { conditions?: Cond[]; health?: Record<string, any> };
}

const NAME = 'shop';
const PERIOD = 30;
let h: AzureHarness;
let ns: string;
let mgr: Manager;
let conns: PostgresConnections;
let server: string;
let replica: string;
let adminPassword: string;

const get = () => getJson<Tdb>(['get', 'tenantdatabases.tenantdb.io', NAME, '-n', ns]);
const cond = (o: Tdb | undefined, type: string) => o?.status?.conditions?.find((c) => c.type === type);
const apply = (obj: unknown) => run(['apply', '-f', '-'], JSON.stringify(obj));

function tdb(thresholds: Record<string, number>) {
  return azureTenantDatabase(
    ns,
    NAME,
    server,
    { readReplicas: [{ name: replica }], parameters: { 'azure.extensions': 'pg_stat_statements' } },
    { spec: { database: { name: 'shop', extensions: ['pg_stat_statements'] }, roles: { owner: 'shop_owner', application: 'shop_app' }, health: { periodSeconds: PERIOD, topStatements: 3, thresholds } } },
  );
}
const THRESHOLDS = { transactionAgeSeconds: 5, replicationLagSeconds: 5 };

/**
 * Asks for a read now: a spec change is read at once (a new generation does not wait for the period), so
 * the tests need not sit out a period each time a figure changes. topStatements alternates 3 and 4.
 */
let topStatements = 3;
async function readNow(): Promise<void> {
  topStatements = topStatements === 3 ? 4 : 3;
  await run(['patch', 'tenantdatabases.tenantdb.io', NAME, '-n', ns, '--type', 'merge', '-p', JSON.stringify({ spec: { health: { topStatements } } })]);
}

async function healthy(what: string, pred: (c: Cond, health: Record<string, any>) => boolean, timeoutMs = 3 * PERIOD * 1000): Promise<Tdb> {
  let asked = Date.now();
  return eventually(
    what,
    async () => {
      if (Date.now() - asked > 6000) {
        asked = Date.now();
        await readNow();
      }
      const o = await get();
      const c = cond(o, 'Healthy');
      return c && o?.status?.health && pred(c, o.status.health) ? o : undefined;
    },
    timeoutMs,
    500,
  );
}

const admin = (database = 'shop') => ({ host: `${server}.postgres.database.azure.com`, port: 5432, sslMode: 'verify-full' as const, user: 'tdbadmin', password: adminPassword, database });

/** A session of its own (outside the pools), for a transaction held open. */
async function session(user: string, password: string): Promise<pg.Client> {
  const c = new pg.Client({ ...conns.clientConfig({ ...admin(), user, password }), application_name: 'health-test' });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

beforeAll(async () => {
  await installCrds();
  h = await startAzureHarness('health');
  ns = await createTestNamespace('health');
  conns = new PostgresConnections(h.settings.postgres);
  server = `health-${Date.now().toString(36)}`;
  replica = `${server}-r1`;
  adminPassword = generatePassword();
  await apply(credentialsSecret(ns, 'azure-creds'));
  await apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: `${NAME}-admin`, namespace: ns }, stringData: { password: adminPassword } });
  mgr = await startOperatorInProcess(h, ns, { parts: 'all' });
}, 120_000);

afterAll(async () => {
  await conns?.close();
  await mgr?.stop();
  await closeAllPostgresConnections();
  if (ns) await run(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  await h?.stop();
});

test('figures in status.health and metrics; Healthy True; pg_stat_statements gives normalised statements of the application', async () => {
  await apply(tdb(THRESHOLDS));
  await waitReady(ns, NAME, 240_000);
  // The application's statements (its own role, not the administrator's), one with a literal.
  const s = await readSecret(ns, `${NAME}-connection`);
  const app = await session(s!.data.username!, s!.data.password!);
  try {
    for (let i = 0; i < 5; i++) await app.query(`SELECT ${i} + 1 AS secretish_literal_${i % 1}`);
  } finally {
    await app.end();
  }
  const o = await healthy('Healthy True with replica streaming and statements', (c, hs) => c.status === 'True' && hs.replicas?.[0]?.streaming === true && (hs.topStatements ?? []).length > 0);
  const hs = o.status!.health!;
  expect(cond(o, 'Ready')?.status).toBe('True');
  expect(hs.storage.usedMiB).toBeGreaterThan(0);
  expect(hs.storage.provisionedMiB).toBe(32 * 1024);
  expect(hs.storage.percentUsed).toBeLessThan(80);
  expect(hs.connections.max).toBe(100);
  expect(hs.wraparoundHeadroomXids).toBeGreaterThan(1_000_000_000);
  expect(hs.oldestTransactionAgeSeconds).toBeUndefined();
  expect(hs.replicas).toEqual([expect.objectContaining({ name: replica, streaming: true, state: 'streaming' })]);
  expect(hs.backups.count).toBeGreaterThanOrEqual(1);
  expect(hs.backups.retentionDays).toBe(7);
  expect(Date.parse(hs.backups.earliestRestorePoint)).toBeGreaterThan(Date.now() - 86_400_000);
  // Normalised text only: the literals are $n placeholders, never the values sent.
  const texts = (hs.topStatements as Array<{ query: string; calls: number }>).map((x) => x.query);
  expect(texts.some((q) => /SELECT \$1 \+ \$2/.test(q))).toBe(true);
  expect(texts.join('\n')).not.toMatch(/SELECT [0-9]+ \+/);
  expect(hs.statementsUnavailable).toBeUndefined();
  expect(JSON.stringify(hs)).not.toContain(adminPassword);
  const text = await metricsRegistry.metrics();
  const l = { namespace: ns, name: NAME };
  expect(metricValue(text, 'tenantdb_health_healthy', l)).toBe(1);
  expect(metricValue(text, 'tenantdb_health_storage_provisioned_bytes', l)).toBe(32 * 1024 ** 3);
  expect(metricValue(text, 'tenantdb_health_connections_max', l)).toBe(100);
  expect(metricValue(text, 'tenantdb_health_replica_streaming', { ...l, replica })).toBe(1);
  expect(metricValue(text, 'tenantdb_health_backups_available', l)).toBeGreaterThanOrEqual(1);
}, 400_000);

test('converged health costs no status write over a period', async () => {
  // Settled first: the figures read now (the period restarts from this read).
  await readNow();
  await new Promise((r) => setTimeout(r, 5000));
  const before = await get();
  await new Promise((r) => setTimeout(r, (PERIOD + 5) * 1000));
  const after = await get();
  expect(after?.metadata.resourceVersion).toBe(before?.metadata.resourceVersion);
  expect(cond(after, 'Healthy')?.status).toBe('True');
}, 200_000);

test('a transaction held open: its age is reported and Healthy False LongRunningTransaction; Ready stays True', async () => {
  const s = await readSecret(ns, `${NAME}-connection`);
  const c = await session(s!.data.username!, s!.data.password!);
  try {
    await c.query('BEGIN');
    await c.query('SELECT txid_current()');
    const o = await healthy('LongRunningTransaction', (x, hs) => x.status === 'False' && x.reason === 'LongRunningTransaction' && hs.oldestTransactionAgeSeconds > 5);
    expect(cond(o, 'Healthy')?.message).toMatch(/open for \d+ s \(threshold 5 s\): find it in pg_stat_activity/);
    expect(cond(o, 'Ready')?.status).toBe('True');
    expect(metricValue(await metricsRegistry.metrics(), 'tenantdb_health_oldest_transaction_age_seconds', { namespace: ns, name: NAME })).toBeGreaterThan(5);
    // One Warning Event for the change (not one per refresh).
    await eventually('LongRunningTransaction Event', async () => (await events(ns, NAME)).some((e) => e.type === 'Warning' && e.reason === 'LongRunningTransaction'), 30_000, 500);
  } finally {
    await c.query('ROLLBACK').catch(() => undefined);
    await c.end();
  }
  await healthy('Healthy again once the transaction ended', (x, hs) => x.status === 'True' && hs.oldestTransactionAgeSeconds === undefined);
}, 200_000);

test('a replica that stops replaying: its lag is reported and Healthy False ReplicationLagging', async () => {
  expect(await h.control.replicaReplay(replica, 'pause')).toEqual({ paused: true });
  const stopWriting = { now: false };
  // WAL keeps coming on the primary while the replica does not apply it.
  const writer = (async () => {
    await conns.query(admin(), 'CREATE TABLE IF NOT EXISTS health_filler (i int, pad text)');
    while (!stopWriting.now) {
      await conns.query(admin(), "INSERT INTO health_filler SELECT g, repeat('x', 200) FROM generate_series(1, 2000) g");
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  try {
    const o = await healthy('ReplicationLagging', (x, hs) => x.status === 'False' && x.reason === 'ReplicationLagging' && hs.replicas?.[0]?.lagSeconds > 5);
    expect(cond(o, 'Healthy')?.message).toContain(`replica ${replica} replays`);
    expect(o.status!.health!.replicas[0]).toMatchObject({ name: replica, streaming: true });
    expect(metricValue(await metricsRegistry.metrics(), 'tenantdb_health_replication_lag_seconds', { namespace: ns, name: NAME, replica })).toBeGreaterThan(5);
    expect(cond(o, 'Ready')?.status).toBe('True');
  } finally {
    stopWriting.now = true;
    await writer.catch(() => undefined);
    expect(await h.control.replicaReplay(replica, 'resume')).toEqual({ paused: false });
  }
  // Replay goes on: the replica catches up and the report says so.
  await healthy('Healthy again once the replica caught up', (x, hs) => x.status === 'True' && hs.replicas?.[0]?.streaming === true && (hs.replicas[0].lagSeconds ?? 0) <= 5);
}, 300_000);

test("a replica's walreceiver stopped: its slot is reported not streaming, Healthy False ReplicaNotStreaming; started again, Healthy", async () => {
  expect(await h.control.replicaStreaming(replica, 'stop')).toEqual({ streaming: false });
  try {
    const o = await healthy('ReplicaNotStreaming', (x, hs) => x.status === 'False' && x.reason === 'ReplicaNotStreaming' && hs.replicas?.[0]?.streaming === false);
    const r = o.status!.health!.replicas[0];
    expect(r.slot).toMatch(/^replica_/);
    expect(r.lagMiB).toBeGreaterThanOrEqual(0);
    expect(cond(o, 'Healthy')?.message).toContain(`no replica streams from replication slot ${r.slot}`);
    expect(metricValue(await metricsRegistry.metrics(), 'tenantdb_health_replica_streaming', { namespace: ns, name: NAME, replica: r.slot })).toBe(0);
    expect(cond(o, 'Ready')?.status).toBe('True');
  } finally {
    expect(await h.control.replicaStreaming(replica, 'start')).toEqual({ streaming: true });
  }
  await healthy('streaming again', (x, hs) => x.status === 'True' && hs.replicas?.[0]?.name === replica && hs.replicas[0].streaming === true);
}, 300_000);

test('storage over the threshold: StorageNearlyFull with the percentage used', async () => {
  await conns.query(admin(), "INSERT INTO health_filler SELECT g, repeat('y', 1000) FROM generate_series(1, 20000) g");
  // A threshold below what the server uses (filling 32 GiB is not needed to prove the rule); the spec
  // change is read at once (a new generation does not wait for the period).
  await apply(tdb({ ...THRESHOLDS, storagePercent: 0.01 }));
  const o = await healthy('StorageNearlyFull', (x, hs) => x.status === 'False' && x.reason === 'StorageNearlyFull' && hs.storage.percentUsed > 0.01, 60_000);
  expect(cond(o, 'Healthy')?.message).toMatch(/storage [0-9.]+% used \(\d+ of 32768 MiB, threshold 0.01%\): raise spec.server.azure.storage.sizeGB/);
  expect(metricValue(await metricsRegistry.metrics(), 'tenantdb_health_healthy', { namespace: ns, name: NAME })).toBe(0);
}, 120_000);
