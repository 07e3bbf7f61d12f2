// Point-in-time restore as Azure does it: the newest base backup that ended before the restore point,
// copied into the new server's data directory, then the source's archived WAL replayed up to
// recovery_target_time and promoted to a new independent primary (a new timeline).
import fs from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { ArmError } from '../framework/errors.js';
import { baseBackupFor } from './base-backups.js';
import { archiveUpToNow, newestArchiveTime, restoreCommand } from './wal-archive.js';

/** Settings the restored server starts with until it has promoted; dropped afterwards. */
export const RECOVERY_SETTINGS = ['restore_command', 'recovery_target_time', 'recovery_target_action', 'recovery_target_timeline'] as const;

/**
 * Prepares `targetDataDir` for a restore of the source at `pointInTime`; returns the recovery settings
 * to start it with. `sourceClient` (superuser on the running source, or undefined when its PostgreSQL is
 * not running) is used to archive the WAL up to now first.
 */
export async function prepareRestore(o: { sourceServerDir: string; sourceClient: pg.Client | undefined; targetDataDir: string; pointInTime: Date }): Promise<Record<string, string>> {
  const base = baseBackupFor(o.sourceServerDir, o.pointInTime);
  if (!base) {
    throw new ArmError(400, 'InvalidParameterValue', `No backup of the source server covers ${o.pointInTime.toISOString()}; choose a later restore point.`, 'properties.pointInTimeUTC');
  }
  if (o.sourceClient) await archiveUpToNow(o.sourceClient);
  fs.rmSync(o.targetDataDir, { recursive: true, force: true });
  fs.cpSync(path.join(base.dir, 'data'), o.targetDataDir, { recursive: true });
  fs.chmodSync(o.targetDataDir, 0o700); // PostgreSQL refuses a data directory others can read
  fs.writeFileSync(path.join(o.targetDataDir, 'recovery.signal'), '');
  const settings: Record<string, string> = {
    restore_command: restoreCommand(o.sourceServerDir),
    recovery_target_action: 'promote',
    recovery_target_timeline: 'current',
  };
  // A point past everything archived (source down, so the newest log never got here) replays all there
  // is: that gap is the data loss, bounded by archive_timeout.
  const archived = newestArchiveTime(o.sourceServerDir);
  // ARM's restore point has millisecond precision, commit timestamps microseconds: the point covers its whole
  // millisecond, or a commit made in the same millisecond as a "restore to now" request would be left out.
  if (o.sourceClient || (archived && archived.getTime() > o.pointInTime.getTime())) settings.recovery_target_time = o.pointInTime.toISOString().replace('T', ' ').replace('Z', '999+00');
  return settings;
}

/** Waits until the restored server has finished recovery and promoted. */
export async function waitForPromotion(query: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (await query()) {
    if (Date.now() > deadline) throw new Error(`the restored server did not finish recovery within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
