// The BackupPolicy controller against the real apiserver and the ARM emulator: retention becomes the
// policy's (one PATCH, then 0 writes), on-demand backups on request and schedule with keep-N that
// deletes only the operator's own, geo-redundancy mismatch reported, a second policy for the same
// database stands by, an external database is Stalled.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { registerBackupPolicyController } from '../../controllers/backuppolicy/index.js';
import { backupPrefix } from '../../controllers/backuppolicy/naming.js';
import { EmulatorControl } from '../../dev/arm-emulator/control-client.js';
import { EXAMPLES_DIR, eventually, getJson, run } from '../runtime/helpers.js';
import { kubectl } from '../../dev/env/testenv.js';
import { serverAndDatabase, startControllerHarness, type ControllerHarness } from '../alertruleset/fixtures.js';

interface Cond {
  type: string;
  status: string;
  reason: string;
  message: string;
}
interface Bp {
  metadata: { generation: number };
  status?: {
    observedGeneration?: number;
    conditions?: Cond[];
    retentionDays?: number;
    earliestRestoreTime?: string;
    nextBackupTime?: string;
    lastBackup?: { name: string; state?: string; startedAt?: string; completedAt?: string };
    handledBackupRequest?: string;
  };
}

const RG = 'backup-rg';
let h: ControllerHarness;
let control: EmulatorControl;

const getPolicy = (name: string) => getJson<Bp>(['get', 'backuppolicies.tenantdb.io', name, '-n', h.ns]);
const cond = (o: Bp | undefined, type: string) => o?.status?.conditions?.find((c) => c.type === type);
const apply = (doc: unknown) => run(['apply', '-n', h.ns, '-f', '-'], JSON.stringify(doc));

function example(db: string): Record<string, any> {
  const doc = YAML.parse(fs.readFileSync(path.join(EXAMPLES_DIR, 'backuppolicy.yaml'), 'utf8'));
  doc.spec.databaseRef.name = db;
  doc.spec.geoRedundant = false;
  doc.spec.onDemand.keep = 2;
  delete doc.spec.restoreDrill;
  return doc;
}

async function writesSince(since: string): Promise<string[]> {
  const snap = await control.requests(since);
  return snap.entries.filter((e) => e.kind === 'write' || e.kind === 'delete').map((e) => `${e.method} ${e.path}`);
}

async function ourBackups(server: string): Promise<string[]> {
  const names: string[] = [];
  for await (const b of h.clients.postgres.backupsAutomaticAndOnDemand.listByServer(RG, server)) if (b.backupType !== 'Full') names.push(b.name!);
  return names.sort();
}

beforeAll(async () => {
  h = await startControllerHarness('bp');
  control = new EmulatorControl(h.arm.controlEndpoint, h.arm.emu.caFile);
  await serverAndDatabase(h, { rg: RG, server: 'bp-pg-1', td: 'bp-db', retentionDays: 7 });
  await h.startManager(registerBackupPolicyController);
}, 180_000);

afterAll(async () => {
  await kubectl(['delete', 'backuppolicies.tenantdb.io', '--all', '-n', h.ns, '--wait=true', '--timeout=30s']);
  await h?.stop();
});

test('retention becomes the policy\'s with one PATCH; then a converged policy costs 0 writes', async () => {
  const t0 = new Date().toISOString();
  await apply(example('bp-db'));
  const p = await eventually('policy Ready', async () => {
    const o = await getPolicy('compliance-db-backups');
    return cond(o, 'Ready')?.status === 'True' && o?.status?.retentionDays === 35 ? o : undefined;
  }, 60_000);
  expect((await h.clients.postgres.servers.get(RG, 'bp-pg-1')).backup?.backupRetentionDays).toBe(35);
  expect(p.status?.earliestRestoreTime).toBeDefined();
  // "0 3 * * 0": the next Sunday 03:00 UTC.
  const next = new Date(p.status!.nextBackupTime!);
  expect([next.getUTCDay(), next.getUTCHours(), next.getUTCMinutes()]).toEqual([0, 3, 0]);
  expect(next.getTime()).toBeGreaterThan(Date.now());
  expect((await writesSince(t0)).filter((w) => w.startsWith('PATCH'))).toEqual([expect.stringMatching(/flexibleServers\/bp-pg-1$/)]);

  const t1 = new Date().toISOString();
  const rv = (await getJson<{ metadata: { resourceVersion: string } }>(['get', 'backuppolicies.tenantdb.io', 'compliance-db-backups', '-n', h.ns]))!.metadata.resourceVersion;
  for (const v of ['1', '2']) {
    await run(['annotate', '--overwrite', 'backuppolicies.tenantdb.io', 'compliance-db-backups', '-n', h.ns, `test/nudge=${v}`]);
    await new Promise((r) => setTimeout(r, 1_500));
  }
  expect(await writesSince(t1)).toEqual([]);
  expect((await control.requests(t1)).counts.read).toBeGreaterThanOrEqual(2);
  // No status write either: only the two annotation updates moved the resourceVersion.
  const after = await getJson<{ metadata: { resourceVersion: string }; status: unknown }>(['get', 'backuppolicies.tenantdb.io', 'compliance-db-backups', '-n', h.ns]);
  expect(JSON.stringify(after!.status)).toBe(JSON.stringify(p.status));
  expect(after!.metadata.resourceVersion).not.toBe(rv);
}, 120_000);

test('on-demand backups on request; keep 2 deletes only the operator\'s oldest, never a hand-made one', async () => {
  await h.clients.postgres.backupsAutomaticAndOnDemand.beginCreateAndWait(RG, 'bp-pg-1', 'hand-made-backup', { updateIntervalInMs: 100 });
  const prefix = backupPrefix(h.ns, 'compliance-db-backups');
  const made: string[] = [];
  for (const v of ['a', 'b', 'c']) {
    await run(['annotate', '--overwrite', 'backuppolicies.tenantdb.io', 'compliance-db-backups', '-n', h.ns, `tenantdb.io/run-backup=${v}`]);
    const p = await eventually(`backup ${v} done`, async () => {
      const o = await getPolicy('compliance-db-backups');
      return o?.status?.handledBackupRequest === v && o.status.lastBackup?.state === 'Succeeded' ? o : undefined;
    }, 60_000);
    expect(p.status!.lastBackup!.name.startsWith(prefix)).toBe(true);
    made.push(p.status!.lastBackup!.name);
    await new Promise((r) => setTimeout(r, 1_100)); // backup names carry the second
  }
  const expected = ['hand-made-backup', made[1]!, made[2]!].sort();
  await eventually('oldest of ours deleted', async () => JSON.stringify(await ourBackups('bp-pg-1')) === JSON.stringify(expected), 30_000);
  const events = await run(['get', 'events', '-n', h.ns, '-o', 'json']);
  expect(events).toContain(`on-demand backup ${made[0]} deleted (keep 2)`);
}, 180_000);

test('geo-redundancy mismatch is reported; a second policy for the same database stands by', async () => {
  await serverAndDatabase(h, { rg: RG, server: 'bp-pg-2', td: 'bp-db2' });
  const geo = example('bp-db2');
  geo.metadata.name = 'geo-policy';
  geo.spec.geoRedundant = true;
  delete geo.spec.onDemand;
  await apply(geo);
  const stalled = await eventually('geo Stalled', async () => (cond(await getPolicy('geo-policy'), 'Stalled')?.status === 'True' ? cond(await getPolicy('geo-policy'), 'Stalled') : undefined), 60_000);
  expect(stalled).toMatchObject({ reason: 'GeoRedundancyMismatch' });
  expect(stalled!.message).toMatch(/geoRedundant true .* disabled/);

  const second = example('bp-db');
  second.metadata.name = 'second-policy';
  second.spec.retentionDays = 14;
  await apply(second);
  const c = await eventually('second Stalled', async () => {
    const s = cond(await getPolicy('second-policy'), 'Stalled');
    return s?.status === 'True' ? s : undefined;
  });
  expect(c).toMatchObject({ reason: 'ConflictingPolicy' });
  expect((await h.clients.postgres.servers.get(RG, 'bp-pg-1')).backup?.backupRetentionDays).toBe(35);
}, 120_000);

test('suspend pauses the schedule (no next backup time) but keeps retention', async () => {
  const doc = example('bp-db');
  doc.spec.suspend = true;
  await apply(doc);
  const p = await eventually('suspended', async () => {
    const o = await getPolicy('compliance-db-backups');
    return o?.status?.observedGeneration === o?.metadata.generation && o?.status?.nextBackupTime === undefined ? o : undefined;
  });
  expect(cond(p, 'Ready')?.status).toBe('True');
});
