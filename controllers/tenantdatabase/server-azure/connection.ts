// How the database part reaches a Ready server: its FQDN over verify-full TLS as the administrator, the
// PgBouncer port when the spec enables it, and databases as ARM child resources.
import type { Server } from '@azure/arm-postgresql-flexible';
import type { AzureServerSpec } from '../../../src/api/tenantdatabase.js';
import type { AzureClients } from '../../../src/azure/clients.js';
import { azureCreateStarted, deleteAzureDatabase, ensureAzureDatabase } from '../../../src/azure/databases.js';
import type { ServerConnection } from '../context.js';

/** `host`: the virtual endpoint's writer name when there is one (it follows a switchover), else the server's FQDN. */
export function connectionOf(az: AzureServerSpec, server: Server, password: string | undefined, clients: AzureClients, host?: string): ServerConnection {
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
    adminUser: server.administratorLogin ?? az.administratorLogin ?? '',
    adminPassword: password ?? '',
    ...(pgb && pgb.trim().toLowerCase() === 'true' ? { pooler: { port: 6432 } } : {}),
  };
}
