// Synchronous ARM calls (a GET, a list, a PUT or DELETE that answers with its result, as Azure Monitor's
// action groups, metric alerts and diagnostic settings do): through the same clients, and so the same
// per-subscription request budget, as the long-running writes, each with the deadline of timeout.ts. A
// write to a resource group's resources first drops what the read cache holds about that group.
import type { OperationOptions } from '@azure/core-client';
import type { AzureClients } from '../clients.js';
import { groupKey, invalidate } from './read-cache.js';
import { withDeadline } from './timeout.js';

/** One call with the deadline. */
export function armCall<T>(call: (options: OperationOptions) => Promise<T>): Promise<T> {
  return call(withDeadline());
}

/** Every item of a paged list, the whole listing under one deadline. */
export async function armList<T>(list: (options: OperationOptions) => AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of list(withDeadline())) out.push(x);
  return out;
}

/** A write to one of a resource group's resources (not a server's child: those go through writes.ts). */
export function armGroupWrite<T>(clients: AzureClients, rg: string, call: (options: OperationOptions) => Promise<T>): Promise<T> {
  invalidate(groupKey(clients, rg));
  return call(withDeadline());
}
