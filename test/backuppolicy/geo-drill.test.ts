// Geo-restore drills (restoreDrill.kind GeoRestore) end to end against the emulator's real geo-restore:
// the throw-away server is created in the paired region from the source's archived backups only, so it
// holds the rows committed before the last archived point and not those written after it; the drill
// reports RTO and the real RPO (the gap to the last archived commit) and deletes its server. A drill into
// a region that is not the pair fails with Azure's reason and leaves nothing; a server without
// geo-redundant backup is refused (Stalled, Event, drill recorded Failed) before anything is created,
// and the emulator refuses such a geo-restore itself.
import { registerBackupPolicyController } from '../../controllers/backuppolicy/index.js';
import { postgresConnections } from '../../src/postgres/connections.js';
import { EmulatorControl } from '../../dev/arm-emulator/control-client.js';
import { eventually, getJson, run } from '../runtime/helpers.js';
import { kubectl } from '../../dev/env/testenv.js';
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
  trigger?: string;
  kind?: string;
  location?: string;
}
interface Bp {
  status?: { lastDrill?: Drill; conditions?: Array<{ type: string; status: string; reason: string; message: string }> };
}

const RG = 'geo-drill-rg';
const SERVER = 'geo-pg-1';
const PLAIN = 'plain-pg-1';
const PASSWORD = 'Geo-drill-Pa55';
let h: ControllerHarness;
/** When the rows of batch "before" were archived (their WAL segment shipped to the archive). */
let archivedAt: number;
let afterWrittenAt: number;

const getPolicy = (name: string) => getJson<Bp>(['get', 'backuppolicies.tenantdb.io', name, '-n', h.ns]);

const CHECKS = [
  { name: 'archived-rows-present', sql: "SELECT 1 FROM geo_rows WHERE batch = 'before'", expectRowsAtLeast: 50 },
  // Passes only when the copy lacks what was written after the last archived point: it is not a live copy.
  { name: 'unarchived-rows-absent', sql: "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM geo_rows WHERE batch = 'after')", expectRowsAtLeast: 1 },
];

function policy(name: string, td: string, location: string, geoRedundant: boolean) {
  return {
    apiVersion: 'tenantdb.io/v1alpha1',
    kind: 'BackupPolicy',
    metadata: { name },
    spec: { databaseRef: { name: td }, retentionDays: 7, geoRedundant, restoreDrill: { schedule: '30 4 1 * *', timeout: 'PT5M', kind: 'GeoRestore', location, checks: CHECKS } },
  };
}

async function runDrill(name: string, value: string, timeoutMs = 120_000): Promise<Drill> {
  await run(['annotate', '--overwrite', 'backuppolicies.tenantdb.io', name, '-n', h.ns, `tenantdb.io/run-drill=${value}`]);
  return eventually(`drill ${value} finished`, async () => {
    const d = (await getPolicy(name))?.status?.lastDrill;
    return d?.trigger?.endsWith(`=${value}`) && d.phase === 'Done' ? d : undefined;
  }, timeoutMs, 500);
}

async function throwAwayServers(): Promise<string[]> {
  const names: string[] = [];
  for await (const s of h.clients.postgres.servers.listByResourceGroup(RG)) if (s.name !== SERVER && s.name !== PLAIN) names.push(s.name!);
  return names;
}

beforeAll(async () => {
  h = await startControllerHarness('geodrill');
  await serverAndDatabase(h, { rg: RG, server: SERVER, td: 'geo-db', password: PASSWORD, geoRedundant: true });
  await serverAndDatabase(h, { rg: RG, server: PLAIN, td: 'plain-db', password: PASSWORD });
  await h.clients.postgres.databases.beginCreateAndWait(RG, SERVER, 'appdb', { charset: 'UTF8', collation: 'en_US.utf8' }, { updateIntervalInMs: 100 });
  const conns = postgresConnections(h.settings.postgres);
  const target = { host: `${SERVER}.postgres.database.azure.com`, port: 5432, sslMode: 'verify-full' as const, user: 'tenantadmin', password: PASSWORD, database: 'appdb' };
  await conns.query(target, 'CREATE TABLE geo_rows (id serial PRIMARY KEY, batch text NOT NULL, written_at timestamptz NOT NULL DEFAULT clock_timestamp())');
  await conns.query(target, "INSERT INTO geo_rows (batch) SELECT 'before' FROM generate_series(1, 50)");
  // The archiver ships the segment holding the rows above (archive_timeout would, minutes later on Azure).
  await new EmulatorControl(h.arm.controlEndpoint, h.arm.emu.caFile).archiveWal(SERVER);
  archivedAt = Date.now();
  await new Promise((r) => setTimeout(r, 1500));
  await conns.query(target, "INSERT INTO geo_rows (batch) SELECT 'after' FROM generate_series(1, 10)");
  afterWrittenAt = Date.now();
  await run(['apply', '-n', h.ns, '-f', '-'], JSON.stringify(policy('geo-policy', 'geo-db', 'westus', true)));
  await run(['apply', '-n', h.ns, '-f', '-'], JSON.stringify(policy('plain-policy', 'plain-db', 'westus', false)));
  await h.startManager(registerBackupPolicyController);
}, 240_000);

afterAll(async () => {
  await kubectl(['delete', 'backuppolicies.tenantdb.io', '--all', '-n', h.ns, '--wait=true', '--timeout=60s']);
  await h?.stop();
});

test('a GeoRestore drill restores the archived rows into the paired region, reports RTO and the real RPO, and deletes its server', async () => {
  const started = Date.now();
  const d = await runDrill('geo-policy', '1');
  console.log(`geo-restore drill against the emulator: RTO ${d.rtoSeconds} s, RPO ${d.rpoSeconds} s (rows after the last archived point lost, as expected)`);
  expect(d).toMatchObject({ result: 'Passed', kind: 'GeoRestore', location: 'westus', failedChecks: [] });
  expect(d.serverName).toMatch(new RegExp(`^${SERVER}-drill-[0-9a-z]+$`));
  expect(d.rtoSeconds).toBeGreaterThan(0);
  expect(d.rtoSeconds!).toBeLessThanOrEqual((Date.now() - started) / 1000 + 1);
  // The copy ends at the last archived commit: its RPO reaches back past the unarchived rows to the archive point.
  expect(d.rpoSeconds).toBeDefined();
  expect(d.rpoSeconds!).toBeGreaterThanOrEqual((Date.parse(d.restorePoint!) - afterWrittenAt) / 1000);
  expect(d.rpoSeconds!).toBeLessThanOrEqual((Date.parse(d.restorePoint!) - archivedAt) / 1000 + 60);
  expect(await throwAwayServers()).toEqual([]);
  const p = await getPolicy('geo-policy');
  expect(p?.status?.conditions?.find((c) => c.type === 'DrillPassed')).toMatchObject({ status: 'True' });
  expect(p?.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True' });
  const events = await run(['get', 'events', '-n', h.ns, '-o', 'json']);
  expect(events).toMatch(/geo-restoring geo-pg-1 into westus/);
  expect(events).toMatch(/restore drill \w+ passed \(RTO [\d.]+ s, RPO [\d.]+ s\)/);
}, 180_000);

test('a GeoRestore drill into a region that is not the pair fails with Azure\'s reason and leaves nothing', async () => {
  await run(['apply', '-n', h.ns, '-f', '-'], JSON.stringify(policy('geo-policy', 'geo-db', 'northeurope', true)));
  const d = await runDrill('geo-policy', '2');
  expect(d).toMatchObject({ result: 'Failed', kind: 'GeoRestore', location: 'northeurope' });
  expect(d.message).toMatch(/InvalidGeoRestoreLocation.*paired region 'westus'/);
  expect(await throwAwayServers()).toEqual([]);
}, 120_000);

test('without geo-redundant backup a GeoRestore drill is refused (Stalled, Event) and the emulator refuses the geo-restore too', async () => {
  const stalled = await eventually('plain policy stalled', async () => {
    const c = (await getPolicy('plain-policy'))?.status?.conditions?.find((x) => x.type === 'Ready');
    return c?.status === 'False' && c.reason === 'GeoRestoreUnavailable' ? c : undefined;
  }, 30_000);
  expect(stalled.message).toMatch(/plain-pg-1 was created without it.*restoreDrill.kind PointInTimeRestore/);
  const d = await runDrill('plain-policy', '1', 30_000);
  expect(d.result).toBe('Failed');
  expect(d.serverName).toBeUndefined();
  expect(d.message).toMatch(/GeoRestore drill needs geo-redundant backup/);
  expect(await throwAwayServers()).toEqual([]);
  const events = await run(['get', 'events', '-n', h.ns, '--field-selector', 'involvedObject.name=plain-policy', '-o', 'json']);
  expect(events).toMatch(/GeoRestoreUnavailable/);
  expect(events).toMatch(/DrillFailed/);
  // The emulator's own answer to such a request (what the drill would have got from Azure).
  const plain = await h.clients.postgres.servers.get(RG, PLAIN);
  await expect(
    h.clients.postgres.servers.beginCreateOrUpdate(RG, 'plain-geo-copy', { location: 'westus', createMode: 'GeoRestore', sourceServerResourceId: plain.id!, pointInTimeUTC: new Date() }),
  ).rejects.toMatchObject({ statusCode: 400, code: 'GeoRedundantBackupNotEnabled' });
  expect(await throwAwayServers()).toEqual([]);
}, 120_000);
