// Real point-in-time restore in the emulator: every server archives its WAL and has a base backup from
// its creation (and one per on-demand backup); a PointInTimeRestore replays the archive to
// pointInTimeUTC, so a restore to a time between two writes holds the first and not the second, and the
// restored server is an independent, writable primary with base backups of its own.
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { Server } from '@azure/arm-postgresql-flexible';
import { earliestRestorePoint, listBaseBackups, purgeBackups } from '../../dev/arm-emulator/postgresql/base-backups.js';
import { walArchiveDir } from '../../dev/arm-emulator/postgresql/wal-archive.js';
import { FAST, LOCATION, createResourceGroup, startHarness, type Harness } from './fixtures.js';

const RG = 'rg-pitr';
const ADMIN = 'pitradmin';
const PASSWORD = 'Pitr-Passw0rd!';

let h: Harness;
let source: Server;

async function connect(server: Server): Promise<pg.Client> {
  const fqdn = server.fullyQualifiedDomainName!;
  const target = (JSON.parse(fs.readFileSync(h.emu.hostsFile, 'utf8')) as Record<string, { host: string; port: number }>)[fqdn]!;
  const c = new pg.Client({ host: target.host, port: target.port, user: ADMIN, password: PASSWORD, database: 'postgres', ssl: { ca: h.caPem, servername: fqdn } });
  await c.connect();
  return c;
}

async function rows(server: Server): Promise<string[]> {
  const c = await connect(server);
  try {
    return (await c.query<{ v: string }>('SELECT v FROM writes ORDER BY v')).rows.map((r) => r.v);
  } finally {
    await c.end();
  }
}

/** The emulator's folder of one server (it holds data/ and backups/). */
const serverDir = (name: string) => {
  const found = fs.readdirSync(path.join(h.emu.ctx.stateDir), { recursive: true, withFileTypes: false }) as string[];
  const hit = found.find((p) => p.endsWith(path.join(name, 'backups')));
  if (!hit) throw new Error(`no backup folder for ${name}`);
  return path.join(h.emu.ctx.stateDir, path.dirname(hit));
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  h = await startHarness('pitr');
  await createResourceGroup(h, RG);
  source = await h.client.servers.beginCreateOrUpdateAndWait(
    RG,
    'pitr-source',
    { location: LOCATION, sku: { name: 'Standard_B1ms', tier: 'Burstable' }, administratorLogin: ADMIN, administratorLoginPassword: PASSWORD, version: '17' },
    FAST,
  );
}, 120_000);

afterAll(async () => {
  await h?.stop();
});

test('a new server has a base backup from its creation and archives WAL; earliestRestoreDate is its end', async () => {
  const dir = serverDir('pitr-source');
  const backups = listBaseBackups(dir);
  expect(backups).toHaveLength(1);
  const got = await h.client.servers.get(RG, 'pitr-source');
  expect(got.backup?.earliestRestoreDate?.toISOString()).toBe(backups[0]!.stoppedAt.toISOString());
  expect(fs.readdirSync(walArchiveDir(dir)).filter((f) => f.endsWith('.gz')).length).toBeGreaterThan(0);
});

test('restore to a time between two writes finds the first and not the second', async () => {
  const c = await connect(source);
  let between: Date;
  try {
    await c.query('CREATE TABLE writes (v text)');
    await c.query("INSERT INTO writes VALUES ('first')");
    await sleep(1_000);
    between = new Date();
    await sleep(1_000);
    await c.query("INSERT INTO writes VALUES ('second')");
  } finally {
    await c.end();
  }
  const t0 = Date.now();
  const copy = await h.client.servers.beginCreateOrUpdateAndWait(
    RG,
    'pitr-copy',
    { location: LOCATION, createMode: 'PointInTimeRestore', sourceServerResourceId: source.id!, pointInTimeUTC: between },
    FAST,
  );
  const restoreMs = Date.now() - t0;
  console.log(`point-in-time restore took ${restoreMs} ms`);
  expect(copy.state).toBe('Ready');
  expect(await rows(copy)).toEqual(['first']);
  expect(await rows(source)).toEqual(['first', 'second']);

  // An independent primary: writable, archiving, with a base backup of its own.
  const cc = await connect(copy);
  try {
    expect((await cc.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0]!.r).toBe(false);
    await cc.query("INSERT INTO writes VALUES ('copy')");
    expect((await cc.query<{ s: string | null }>("SELECT current_setting('restore_command') AS s")).rows[0]!.s).toBe('');
  } finally {
    await cc.end();
  }
  expect(listBaseBackups(serverDir('pitr-copy'))).toHaveLength(1);
}, 120_000);

test('restore to now holds the newest write; an on-demand backup is a base backup of its own', async () => {
  const c = await connect(source);
  try {
    await c.query("INSERT INTO writes VALUES ('third')");
  } finally {
    await c.end();
  }
  const copy = await h.client.servers.beginCreateOrUpdateAndWait(
    RG,
    'pitr-latest',
    { location: LOCATION, createMode: 'PointInTimeRestore', sourceServerResourceId: source.id!, pointInTimeUTC: new Date() },
    FAST,
  );
  expect(await rows(copy)).toEqual(['first', 'second', 'third']);

  await h.client.backupsAutomaticAndOnDemand.beginCreateAndWait(RG, 'pitr-source', 'manual-1', FAST);
  expect(listBaseBackups(serverDir('pitr-source'))).toHaveLength(2);
}, 120_000);

test('a restore point before the oldest base backup is refused', async () => {
  const got = await h.client.servers.get(RG, 'pitr-source');
  const before = new Date(got.backup!.earliestRestoreDate!.getTime() - 60_000);
  await expect(
    h.client.servers.beginCreateOrUpdateAndWait(RG, 'pitr-too-early', { location: LOCATION, createMode: 'PointInTimeRestore', sourceServerResourceId: source.id!, pointInTimeUTC: before }, FAST),
  ).rejects.toMatchObject({ statusCode: 400 });
});

test('retention purges base backups older than the window (keeping the newest of those) and the WAL before the oldest kept', () => {
  const dir = fs.mkdtempSync(path.join(h.emu.ctx.stateDir, 'purge-'));
  const now = new Date('2026-03-20T00:00:00Z');
  const mk = (name: string, stopped: string, startWal: string) => {
    const d = path.join(dir, 'backups', 'base', name);
    fs.mkdirSync(path.join(d, 'data'), { recursive: true });
    fs.writeFileSync(path.join(d, 'backup.json'), JSON.stringify({ name, startedAt: stopped, stoppedAt: stopped, startWal }));
  };
  mk('a', '2026-03-01T00:00:00Z', '000000010000000000000002');
  mk('b', '2026-03-05T00:00:00Z', '000000010000000000000005');
  mk('c', '2026-03-15T00:00:00Z', '000000010000000000000009');
  fs.mkdirSync(walArchiveDir(dir), { recursive: true });
  for (const n of [2, 3, 5, 6, 9]) fs.writeFileSync(path.join(walArchiveDir(dir), `00000001000000000000000${n}.gz`), '');
  fs.writeFileSync(path.join(walArchiveDir(dir), '00000002.history.gz'), '');
  // 7 days: the window starts 13 March; b is the newest before it and stays, a goes.
  expect(purgeBackups(dir, 7, now)).toEqual(['a']);
  expect(listBaseBackups(dir).map((b) => b.name)).toEqual(['b', 'c']);
  expect(earliestRestorePoint(dir)?.toISOString()).toBe('2026-03-05T00:00:00.000Z');
  expect(fs.readdirSync(walArchiveDir(dir)).sort()).toEqual(['000000010000000000000005.gz', '000000010000000000000006.gz', '000000010000000000000009.gz', '00000002.history.gz']);
});
