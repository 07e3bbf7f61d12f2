// Step 9: read replicas. Missing ones are created, ours that left the spec deleted (replicasToDelete in
// desired.ts: only replicas this object created), and their state reported.
import { DEFAULT_POLL_MS, serversOf } from '../../../src/azure/arm/index.js';
import type { ServerOutcome } from '../context.js';
import { begin } from './apply.js';
import { desiredTags, replicaCreateBody, replicasToDelete } from './desired.js';
import { cachedList, cond, getServer, outcome, type Pass } from './pass.js';

type ReplicaStatus = { name: string; state?: string; fqdn?: string };

export async function replicas(p: Pass): Promise<ServerOutcome | undefined> {
  const { ctx, az, clients, owner } = p;
  const rg = az.resourceGroup;
  const replicaStatus: ReplicaStatus[] = [];
  for (const r of az.readReplicas ?? []) {
    const rs = await getServer(clients, rg, r.name, true);
    if (!rs) {
      const rtags = { ...desiredTags(az, undefined, owner, 'created'), 'tenantdb-replica-of': az.name };
      return begin(p, 'replicas.create', r.name, replicaCreateBody(az, r, p.server!.id!, rtags), 'Updating', `creating read replica ${r.name} (${r.location ?? az.location})`);
    }
    replicaStatus.push({ name: r.name, ...(rs.state ? { state: rs.state } : {}), ...(rs.fullyQualifiedDomainName ? { fqdn: rs.fullyQualifiedDomainName } : {}) });
  }
  p.fields.replicas = replicaStatus.length ? replicaStatus : null;
  // Replicas to delete can only exist when the spec lists replicas or status reported some before.
  if (az.readReplicas !== undefined || (ctx.status.replicas ?? []).length > 0) {
    const existing = await cachedList(p, 'replicas', (o) => clients.postgres.replicas.listByServer(rg, az.name, o));
    // The old primary after a promotion is never deleted here, whatever it replicates from.
    const gone = replicasToDelete(az, existing, owner).filter((n) => n !== p.primaryFrom)[0];
    if (gone) return begin(p, 'replicas.delete', gone, undefined, 'Updating', `deleting read replica ${gone}, not in the spec`);
  }
  const notReady = replicaStatus.find((r) => r.state !== 'Ready');
  if (!notReady) return undefined;
  serversOf(clients, rg).touch(notReady.name);
  return outcome(p, cond(false, 'Updating', `read replica ${notReady.name} is ${notReady.state ?? 'unknown'}`, false), { requeueAfterMs: DEFAULT_POLL_MS });
}
