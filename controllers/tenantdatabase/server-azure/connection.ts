// How the database part reaches a Ready server: its FQDN over verify-full TLS as the administrator (with a
// Microsoft Entra token when the operator's identity is one of the server's Entra administrators, else the
// administrator password), the PgBouncer port when the spec enables it, and databases as ARM child resources.
import type { Server } from '@azure/arm-postgresql-flexible';
import type { AzureServerSpec } from '../../../src/api/tenantdatabase.js';
import type { AzureClients } from '../../../src/azure/clients.js';
import { azureCreateStarted, deleteAzureDatabase, ensureAzureDatabase } from '../../../src/azure/databases.js';
import type { TokenPassword } from '../../../src/postgres/connections.js';
import { entraAdminLogin, entraLoginPossible } from '../../../src/tenantdatabase/entra-login.js';
import type { ServerConnection } from '../context.js';

/** The administrator's login: a token login as an Entra administrator, or the password (possibly absent). */
export type AdminLogin = { user?: string; password?: string; token?: TokenPassword };

/**
 * How the operator logs in to the server: a token when the spec allows Entra logins and its identity is an
 * Entra administrator; else the password. `problem` when neither is possible (password authentication off).
 */
export async function adminLoginOf(az: AzureServerSpec, clients: AzureClients, password: string | undefined): Promise<{ login: AdminLogin; problem?: { reason: string; message: string; transient: boolean } }> {
  if (!entraLoginPossible(az)) return { login: password !== undefined ? { password } : {} };
  const r = await entraAdminLogin(az, clients.credential);
  if (r.ok) return { login: { user: r.user, token: r.token } };
  if (password !== undefined) return { login: { password } };
  return { login: {}, problem: r };
}

/** `host`: the virtual endpoint's writer name when there is one (it follows a switchover), else the server's FQDN. */
export function connectionOf(az: AzureServerSpec, server: Server, login: AdminLogin, clients: AzureClients, host?: string): ServerConnection {
  const pgb = Object.entries(az.parameters ?? {}).find(([k]) => k.toLowerCase() === 'pgbouncer.enabled')?.[1];
  const ref = (database: string) => ({ resourceGroup: az.resourceGroup, serverName: az.name, database });
  return {
    // On Azure databases are child resources: created and deleted through ARM so that Azure knows them.
    databases: {
      ensure: (name) => ensureAzureDatabase(clients, ref(name)),
      started: (name) => azureCreateStarted(clients, ref(name)),
      drop: async (name) => {
        await deleteAzureDatabase(clients, ref(name));
      },
    },
    kind: 'azure',
    host: host ?? server.fullyQualifiedDomainName!,
    port: 5432,
    sslMode: 'verify-full',
    adminUser: login.user ?? server.administratorLogin ?? az.administratorLogin ?? '',
    adminPassword: login.password ?? '',
    ...(login.token ? { adminToken: login.token } : {}),
    ...(az.authentication?.passwordAuth === false ? { passwordLoginsRefused: true } : {}),
    ...(pgb && pgb.trim().toLowerCase() === 'true' ? { pooler: { port: 6432 } } : {}),
  };
}
