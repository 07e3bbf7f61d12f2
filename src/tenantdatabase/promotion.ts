// Which server is a TenantDatabase's primary once its spec asked for a promotion (issue 18). The spec
// decides which server may be it (spec.server.azure.promotion names one of the read replicas) and ARM
// confirms it (that server reports itself a primary, not a replica, and carries the owner tag naming
// this TenantDatabase); status never decides it. Until ARM confirms, the primary is spec.server.azure.name.
import type { Server } from '@azure/arm-postgresql-flexible';
import type { AzureServerSpec } from '../api/tenantdatabase.js';

/** Roles ARM gives a server that replicates from another (KnownReplicationRole; older API versions' names too). */
const REPLICA_ROLES = new Set(['asyncreplica', 'geoasyncreplica', 'secondary', 'syncreplica', 'walreplica']);

/** The server replicates from another, as ARM reports it. */
export function isReplicaServer(s: Server): boolean {
  const role = (s.replica?.role ?? s.replicationRole ?? '').toLowerCase();
  return REPLICA_ROLES.has(role) || (s.sourceServerResourceId !== undefined && s.sourceServerResourceId !== '');
}

/** ARM reports `s` as a primary (or a server of its own) and tags it as held by `owner`. */
export function confirmedPrimary(s: Server | undefined, owner: string, ownerTag: string): boolean {
  if (!s || s.tags?.[ownerTag] !== owner) return false;
  const role = (s.replica?.role ?? s.replicationRole ?? '').toLowerCase();
  return (role === 'primary' || role === 'none') && !isReplicaServer(s);
}

/** The replica the spec asks to promote, if any: the only server besides spec.name that may become the primary. */
export function promotionTarget(az: Pick<AzureServerSpec, 'promotion'>): string | undefined {
  return az.promotion?.replica;
}

/** The name of the primary: the promoted replica once ARM confirms it (`read` looks a server up), else the spec's server. */
export async function primaryServerName(az: Pick<AzureServerSpec, 'name' | 'promotion'>, owner: string, ownerTag: string, read: (name: string) => Promise<Server | undefined>): Promise<string> {
  const target = promotionTarget(az);
  if (!target) return az.name;
  return confirmedPrimary(await read(target), owner, ownerTag) ? target : az.name;
}
