// The `databases` child resource of a Flexible Server, for the in-database part of the TenantDatabase
// controller: on Azure a database is created through ARM (the administrator is not a superuser and
// Azure tracks databases as resources). GET first, so a converged call costs one read and no write.
// A create is started and not waited for ('creating': the caller comes back); the database counts as
// created by this process when it appears after a create this process started (remembered in memory:
// a restart in between leaves a database the next pass treats as one that existed before, as with
// CREATE DATABASE and its marker). A delete still waits for its (seconds-long) operation, bounded by the
// ARM call deadline.
import type { AzureClients } from './clients.js';
import { classifyArmError } from './errors.js';
import { withDeadline } from './arm/timeout.js';
import { LruMap } from '../runtime/lru.js';

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

/** A create this process started is looked for this long; past it (the operation failed) it is started again. */
const CREATE_WATCH_MS = 10 * 60_000;
/** Creates this process started and has not yet seen finish: key -> start time. */
const creating = new LruMap<string, number>(4096);

function keyOf(clients: AzureClients, ref: AzureDatabaseRef): string {
  return `${clients.armEndpoint}|${clients.postgres.subscriptionId}|${ref.resourceGroup}|${ref.serverName}|${ref.database}`.toLowerCase();
}

/** This process started a create of the database and has not seen it finish (ensureAzureDatabase decides). */
export function azureCreateStarted(clients: AzureClients, ref: AzureDatabaseRef): boolean {
  return creating.get(keyOf(clients, ref)) !== undefined;
}

/**
 * 'exists' (there, not made by a create of ours), 'created' (appeared after a create this process
 * started), or 'creating' (a create was started now or earlier and has not finished: call again).
 */
export async function ensureAzureDatabase(clients: AzureClients, ref: AzureDatabaseRef): Promise<'exists' | 'created' | 'creating'> {
  const key = keyOf(clients, ref);
  const started = creating.get(key);
  if (await exists(clients, ref)) {
    creating.delete(key);
    return started !== undefined ? 'created' : 'exists';
  }
  if (started !== undefined && Date.now() - started < CREATE_WATCH_MS) return 'creating';
  // beginCreate returns once ARM accepted the PUT; the operation runs on without holding this worker.
  await clients.postgres.databases.beginCreate(ref.resourceGroup, ref.serverName, ref.database, { charset: 'UTF8' }, withDeadline());
  creating.set(key, Date.now());
  return 'creating';
}

/** Deletes the database if present. Idempotent. Only call when the user asked for deletion. */
export async function deleteAzureDatabase(clients: AzureClients, ref: AzureDatabaseRef): Promise<'absent' | 'deleted'> {
  if (!(await exists(clients, ref))) return 'absent';
  await clients.postgres.databases.beginDeleteAndWait(ref.resourceGroup, ref.serverName, ref.database, withDeadline());
  return 'deleted';
}
