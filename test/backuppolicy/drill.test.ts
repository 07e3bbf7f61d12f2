// Restore drills end to end: the tenantdb.io/run-drill annotation starts a drill that writes a marker on
// the source, restores the server at the latest point to a throw-away server (real PITR in the
// emulator), runs the checks READ ONLY, reports RTO and RPO (status, metrics, Event) and deletes the
// throw-away server; a failing check fails the drill naming it, a drill past its timeout fails, an
// operator SIGKILLed mid-drill is resumed by the next one from status, and no throw-away server is
// ever left behind.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { registerBackupPolicyController } from '../../controllers/backuppolicy/index.js';
import { postgresConnections } from '../../src/postgres/connections.js';
import { EmulatorControl } from '../../dev/arm-emulator/control-client.js';
import { eventually, getJson, metricValue, run, scrape } from '../runtime/helpers.js';
import { kubectl, testEnv } from '../../dev/env/testenv.js';
import { repoRoot } from '../../dev/env/paths.js';
import { serverAndDatabase, startControllerHarness, type ControllerHarness } from '../alertruleset/fixtures.js';

interface Drill {
  result?: string;
  phase?: string;
  failedChecks?: string[];
  rtoSeconds?: number;
  rpoSeconds?: number;
  serverName?: string;
  message?: string;
  restorePoint?: string;
  markerAt?: string;
  trigger?: string;
}
interface Bp {
  status?: { lastDrill?: Drill; nextDrillTime?: string; conditions?: Array<{ type: string; status: string; reason: string }> };
}

const RG = 'drill-rg';
const SERVER = 'drill-pg-1';
const POLICY = 'drill-policy';
let h: ControllerHarness;
let control: EmulatorControl;

const getPolicy = () => getJson<Bp>(['get', 'backuppolicies.tenantdb.io', POLICY, '-n', h.ns]);

function policy(checks: Array<{ name: string; sql: string; expectRowsAtLeast?: number }>, timeout = 'PT5M') {
  return {
    apiVersion: 'tenantdb.io/v1alpha1',
    kind: 'BackupPolicy',
    metadata: { name: POLICY },
    spec: { databaseRef: { name: 'drill-db' }, retentionDays: 7, restoreDrill: { schedule: '30 4 1 * *', timeout, checks } },
  };
}

const CHECKS = [
  { name: 'configs-present', sql: 'SELECT tenant_id FROM tenant_configs LIMIT 1', expectRowsAtLeast: 1 },
  { name: 'two-tenants', sql: 'SELECT DISTINCT tenant_id FROM tenant_configs', expectRowsAtLeast: 2 },
];

async function runDrill(value: string, timeoutMs = 90_000): Promise<Drill> {
  await run(['annotate', '--overwrite', 'backuppolicies.tenantdb.io', POLICY, '-n', h.ns, `tenantdb.io/run-drill=${value}`]);
  return eventually(`drill ${value} finished`, async () => {
    const d = (await getPolicy())?.status?.lastDrill;
    return d?.trigger?.endsWith(`=${value}`) && d.phase === 'Done' ? d : undefined;
  }, timeoutMs, 500);
}

async function throwAwayServers(): Promise<string[]> {
  const names: string[] = [];
  for await (const s of h.clients.postgres.servers.listByResourceGroup(RG)) if (s.name !== SERVER) names.push(s.name!);
  return names;
}

beforeAll(async () => {
  h = await startControllerHarness('drill');
  control = new EmulatorControl(h.arm.controlEndpoint, h.arm.emu.caFile);
  await serverAndDatabase(h, { rg: RG, server: SERVER, td: 'drill-db', password: 'Drill-test-Pa55' });
  await h.clients.postgres.databases.beginCreateAndWait(RG, SERVER, 'appdb', { charset: 'UTF8', collation: 'en_US.utf8' }, { updateIntervalInMs: 100 });
  const conns = postgresConnections(h.settings.postgres);
  const target = { host: `${SERVER}.postgres.database.azure.com`, port: 5432, sslMode: 'verify-full' as const, user: 'tenantadmin', password: 'Drill-test-Pa55', database: 'appdb' };
  await conns.query(target, 'CREATE TABLE tenant_configs (tenant_id text PRIMARY KEY, config jsonb)');
  await conns.query(target, "INSERT INTO tenant_configs VALUES ('acme', '{}'), ('globex', '{}')");
  await run(['apply', '-n', h.ns, '-f', '-'], JSON.stringify(policy(CHECKS)));
  await h.startManager(registerBackupPolicyController);
}, 180_000);

afterAll(async () => {
  await kubectl(['delete', 'backuppolicies.tenantdb.io', '--all', '-n', h.ns, '--wait=true', '--timeout=60s']);
  await h?.stop();
});

test('a drill on request passes, reports RTO and RPO, and leaves no throw-away server', async () => {
  const d = await runDrill('1');
  console.log(`drill against the emulator: RTO ${d.rtoSeconds} s, RPO ${d.rpoSeconds} s`);
  expect(d.result).toBe('Passed');
  expect(d.failedChecks).toEqual([]);
  expect(d.serverName).toMatch(new RegExp(`^${SERVER}-drill-[0-9a-z]+$`));
  expect(d.rtoSeconds).toBeGreaterThan(0);
  expect(d.rtoSeconds).toBeLessThan(120);
  // The marker was written just before the restore point, and the real PITR replays up to it.
  expect(d.rpoSeconds).toBeDefined();
  expect(d.rpoSeconds!).toBeLessThan(5);
  expect(Date.parse(d.restorePoint!)).toBeGreaterThanOrEqual(Date.parse(d.markerAt!));
  expect(await throwAwayServers()).toEqual([]);
  const metrics = await scrape(h.mgr!.ports()[0]!);
  expect(metricValue(metrics, 'tenantdb_restore_drill_rto_seconds', { policy: POLICY })).toBe(d.rtoSeconds);
  expect(metricValue(metrics, 'tenantdb_restore_drill_rpo_seconds', { policy: POLICY })).toBe(d.rpoSeconds);
  expect(metricValue(metrics, 'tenantdb_restore_drills_total', { policy: POLICY, result: 'Passed' })).toBe(1);
  const p = await getPolicy();
  expect(p?.status?.conditions?.find((c) => c.type === 'DrillPassed')).toMatchObject({ status: 'True' });
  expect(p?.status?.nextDrillTime).toMatch(/-01T04:30:00/);
  const events = await run(['get', 'events', '-n', h.ns, '-o', 'json']);
  expect(events).toMatch(/restore drill \w+ passed \(RTO [\d.]+ s, RPO [\d.]+ s\)/);
}, 120_000);

test('a drill whose check fails is Failed naming the check, also without leftovers; checks run READ ONLY', async () => {
  await run(['apply', '-n', h.ns, '-f', '-'], JSON.stringify(policy([
    ...CHECKS,
    { name: 'audit-present', sql: 'SELECT 1 FROM audit_trail LIMIT 1' },
    // A check that writes fails instead of writing.
    { name: 'sneaky-write', sql: "INSERT INTO tenant_configs VALUES ('x', '{}') RETURNING 1" },
  ])));
  const d = await runDrill('2');
  expect(d.result).toBe('Failed');
  expect(d.failedChecks).toEqual(['audit-present', 'sneaky-write']);
  expect(d.message).toMatch(/audit-present: 42P01/);
  expect(d.message).toMatch(/sneaky-write: 25006/);
  expect(await throwAwayServers()).toEqual([]);
  const p = await getPolicy();
  expect(p?.status?.conditions?.find((c) => c.type === 'DrillPassed')).toMatchObject({ status: 'False', reason: 'DrillFailed' });
  const events = await run(['get', 'events', '-n', h.ns, '-o', 'json']);
  expect(events).toMatch(/failed \(checks: audit-present, sneaky-write\)/);
}, 180_000);

test('an operator SIGKILLed mid-drill: the next one resumes from status; a drill past its timeout fails and cleans up', async () => {
  await run(['apply', '-n', h.ns, '-f', '-'], JSON.stringify(policy(CHECKS)));
  // The drill runs in an operator process of its own, killed while the throw-away server is being created.
  await h.stopManager();
  await control.configureLro({ durations: { 'servers.create': 4_000 } });
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'test', 'backuppolicy', 'policy-operator.ts')], {
    cwd: repoRoot,
    env: { ...process.env, TENANTDB_TEST_KUBECONFIG: testEnv().kubeconfig, TENANTDB_TEST_NAMESPACE: h.ns, TENANTDB_TEST_SETTINGS: JSON.stringify(h.settings) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('started') && resolve());
    child.once('exit', () => reject(new Error('policy operator exited before it started')));
  });
  await run(['annotate', '--overwrite', 'backuppolicies.tenantdb.io', POLICY, '-n', h.ns, 'tenantdb.io/run-drill=4']);
  await eventually('throw-away server being created', async () => (await throwAwayServers()).length === 1, 30_000);
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');
  const mid = (await getPolicy())?.status?.lastDrill;
  expect(mid).toMatchObject({ result: 'Running', phase: 'Restoring' });
  await h.startManager(registerBackupPolicyController);
  const d = await eventually('resumed drill done', async () => {
    const x = (await getPolicy())?.status?.lastDrill;
    return x?.trigger?.endsWith('=4') && x.phase === 'Done' ? x : undefined;
  }, 90_000, 500);
  expect(d.result).toBe('Passed');
  expect(d.serverName).toBe(mid!.serverName);
  expect(await throwAwayServers()).toEqual([]);

  // Timeout: the restore takes longer than the drill may.
  await control.configureLro({ durations: { 'servers.create': 8_000 } });
  await run(['apply', '-n', h.ns, '-f', '-'], JSON.stringify(policy(CHECKS, 'PT3S')));
  const t = await runDrill('5', 90_000);
  expect(t.result).toBe('Failed');
  expect(t.message).toMatch(/timed out after 3 s/);
  await eventually('no leftovers after the timeout', async () => (await throwAwayServers()).length === 0, 60_000);
  await control.configureLro({ durations: {} });
}, 240_000);
