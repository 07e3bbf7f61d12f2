// deletionPolicy Delete: the servers this object created go (replicas first, as ARM reports them: a source
// with replicas cannot go), one delete per pass, never a server it adopted or another object's.
import type { Server } from '@azure/arm-postgresql-flexible';
import { beginOperation, DEFAULT_POLL_MS } from '../../../src/azure/arm/index.js';
import { isReplicaServer } from '../../../src/tenantdatabase/promotion.js';
import { classifyArmError } from '../../../src/azure/errors.js';
import type { ServerPart, TenantDatabaseContext } from '../context.js';
import { ORIGIN_TAG, ownerValue, ownershipOf } from './desired.js';
import { getServer } from './pass.js';
import { authorisedClients } from './scope.js';

type Finalized = Awaited<ReturnType<ServerPart['finalize']>>;

export async function deleteCreatedServers(ctx: TenantDatabaseContext): Promise<Finalized> {
  const az = ctx.spec.server.azure!;
  if (ctx.spec.deletionPolicy !== 'Delete') return { done: true };
  ctx.log.info({ server: az.name }, 'deletionPolicy Delete: removing the servers this object created');
  const creds = await authorisedClients(ctx, az);
  if (creds.problem?.reason === 'ScopeNotAllowed') {
    // Outside what the policy grants nothing is done with the operator's identity, deletion included:
    // the servers stay (as with Retain) rather than the object staying forever.
    await ctx.event('Warning', 'ScopeNotAllowed', `not deleting server ${az.name}: ${creds.problem.message}`);
    return { done: true };
  }
  if (!creds.clients) return { done: false, requeueAfterMs: 30_000, message: creds.problem?.message };
  const clients = creds.clients;
  const owner = ownerValue(ctx.namespace, ctx.name);
  const rg = az.resourceGroup;
  try {
    const names = [...(az.readReplicas ?? []).map((r) => r.name), az.name];
    const passStart = Date.now();
    const found: { name: string; s: Server }[] = [];
    for (const name of names) {
      // Deletion looks at the real state: a list that started during this pass, a GET for an absence.
      const s = await getServer(clients, rg, name, true, passStart);
      if (s) found.push({ name, s });
    }
    // Replicas first, as ARM reports them: after a switchover the old primary is the replica.
    found.sort((a, b) => Number(isReplicaServer(b.s)) - Number(isReplicaServer(a.s)));
    for (const { name, s } of found) {
      const own = ownershipOf(s.tags, owner);
      if (own.kind !== 'ours' || own.origin !== 'created' || s.tags?.[ORIGIN_TAG] !== 'created') {
        ctx.log.info({ server: name, ownership: own.kind }, 'not deleting a server the operator did not create');
        continue;
      }
      if (s.state === 'Dropping') return { done: false, requeueAfterMs: DEFAULT_POLL_MS, message: `waiting for ${name} to be deleted` };
      await beginOperation({ clients, resourceGroup: rg, server: name }, 'servers.delete', name);
      await ctx.event('Normal', 'Deleting', `deleting server ${name} (deletionPolicy Delete)`);
      return { done: false, requeueAfterMs: DEFAULT_POLL_MS, message: `deleting ${name}` };
    }
    return { done: true };
  } catch (err) {
    const e = classifyArmError(err);
    ctx.log.info({ code: e.code }, 'server deletion not done yet');
    // A failure, not a wait: retried with growing delays (at least what ARM's Retry-After asks).
    return { done: false, failed: true, ...(e.retryAfterMs ? { requeueAfterMs: e.retryAfterMs } : {}), message: `${e.code}: ${e.message}` };
  }
}
