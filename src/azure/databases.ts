// The `databases` child resource of a Flexible Server, for the in-database part of the TenantDatabase
// controller: on Azure a database is created through ARM (the administrator is not a superuser and
// Azure tracks databases as resources). GET first, so a converged call costs one read and no write.
// These two calls do wait for their (short) operation: a database create is seconds, and the caller
// runs only once the server is Ready.
import type { AzureClients } from './clients.js';
import { classifyArmError } from './errors.js';
import { withDeadline } from './arm/timeout.js';

export interface AzureDatabaseRef {
  resourceGroup: string;
  serverName: string;
  database: string;
}

async function exists(clients: AzureClients, ref: AzureDatabaseRef): Promise<boolean> {
  try {
    await clients.postgres.databases.get(ref.resourceGroup, ref.serverName, ref.database, withDeadline());
    return true;
  } catch (err) {
    if (classifyArmError(err).kind === 'not-found') return false;
    throw err;
  }
}

/** Creates the database (UTF8) unless it exists. Idempotent. Throws the SDK error otherwise. */
export async function ensureAzureDatabase(clients: AzureClients, ref: AzureDatabaseRef): Promise<'exists' | 'created'> {
  if (await exists(clients, ref)) return 'exists';
  await clients.postgres.databases.beginCreateAndWait(ref.resourceGroup, ref.serverName, ref.database, { charset: 'UTF8' }, withDeadline());
  return 'created';
}

/** Deletes the database if present. Idempotent. Only call when the user asked for deletion. */
export async function deleteAzureDatabase(clients: AzureClients, ref: AzureDatabaseRef): Promise<'absent' | 'deleted'> {
  if (!(await exists(clients, ref))) return 'absent';
  await clients.postgres.databases.beginDeleteAndWait(ref.resourceGroup, ref.serverName, ref.database, withDeadline());
  return 'deleted';
}
