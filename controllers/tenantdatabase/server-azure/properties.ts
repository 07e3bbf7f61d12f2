// Step 5: the server's properties as one PATCH (serverPatch in desired.ts is the diff). Adoption writes
// the ownership tags through this same PATCH, and a changed administrator password Secret is applied
// here. Backup retention belongs to the BackupPolicy governing this database when there is one (the
// same rule the BackupPolicy controller uses: src/tenantdatabase/backup-owner.ts).
import { backupPolicyOwning } from '../../../src/tenantdatabase/index.js';
import type { ServerOutcome } from '../context.js';
import { begin } from './apply.js';
import { desiredTags, serverPatch } from './desired.js';
import { serverForTagWrite, type Pass } from './pass.js';
import type { Server } from '@azure/arm-postgresql-flexible';

/** Which BackupPolicy owns retention; one Warning per ignored spec value. */
async function retentionOwner(p: Pass): Promise<string | undefined> {
  const { ctx, az } = p;
  const bpOwner = backupPolicyOwning(ctx.mgr, ctx.namespace, ctx.name)?.metadata.name;
  p.st.backupRetentionOwner = bpOwner;
  const ignored = bpOwner && az.backup && az.backup.retentionDays !== p.server!.backup?.backupRetentionDays ? az.backup.retentionDays : undefined;
  if (ignored !== undefined && ignored !== p.st.backupRetentionIgnoredDays) {
    await ctx.event('Warning', 'BackupRetentionOwnedByPolicy', `BackupPolicy ${bpOwner} owns backup retention of ${az.name}; spec.server.azure.backup.retentionDays (${ignored}) is ignored`);
  }
  p.st.backupRetentionIgnoredDays = ignored;
  return bpOwner;
}

/**
 * The password to apply, if any. A server this object created follows its Secret: applied when the
 * Secret changed since last applied. A server it did not create (adopted) is never given a password
 * unless the spec asks (manageAdministratorPassword): then on adoption and on every change. Nothing a
 * tenant can put on the Secret (an annotation) makes the operator treat a password as its own.
 */
function passwordToApply(p: Pass): string | undefined {
  const pw = p.admin ?? {};
  const created = p.ownership?.kind === 'ours' && p.ownership.origin === 'created';
  if (!created && p.az.manageAdministratorPassword !== true) {
    // Not ours to set: no version is recorded, so asking for it later applies the Secret once.
    p.st.passwordSecretVersion = undefined;
    return undefined;
  }
  if (pw.password === undefined) return undefined;
  const last = p.st.passwordSecretVersion;
  const apply = last !== undefined ? last !== pw.version : !created;
  if (last === undefined && !apply) p.st.passwordSecretVersion = pw.version;
  return apply ? pw.password : undefined;
}

export async function properties(p: Pass): Promise<ServerOutcome | undefined> {
  const { az } = p;
  const bpOwner = await retentionOwner(p);
  const password = passwordToApply(p);
  const diffOf = (server: Server) =>
    serverPatch(az, server, { skipBackupRetention: bpOwner !== undefined, tags: desiredTags(az, server.tags, p.owner, p.st.origin ?? 'adopted'), ...(password !== undefined ? { adminPassword: password } : {}) });
  let diff = diffOf(p.server!);
  // The tags go as a whole map: built again from the server as it is now (serverForTagWrite).
  if (diff?.patch.tags) diff = diffOf(await serverForTagWrite(p));
  if (!diff) return undefined;
  if (password !== undefined) p.st.passwordSecretVersion = p.admin!.version;
  const verb = p.ownership?.kind === 'unowned' ? 'Adopting' : 'Updating';
  return begin(p, 'servers.update', az.name, diff.patch, verb, `${verb.toLowerCase()} server ${az.name}: ${diff.changed.join(', ')}`);
}
