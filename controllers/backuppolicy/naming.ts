// Names the BackupPolicy gives what it makes in Azure, so it recognises its own and never touches others.
import { createHash } from 'node:crypto';

function short(namespace: string | undefined, name: string): string {
  return createHash('sha256').update(`${namespace ?? ''}/${name}`).digest('hex').slice(0, 6);
}

function stamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

/** `tdbop-<policy>-<hash>-`: the policy name for people, the hash of namespace/name for uniqueness. */
export function backupPrefix(namespace: string | undefined, name: string): string {
  const readable = name.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 60);
  return `tdbop-${readable}-${short(namespace, name)}-`;
}

export function backupName(namespace: string | undefined, name: string, at: Date): string {
  return `${backupPrefix(namespace, name)}${stamp(at)}`;
}

export interface BackupLike {
  name?: string;
  completedTime?: Date | string;
}

/** Of the backups on the server, ours (by prefix), newest first; `keep` stay, the rest is returned for deletion. */
export function backupsToDelete<T extends BackupLike>(all: T[], prefix: string, keep: number): T[] {
  const ours = all.filter((b) => typeof b.name === 'string' && b.name.startsWith(prefix) && b.completedTime !== undefined);
  ours.sort((a, b) => new Date(b.completedTime!).getTime() - new Date(a.completedTime!).getTime() || String(b.name).localeCompare(String(a.name)));
  return ours.slice(keep);
}

/** Throw-away server of one drill run: <source>-drill-<run>, a valid server name (3-63, no trailing hyphen). */
export function drillServerName(source: string, runId: string): string {
  const tail = `-drill-${runId}`;
  return `${source.slice(0, 63 - tail.length).replace(/-+$/, '')}${tail}`;
}

export function newRunId(now: Date): string {
  return now.getTime().toString(36);
}
