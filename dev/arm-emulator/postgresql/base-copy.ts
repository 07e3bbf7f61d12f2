// A base copy of a running PostgreSQL data directory without stopping it, with the low-level API the
// PostgreSQL manual documents for base backups ("Making a Base Backup Using the Low Level API"):
// pg_backup_start → copy the files → pg_backup_stop → write its backup_label into the copy, plus the WAL
// up to the backup's end (kept by a replication slot, since the harness has no pg_basebackup or archive).
// With `fromArchive` it is a base backup for the WAL archive instead (base-backups.ts): no WAL copied.
// Started as is, the copy recovers to a consistent state at the end of the copied WAL (PointInTimeRestore);
// with standby.signal and primary_conninfo it becomes a streaming replica that continues from the slot.
import fs from 'node:fs';
import path from 'node:path';
import type pg from 'pg';

/** Entries the manual says to leave out of a base backup (recreated or meaningless on the copy). */
const SKIP_TOP = new Set(['postmaster.pid', 'postmaster.opts', 'pg_wal', 'pg_replslot', 'pg_stat_tmp', 'pg_dynshmem', 'pg_notify', 'pg_serial', 'pg_snapshots', 'pg_subtrans', 'standby.signal', 'recovery.signal', 'backup_label', 'tablespace_map']);
const EMPTY_DIRS = ['pg_wal', 'pg_replslot', 'pg_stat_tmp', 'pg_dynshmem', 'pg_notify', 'pg_serial', 'pg_snapshots', 'pg_subtrans', 'pg_wal/archive_status'];

/** Copies a tree whose files may change or vanish meanwhile (the backup protocol makes that safe). */
function copyTree(from: string, to: string, top: boolean): void {
  fs.mkdirSync(to, { recursive: true, mode: 0o700 });
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(from, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  for (const e of entries) {
    if (top && SKIP_TOP.has(e.name)) continue;
    if (e.name === 'pg_internal.init' || e.name.startsWith('pgsql_tmp')) continue;
    const src = path.join(from, e.name);
    const dst = path.join(to, e.name);
    try {
      if (e.isDirectory()) copyTree(src, dst, false);
      else if (e.isFile()) fs.copyFileSync(src, dst);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

/**
 * Copies `sourceDataDir` (served by the instance `client` is connected to as superuser) into `targetDataDir`.
 * With `slotName`, a permanent physical slot of that name is created first and stays for the replica;
 * without, a temporary slot holds the WAL for the duration of the copy only.
 */
export async function copyRunningDataDir(
  client: pg.Client,
  sourceDataDir: string,
  targetDataDir: string,
  slotName?: string,
  opts: { fromArchive?: boolean } = {},
): Promise<string> {
  await client.query("SET log_statement = 'none'");
  // A base backup for the WAL archive needs no slot: pg_backup_stop(true) waits until the WAL the
  // backup needs is archived, and restores read it from there.
  if (slotName) await client.query('SELECT pg_create_physical_replication_slot($1, true)', [slotName]);
  else if (!opts.fromArchive) await client.query('SELECT pg_create_physical_replication_slot($1, true, true)', [`copy_${process.pid}_${Date.now()}`]);
  await client.query("SELECT pg_backup_start('tenantdb-emulator', true)");
  let label: string;
  try {
    copyTree(sourceDataDir, targetDataDir, true);
  } finally {
    const res = await client.query<{ labelfile: string }>(`SELECT labelfile FROM pg_backup_stop(${opts.fromArchive ? 'true' : 'false'})`);
    label = res.rows[0]!.labelfile;
  }
  for (const d of EMPTY_DIRS) fs.mkdirSync(path.join(targetDataDir, d), { recursive: true, mode: 0o700 });
  if (opts.fromArchive) {
    fs.writeFileSync(path.join(targetDataDir, 'backup_label'), label);
    return label;
  }
  // Closes the WAL segment holding the backup's end so the copy below contains it complete.
  await client.query('SELECT pg_switch_wal()');
  const walFrom = path.join(sourceDataDir, 'pg_wal');
  for (const f of fs.readdirSync(walFrom)) {
    if (!/^[0-9A-F]{24}$/.test(f) && !f.endsWith('.history')) continue;
    try {
      fs.copyFileSync(path.join(walFrom, f), path.join(targetDataDir, 'pg_wal', f));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  fs.writeFileSync(path.join(targetDataDir, 'backup_label'), label);
  return label;
}
