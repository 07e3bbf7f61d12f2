// ARM reads are a budget shared by every object of a subscription (250, refilled 25/s), and a
// TenantDatabase is reconciled more often than its server changes (its own status writes, Secret and
// BackupPolicy events, sync periods). This process-wide cache answers repeated reads of the same ARM
// resource (a server's child lists: firewall rules, configurations, administrators, replicas) within a
// short TTL, so a converged object costs a bounded number of reads per TTL however often it is
// reconciled. Our own writes invalidate what they touch; drift made by others is seen within the TTL.
// (The servers themselves come from their resource group's shared list, server-directory.ts, with the
// same TTL.) Also kept here (in memory only, losing it costs one extra poll): when an operation may be
// polled next, so that a reconcile triggered early (by our own status write) does not poll.

import type { AzureClients } from '../clients.js';

export const READ_TTL_MS = 10_000;

// Keys are per clients (credentials may see different things), subscription, group and resource.
const clientIds = new WeakMap<AzureClients, number>();
let nextClientId = 0;

/** The key part naming a set of clients and its subscription. */
export function clientKey(clients: AzureClients): string {
  let id = clientIds.get(clients);
  if (id === undefined) clientIds.set(clients, (id = nextClientId++));
  return `${id}|${clients.postgres.subscriptionId}`.toLowerCase();
}

/** Prefix of the entries about a server and its children (a write to the server invalidates it). */
export function serverKey(clients: AzureClients, rg: string, server: string): string {
  return `${clientKey(clients)}|${rg}|${server}|`.toLowerCase();
}

/** Prefix of the entries about a resource group's own collections (Azure Monitor resources). */
export function groupKey(clients: AzureClients, rg: string): string {
  return `${clientKey(clients)}|${rg}||`.toLowerCase();
}

interface Entry {
  at: number;
  value: unknown;
}

const entries = new Map<string, Entry>();
const nextPoll = new Map<string, number>();
const MAX_ENTRIES = 20_000;

export async function cachedRead<T>(key: string, read: () => Promise<T>, ttlMs = READ_TTL_MS, now = Date.now()): Promise<T> {
  const hit = entries.get(key);
  if (hit && now - hit.at < ttlMs) return hit.value as T;
  const value = await read();
  if (entries.size >= MAX_ENTRIES) entries.clear(); // crude bound; a miss only costs a read
  entries.set(key, { at: Date.now(), value });
  return value;
}

/** Forgets every entry whose key starts with `prefix` (the server and its children after a write). */
export function invalidate(prefix: string): void {
  const p = prefix.toLowerCase();
  for (const k of entries.keys()) if (k.startsWith(p)) entries.delete(k);
}

export function setNextPoll(opKey: string, at: number): void {
  nextPoll.set(opKey, at);
}

/** Milliseconds until the operation may be polled again (0: now). */
export function pollWait(opKey: string, now = Date.now()): number {
  const at = nextPoll.get(opKey);
  return at === undefined ? 0 : Math.max(0, at - now);
}

export function clearPoll(opKey: string): void {
  nextPoll.delete(opKey);
}

export function clearReadCache(): void {
  entries.clear();
  nextPoll.clear();
}
