// Step 1: backup retention, the policy's to write. The server comes from its resource group's shared
// list; the PATCH is a recorded operation (status.operation) polled once per pass and resumed after a
// restart, and a new one goes out only with none in flight and the server Ready. Geo-redundancy is
// fixed at creation: reported, never written.
import { armCall, beginOperation, paceOperation, pollDelay, resumeOperation, serversOf, type OperationRecord } from '../../src/azure/arm/index.js';
import { POLL_MS, type PolicyPass } from './pass.js';

/** The recorded PATCH in flight after looking at it once (undefined when it ended). */
async function operationInFlight(p: PolicyPass): Promise<OperationRecord | undefined> {
  const recorded = p.ctx.status.operation;
  if (!recorded) return undefined;
  const r = await resumeOperation(p.scope, recorded);
  if (r.state === 'early') {
    p.requeues.push(r.waitMs);
    return recorded as OperationRecord;
  }
  if (r.state === 'running') {
    paceOperation(r.record, pollDelay(r.retryAfterMs));
    p.requeues.push(pollDelay(r.retryAfterMs));
    return r.record;
  }
  if (r.state === 'retry') {
    p.extra.operation = recorded;
    throw r.error;
  }
  if (r.state === 'gone' && r.rejected) await p.ctx.event('Warning', 'OperationRecordRejected', r.rejected, 'Update');
  if (r.state === 'failed') {
    // The retention still differs: the next PATCH goes out on this pass, as a new operation.
    await p.ctx.event('Warning', 'RetentionUpdateFailed', `backup retention change of ${p.server.serverName} failed: ${r.error.code}: ${r.error.message}`.slice(0, 1000), 'Update');
  }
  return undefined;
}

export async function retention(p: PolicyPass): Promise<void> {
  const { ctx, clients, server, extra } = p;
  const spec = ctx.spec;
  let operation = await operationInFlight(p);
  const rg = server.resourceGroup;
  const s = (await serversOf(clients, rg).get(server.serverName)) ?? (await armCall((o) => clients.postgres.servers.get(rg, server.serverName, o)));
  const days = s.backup?.backupRetentionDays;
  if (s.backup?.earliestRestoreDate) extra.earliestRestoreTime = new Date(s.backup.earliestRestoreDate).toISOString();
  if (days !== undefined) extra.retentionDays = days;
  let pending = operation !== undefined;
  if (!operation && days !== spec.retentionDays) {
    pending = true;
    if (s.state === 'Ready') {
      const r = await beginOperation(p.scope, 'servers.update', server.serverName, { backup: { backupRetentionDays: spec.retentionDays } });
      if (!r.done) operation = r.record;
      ctx.log.info({ from: days, to: spec.retentionDays }, 'backup retention updated');
      await ctx.event('Normal', 'RetentionUpdated', `backup retention of server ${server.serverName}: ${days ?? 'unset'} → ${spec.retentionDays} days`, 'Update');
    }
    p.requeues.push(POLL_MS);
  }
  extra.operation = operation ?? null;
  p.retention = { pending, geoRedundant: s.backup?.geoRedundantBackup === 'Enabled', serverState: s.state };
}
