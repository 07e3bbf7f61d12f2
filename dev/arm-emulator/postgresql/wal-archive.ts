// Continuous WAL archiving of every emulated primary, as Azure keeps the log of a Flexible Server for
// point-in-time restore: archive_mode on, archive_command compressing each completed segment into the
// server's own archive folder (<serverDir>/backups/wal), and archive_timeout forcing a segment switch
// at least that often when anything was written. archive_timeout is the emulator's RPO for a source
// whose PostgreSQL is gone; with the source running, a restore first closes the current segment (as
// Azure's continuous log shipping has the newest log at hand), so nothing before the restore point is lost.
import fs from 'node:fs';
import path from 'node:path';
import type pg from 'pg';

/** Seconds between forced segment switches (env TENANTDB_EMULATOR_ARCHIVE_TIMEOUT overrides; 300 = Azure's 5 min). */
export function archiveTimeoutSeconds(): number {
  const v = Number(process.env.TENANTDB_EMULATOR_ARCHIVE_TIMEOUT ?? 300);
  return Number.isInteger(v) && v > 0 ? v : 300;
}

export function backupsDir(serverDir: string): string {
  return path.join(serverDir, 'backups');
}

export function walArchiveDir(serverDir: string): string {
  return path.join(backupsDir(serverDir), 'wal');
}

/** PostgreSQL runs as nobody when the emulator is root; it must write the archive, and restores read it. */
function ownForPostgres(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  if (process.getuid?.() === 0) fs.chownSync(dir, 65534, 65534);
}

const q = (p: string) => `'${p.replace(/'/g, `'\\''`)}'`;

/** Server settings that archive into the server's folder. */
export function archiveSettings(serverDir: string): Record<string, string> {
  ownForPostgres(backupsDir(serverDir));
  const dir = walArchiveDir(serverDir);
  ownForPostgres(dir);
  const tmp = `${dir}/%f.gz.tmp`;
  return {
    archive_mode: 'on',
    // Written under a temporary name and renamed, so a reader never sees half a segment.
    archive_command: `gzip -c %p > ${q(tmp)} && mv ${q(tmp)} ${q(`${dir}/%f.gz`)}`,
    archive_timeout: String(archiveTimeoutSeconds()),
  };
}

/** restore_command reading another server's archive (the restore source's). */
export function restoreCommand(sourceServerDir: string): string {
  const dir = walArchiveDir(sourceServerDir);
  return `gunzip -c ${q(`${dir}/%f.gz`)} > %p`;
}

/**
 * Closes the segment being written (after a commit, so a recovery target up to now is reachable) and
 * waits until the archiver has stored it. Returns the segment name.
 */
export async function archiveUpToNow(client: pg.Client, timeoutMs = 60_000): Promise<string> {
  await client.query("SET log_statement = 'none'");
  await client.query('SELECT txid_current()');
  const r = await client.query<{ seg: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS seg');
  const seg = r.rows[0]!.seg;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const a = await client.query<{ last: string | null; failed: string | null }>('SELECT last_archived_wal AS last, last_failed_wal AS failed FROM pg_stat_archiver');
    const last = a.rows[0]?.last;
    if (last && last.slice(8) >= seg.slice(8)) return seg;
    if (Date.now() > deadline) throw new Error(`WAL segment ${seg} was not archived within ${timeoutMs} ms (last archived ${last ?? 'none'}, last failed ${a.rows[0]?.failed ?? 'none'})`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

/** Time the newest archived segment was stored: nothing committed after it is in the archive. */
export function newestArchiveTime(serverDir: string): Date | undefined {
  let newest = 0;
  try {
    for (const f of fs.readdirSync(walArchiveDir(serverDir))) {
      if (!/^[0-9A-F]{24}\.gz$/.test(f)) continue;
      newest = Math.max(newest, fs.statSync(path.join(walArchiveDir(serverDir), f)).mtimeMs);
    }
  } catch {
    return undefined;
  }
  return newest > 0 ? new Date(newest) : undefined;
}

/** Deletes archived segments older than `oldestNeeded` (a segment name); history files stay. */
export function purgeWalBefore(serverDir: string, oldestNeeded: string): number {
  let n = 0;
  const dir = walArchiveDir(serverDir);
  let files: string[];
  try {
    files = fs.readdirSync(dir);
  } catch {
    return 0;
  }
  for (const f of files) {
    const m = /^([0-9A-F]{24})\.gz$/.exec(f);
    // Compared without the timeline: a segment before the oldest base backup is useless on any timeline.
    if (m && m[1]!.slice(8) < oldestNeeded.slice(8)) {
      fs.rmSync(path.join(dir, f), { force: true });
      n++;
    }
  }
  return n;
}
