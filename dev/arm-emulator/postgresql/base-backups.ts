// Base backups of an emulated server, kept beside its data (<serverDir>/backups/base/<name>/): one at
// creation and one per on-demand backup, each a copy made with the low-level backup API while the server
// runs (base-copy.ts; the embedded binaries have no pg_basebackup) plus its backup_label and the time it
// ended. A point-in-time restore starts from the newest one that ended before the restore point and
// replays archived WAL (wal-archive.ts). Retention purges backups older than the window (keeping the
// newest of those, which a restore to the window's start needs) and the WAL before the oldest kept one;
// the server's earliestRestoreDate is the end of the oldest kept backup.
import fs from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { copyRunningDataDir } from './base-copy.js';
import { backupsDir, purgeWalBefore } from './wal-archive.js';

export interface BaseBackup {
  name: string;
  dir: string;
  startedAt: Date;
  stoppedAt: Date;
  /** First WAL segment the backup needs (START WAL LOCATION of its label). */
  startWal: string;
}

function baseDir(serverDir: string): string {
  return path.join(backupsDir(serverDir), 'base');
}

function stamp(d: Date): string {
  return d.toISOString().replace(/[-:.]/g, '');
}

/** Takes a base backup of the running server (`client`: superuser session on it) into its backup folder. */
export async function takeBaseBackup(client: pg.Client, dataDir: string, serverDir: string, retentionDays: number): Promise<BaseBackup> {
  const startedAt = new Date();
  const name = stamp(startedAt);
  const dir = path.join(baseDir(serverDir), name);
  const label = await copyRunningDataDir(client, dataDir, path.join(dir, 'data'), undefined, { fromArchive: true });
  const startWal = /START WAL LOCATION: \S+ \(file ([0-9A-F]{24})\)/.exec(label)?.[1];
  if (!startWal) throw new Error('base backup label names no start WAL segment');
  const meta = { name, startedAt: startedAt.toISOString(), stoppedAt: new Date().toISOString(), startWal };
  fs.writeFileSync(path.join(dir, 'backup.json'), JSON.stringify(meta, null, 2) + '\n');
  purgeBackups(serverDir, retentionDays);
  return { ...meta, dir, startedAt, stoppedAt: new Date(meta.stoppedAt) };
}

export function listBaseBackups(serverDir: string): BaseBackup[] {
  let names: string[];
  try {
    names = fs.readdirSync(baseDir(serverDir));
  } catch {
    return [];
  }
  const out: BaseBackup[] = [];
  for (const n of names) {
    const dir = path.join(baseDir(serverDir), n);
    try {
      const m = JSON.parse(fs.readFileSync(path.join(dir, 'backup.json'), 'utf8')) as { name: string; startedAt: string; stoppedAt: string; startWal: string };
      out.push({ name: m.name, dir, startedAt: new Date(m.startedAt), stoppedAt: new Date(m.stoppedAt), startWal: m.startWal });
    } catch {
      // A backup without its metadata did not finish; it is not restorable.
    }
  }
  return out.sort((a, b) => a.stoppedAt.getTime() - b.stoppedAt.getTime());
}

/** The newest base backup that ended before `t`, undefined when there is none. */
export function baseBackupFor(serverDir: string, t: Date): BaseBackup | undefined {
  return listBaseBackups(serverDir)
    .filter((b) => b.stoppedAt.getTime() < t.getTime())
    .pop();
}

/** The earliest point a restore can reach: the end of the oldest base backup kept. */
export function earliestRestorePoint(serverDir: string): Date | undefined {
  return listBaseBackups(serverDir)[0]?.stoppedAt;
}

/** Applies retention: returns the names of the base backups removed. */
export function purgeBackups(serverDir: string, retentionDays: number, now = new Date()): string[] {
  const all = listBaseBackups(serverDir);
  const windowStart = now.getTime() - retentionDays * 86_400_000;
  const before = all.filter((b) => b.stoppedAt.getTime() < windowStart);
  // The newest backup before the window start is what a restore to the window's start replays from.
  const drop = before.slice(0, Math.max(0, before.length - 1));
  for (const b of drop) fs.rmSync(b.dir, { recursive: true, force: true });
  const oldest = all.find((b) => !drop.includes(b));
  if (oldest) purgeWalBefore(serverDir, oldest.startWal);
  return drop.map((b) => b.name);
}
