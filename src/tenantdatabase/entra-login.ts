// The operator's passwordless login to an Azure server: when the server has Microsoft Entra authentication
// and the identity the operator reaches Azure with (the namespace's credentials Secret, else its own workload
// identity) is one of spec.server.azure.entraAdministrators, it logs in as that administrator's role with an
// access token (src/azure/database-token.ts) instead of the administrator password. Which administrator it
// is comes from the token's object id, never from anything a namespace writes beside the spec.
import type { TokenCredential } from '@azure/core-auth';
import type { AzureServerSpec } from '../api/tenantdatabase.js';
import { databaseTokenSource } from '../azure/database-token.js';
import type { TokenPassword } from '../postgres/connections.js';

export type EntraLogin = { ok: true; user: string; token: TokenPassword } | { ok: false; reason: string; message: string; transient: boolean };

type EntraSpec = Pick<AzureServerSpec, 'name' | 'authentication' | 'entraAdministrators'>;

/** Whether the spec lets the operator try a token login at all (Entra on, administrators declared). */
export function entraLoginPossible(az: EntraSpec): boolean {
  return az.authentication?.entraAuth === true && (az.entraAdministrators ?? []).length > 0;
}

/**
 * The token login for this server, or why there is none (the caller may still have a password). Fetches a
 * token (cached per credential) to learn the identity's object id.
 */
export async function entraAdminLogin(az: EntraSpec, credential: TokenCredential): Promise<EntraLogin> {
  const source = databaseTokenSource(credential);
  let objectId: string | undefined;
  try {
    objectId = (await source.get()).objectId;
  } catch (err) {
    return { ok: false, reason: 'EntraTokenUnavailable', message: `no Microsoft Entra token for Azure Database for PostgreSQL: ${(err as Error).message}`, transient: true };
  }
  const admin = (az.entraAdministrators ?? []).find((a) => a.objectId.toLowerCase() === objectId);
  if (!admin) {
    return {
      ok: false,
      reason: 'OperatorNotEntraAdministrator',
      message: `the operator's Azure identity (object id ${objectId ?? 'unknown'}) is not one of spec.server.azure.entraAdministrators of server ${az.name}; add it there to let the operator log in with a token`,
      transient: false,
    };
  }
  return { ok: true, user: admin.principalName, token: { identity: `${admin.objectId}@${az.name}`, token: async () => (await source.get()).token } };
}

type MigrationsPrincipal = { name: string; objectId: string };

/**
 * The token login of the migrations principal (spec.entraPrincipals access: migrations) with the credential
 * of its own credentials Secret: refused when that credential is another identity than the principal's
 * object id (the token would not log in; saying so names the Secret to fix).
 */
export async function entraPrincipalLogin(principal: MigrationsPrincipal, credential: TokenCredential, server: string): Promise<EntraLogin> {
  const source = databaseTokenSource(credential);
  let objectId: string | undefined;
  try {
    objectId = (await source.get()).objectId;
  } catch (err) {
    return { ok: false, reason: 'EntraTokenUnavailable', message: `no Microsoft Entra token for principal ${principal.name}: ${(err as Error).message}`, transient: true };
  }
  if (objectId !== principal.objectId.toLowerCase()) {
    return {
      ok: false,
      reason: 'MigrationsPrincipalMismatch',
      message: `the credentials of entra principal ${principal.name} are those of object id ${objectId ?? 'unknown'}, not of its objectId ${principal.objectId}`,
      transient: false,
    };
  }
  return { ok: true, user: principal.name, token: { identity: `${principal.objectId}@${server}`, token: async () => (await source.get()).token } };
}
