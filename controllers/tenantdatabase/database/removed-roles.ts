// Login roles taken out of the spec lose access: found in PostgreSQL by the marker this object wrote on
// them when it created or adopted them (never from status or a Secret someone can edit), made NOLOGIN,
// their sessions ended, their privileges on the database and the owner's objects revoked, their
// connection Secret deleted. Dropped only with deletionPolicy Delete and only when this object created
// them; an adopted role stays. Once retired, a role costs one catalog read per pass and no write.
import type { PostgresConnections, DbTarget } from '../../../src/postgres/connections.js';
import { readRolesMarked } from '../../../src/postgres/database/catalog.js';
import type { RoleKind } from '../../../src/postgres/database/privileges.js';
import { dropRolesLeft, retireLogins, revokeInDatabase } from '../../../src/postgres/database/retire.js';
import { allRoleNames, type ManagedRoles, type StatementLog } from '../../../src/postgres/database/sync.js';
import type { TenantDatabaseContext } from '../context.js';
import { deleteSecret, secretNameFor } from './secrets.js';

export interface Markers {
  created: string;
  adopted: string;
}

export interface RetireInput {
  ctx: TenantDatabaseContext;
  conns: PostgresConnections;
  /** Targets as the administrator: the maintenance database and the tenant database. */
  server: DbTarget;
  inDatabase: DbTarget;
  roles: ManagedRoles;
  database: string;
  markers: Markers;
  log: StatementLog;
}

const LOGIN_KINDS: RoleKind[] = ['admin', 'analytics'];

/** Roles this object marked that the spec no longer names: retired, and dropped when Delete allows. */
export async function retireRemovedRoles(input: RetireInput): Promise<{ retired: string[]; dropped: string[] }> {
  const { ctx, conns, roles, log, markers } = input;
  // Connection Secrets of login kinds the spec no longer has (the application role is always there).
  for (const kind of LOGIN_KINDS) if (!roles[kind]) await deleteSecret(ctx, secretNameFor(ctx, kind));
  const wanted = new Set(allRoleNames(roles));
  const gone = (await conns.withClient(input.server, (c) => readRolesMarked(c, [markers.created, markers.adopted]))).filter((r) => !wanted.has(r.name));
  const removed = gone.map((r) => r.name);
  const created = gone.filter((r) => r.comment === markers.created).map((r) => r.name);
  if (!removed.length) return { retired: [], dropped: [] };
  const before = log.statements.length;
  await conns.withClient(input.server, (c) => retireLogins(c, removed, input.database, roles.owner, log));
  await conns.withClient(input.inDatabase, (c) => revokeInDatabase(c, removed, roles.owner, log));
  if (log.statements.length > before) await ctx.event('Normal', 'RolesRetired', `role(s) ${removed.join(', ')} are no longer in spec.roles: logins blocked, sessions ended, privileges revoked`);
  if (ctx.spec.deletionPolicy !== 'Delete' || !created.length) return { retired: removed, dropped: [] };
  const { dropped, kept } = await conns.withClient(input.server, (c) => dropRolesLeft(c, created, log));
  if (kept.length) ctx.log.info({ kept: kept.map((k) => k.name) }, 'removed roles not dropped yet: objects depend on them');
  if (dropped.length) await ctx.event('Normal', 'RolesDropped', `role(s) ${dropped.join(', ')} removed from spec.roles were dropped (created by this object, deletionPolicy Delete)`);
  return { retired: removed, dropped };
}
