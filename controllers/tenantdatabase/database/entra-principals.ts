// spec.entraPrincipals in the database part: which principals the spec asks for (checked against the spec
// before anything touches PostgreSQL), and their connection Secrets, which hold no password: a workload
// gets an access token for the token scope with its own identity and presents it as the password.
import type { EntraPrincipalWant } from '../../../src/postgres/database/entra-principals.js';
import type { ManagedRoles } from '../../../src/postgres/database/sync.js';
import { DATABASE_TOKEN_SCOPE } from '../../../src/azure/database-token.js';
import type { ServerConnection, TenantDatabaseContext } from '../context.js';
import { currentSecret, deleteSecret, ensureSecret, isOurs } from './secrets.js';

export type PrincipalWants = { ok: true; wants: EntraPrincipalWant[] } | { ok: false; reason: string; message: string };

/** The principals the spec asks for, or why the spec cannot have them. */
export function principalWants(ctx: TenantDatabaseContext, roles: ManagedRoles): PrincipalWants {
  const list = ctx.spec.entraPrincipals ?? [];
  if (!list.length) return { ok: true, wants: [] };
  if (ctx.spec.server.azure?.authentication?.entraAuth !== true) {
    return { ok: false, reason: 'EntraPrincipalsUnavailable', message: 'spec.entraPrincipals need a server on Azure with spec.server.azure.authentication.entraAuth: true' };
  }
  const wants: EntraPrincipalWant[] = [];
  for (const p of list) {
    // The migrations principal is a member of the owner role only (Migrations runAs: owner log in as it).
    const memberOf = p.access === 'migrations' ? roles.owner : roles[p.access];
    if (!memberOf) return { ok: false, reason: 'EntraPrincipalsUnavailable', message: `entra principal ${p.name} asks for ${p.access} access but spec.roles.${p.access} is not set` };
    wants.push({ name: p.name, objectId: p.objectId, type: p.type, memberOf });
  }
  return { ok: true, wants };
}

/** Connection Secret name of a principal: `<object>-entra-<principal>` made a valid Secret name. */
export function principalSecretName(ctx: TenantDatabaseContext, principal: string): string {
  const slug = principal.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '') || 'principal';
  return `${ctx.name}-entra-${slug}`.slice(0, 253).replace(/-+$/, '');
}

function principalData(conn: ServerConnection, database: string, user: string, caPem: string | undefined): Record<string, string> {
  const enc = encodeURIComponent;
  const data: Record<string, string> = {
    host: conn.host,
    port: String(conn.port),
    dbname: database,
    username: user,
    sslmode: conn.sslMode,
    // The password is an access token for this scope, fetched by the workload with its own identity.
    tokenScope: DATABASE_TOKEN_SCOPE,
    uri: `postgresql://${enc(user)}@${conn.host}:${conn.port}/${enc(database)}?sslmode=${conn.sslMode}`,
  };
  if (caPem) data['ca.crt'] = caPem;
  return data;
}

/** One Secret per principal (written only when it differs); the Secrets of dropped principals deleted. */
export async function syncPrincipalSecrets(ctx: TenantDatabaseContext, conn: ServerConnection, database: string, caPem: string | undefined, dropped: string[]): Promise<number> {
  let writes = 0;
  for (const p of ctx.spec.entraPrincipals ?? []) {
    // Only the operator logs in as the migrations principal (with the credentials the spec names): no Secret.
    if (p.access === 'migrations') continue;
    const name = principalSecretName(ctx, p.name);
    const existing = await currentSecret(ctx, name);
    if (existing && !isOurs(ctx, existing)) continue;
    if (await ensureSecret(ctx, name, p.access, principalData(conn, database, p.name, caPem), {}, existing)) writes++;
  }
  for (const d of dropped) await deleteSecret(ctx, principalSecretName(ctx, d));
  return writes;
}
