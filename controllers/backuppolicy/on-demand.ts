// Step 3: on-demand backups on a UTC schedule or a new tenantdb.io/run-backup value (one catch-up after
// downtime), one write at a time (the server takes one write at once: not while retention changes or a
// restore runs), and `keep` of the policy's own kept: only backups named with its prefix are deleted.
// A backup is followed through the server's backups list (status.lastBackup).
import { armList, beginOperation } from '../../src/azure/arm/index.js';
import { backupName, backupPrefix, backupsToDelete } from './naming.js';
import { annotation, POLL_MS, type BackupRecord, type PolicyPass } from './pass.js';
import { decide } from '../../src/runtime/schedule.js';

export const RUN_BACKUP_ANNOTATION = 'tenantdb.io/run-backup';
/** An on-demand backup not visible after this long is reported Failed. */
const BACKUP_GIVE_UP_MS = 2 * 60 * 60_000;

type Listed = { name?: string; completedTime?: Date };

/** The backup started earlier: completed (in the list), given up on, or still running. */
async function follow(p: PolicyPass, last: BackupRecord, backups: Listed[]): Promise<void> {
  const { ctx, now, extra } = p;
  const found = backups.find((b) => b.name === last.name);
  if (found?.completedTime) {
    extra.lastBackup = { ...last, state: 'Succeeded', completedAt: new Date(found.completedTime).toISOString() };
    p.requeues.push(1_000); // keep-N next
    await ctx.event('Normal', 'BackupCompleted', `on-demand backup ${last.name} completed`, 'Backup');
  } else if (now.getTime() - Date.parse(last.startedAt ?? now.toISOString()) > BACKUP_GIVE_UP_MS) {
    extra.lastBackup = { ...last, state: 'Failed' };
    await ctx.event('Warning', 'BackupFailed', `on-demand backup ${last.name} did not complete within 2 h`, 'Backup');
  } else p.requeues.push(POLL_MS);
}

/** A backup due (and the server free) starts; else the oldest of ours beyond `keep` goes. */
async function startOrPrune(p: PolicyPass, schedule: string, keep: number, backups: Listed[]): Promise<void> {
  const { ctx, now, extra } = p;
  const { spec, status } = ctx;
  const ns = ctx.obj.metadata.namespace;
  const asked = annotation(ctx, RUN_BACKUP_ANNOTATION);
  const byAnnotation = asked !== undefined && asked !== status.handledBackupRequest;
  const sched = decide(schedule, status.nextBackupTime ? new Date(status.nextBackupTime) : undefined, now);
  extra.nextBackupTime = spec.suspend ? null : sched.next.toISOString();
  if (!spec.suspend) p.requeues.push(Math.max(1_000, sched.next.getTime() - now.getTime()));
  const retentionPending = p.retention?.pending ?? false;
  const busyDrill = p.drill?.result === 'Running' && p.drill.phase === 'Restoring';
  const excess = backupsToDelete(backups, backupPrefix(ns, ctx.name), keep);
  if ((byAnnotation || (sched.due && !spec.suspend)) && !retentionPending && !busyDrill) {
    if (byAnnotation) extra.handledBackupRequest = asked;
    const name = backupName(ns, ctx.name, now);
    await beginOperation(p.scope, 'backups.create', name);
    extra.lastBackup = { name, startedAt: now.toISOString(), state: 'Running' };
    ctx.log.info({ backup: name }, 'on-demand backup started');
    await ctx.event('Normal', 'BackupStarted', `on-demand backup ${name} started (${byAnnotation ? `annotation ${RUN_BACKUP_ANNOTATION}` : 'schedule'})`, 'Backup');
    p.requeues.push(POLL_MS);
  } else if ((byAnnotation || sched.due) && !spec.suspend) {
    // Due but the server is busy (retention change, restore): the run waits for the next pass.
    if (!byAnnotation) extra.nextBackupTime = status.nextBackupTime ?? sched.next.toISOString();
    p.requeues.push(POLL_MS);
  } else if (excess.length > 0 && !retentionPending) {
    const victim = excess[0]!;
    await beginOperation(p.scope, 'backups.delete', victim.name!);
    ctx.log.info({ backup: victim.name, keep }, 'old on-demand backup deleted');
    await ctx.event('Normal', 'BackupDeleted', `on-demand backup ${victim.name} deleted (keep ${keep})`, 'Backup');
    p.requeues.push(POLL_MS);
  }
}

export async function onDemandBackups(p: PolicyPass): Promise<void> {
  const onDemand = p.ctx.spec.onDemand;
  if (!onDemand) {
    p.extra.nextBackupTime = null;
    return;
  }
  const { resourceGroup: rg, serverName } = p.server;
  const backups: Listed[] = await armList((o) => p.clients.postgres.backupsAutomaticAndOnDemand.listByServer(rg, serverName, o));
  const last = p.ctx.status.lastBackup;
  if (last?.state === 'Running') await follow(p, last, backups);
  else await startOrPrune(p, onDemand.schedule, onDemand.keep, backups);
}
