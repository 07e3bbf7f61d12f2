// The Flexible Servers of a resource group as one shared, paged list. ARM's read bucket (250, refilled
// 25/s per subscription) is shared by every object of a subscription, and a fleet keeps many servers in
// few resource groups: one `servers.listByResourceGroup` answers "does it exist, in what state, with
// what properties" for all of them at the cost of one read per page, where a GET per server per
// reconcile costs one read each. Concurrent callers share one request in flight, lists of a group start
// at most once per MIN_LIST_INTERVAL_MS, and a list is reused while it is fresh enough for the question:
//
// - every answer comes from a list (or a single GET) that started no earlier than the caller's
//   `notBefore` (default: READ_TTL_MS ago, as the per-resource read cache does);
// - after one of our own writes to a server (`touch`), reads of that server need a list started after
//   the write, so nobody sees the server as it was before it;
// - an absence that would lead to a create is confirmed with a GET of that server (`read`): a list is
//   not the authority on one resource (a collection may lag behind a create by someone else, and a PUT
//   on an existing server would be an update of it), and a create happens once per server.
//
// Start times are taken before a request waits for its token, so a list is never taken for newer than
// it is. A group the identity may not list (403: roles granted on single servers) falls back to one GET
// per server for FORBIDDEN_RETRY_MS; a group that does not exist is empty.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Server } from '@azure/arm-postgresql-flexible';
import type { AzureClients } from '../clients.js';
import { classifyArmError } from '../errors.js';
import { clientKey, READ_TTL_MS } from './read-cache.js';
import { withDeadline } from './timeout.js';
import { LruMap } from '../../runtime/lru.js';

/** A list of a group starts at most this often (at most 2 reads per page per second and group). */
export const MIN_LIST_INTERVAL_MS = 500;
/** Freshness asked for while waiting for a server to change (a create in flight, a state not Ready). */
export const WAIT_FRESH_MS = 500;
const FORBIDDEN_RETRY_MS = 10 * 60_000;

interface Snapshot {
  /** When the list was asked for (before its budget wait): it shows the group as it was at this time or later. */
  startedAt: number;
  servers: Map<string, Server>;
}

export class GroupServers {
  private last: Snapshot | undefined;
  private inflight: { startedAt: number; promise: Promise<Snapshot> } | undefined;
  private next: Promise<Snapshot> | undefined;
  private lastStart = -Infinity;
  /** server → answers about it must come from a list that started at or after this (our writes). */
  private readonly fresh = new Map<string, number>();
  /** Single-resource reads (the final GET of an operation, fallback GETs), with when they were asked. */
  private readonly known = new Map<string, { at: number; server: Server | undefined }>();
  private listForbiddenUntil = 0;

  constructor(
    private readonly clients: AzureClients,
    private readonly rg: string,
  ) {}

  /** The server as ARM reports it, undefined when it does not exist. */
  async get(name: string, opts: { notBefore?: number } = {}): Promise<Server | undefined> {
    const key = name.toLowerCase();
    const now = Date.now();
    const notBefore = Math.min(now, Math.max(opts.notBefore ?? now - READ_TTL_MS, this.fresh.get(key) ?? -Infinity));
    const k = this.known.get(key);
    if (k && k.at >= notBefore && (!this.last || k.at >= this.last.startedAt)) return k.server;
    if (now < this.listForbiddenUntil) return this.read(name);
    let snap: Snapshot;
    try {
      snap = await this.snapshot(notBefore);
    } catch (err) {
      if (classifyArmError(err).kind !== 'forbidden') throw err;
      this.listForbiddenUntil = Date.now() + FORBIDDEN_RETRY_MS;
      return this.read(name);
    }
    const k2 = this.known.get(key);
    if (k2 && k2.at >= snap.startedAt) return k2.server;
    return snap.servers.get(key);
  }

  /** Our own write to `name` was sent: later answers about it come from reads that started after now. */
  touch(name: string, at = Date.now()): void {
    const key = name.toLowerCase();
    this.fresh.set(key, Math.max(this.fresh.get(key) ?? -Infinity, at));
    this.known.delete(key);
  }

  /** A server read on its own (an operation's final GET), asked for at `at`. */
  remember(name: string, server: Server | undefined, at: number): void {
    const key = name.toLowerCase();
    const cur = this.known.get(key);
    if (cur && cur.at > at) return;
    this.known.set(key, { at, server });
    if ((this.fresh.get(key) ?? -Infinity) <= at) this.fresh.delete(key);
  }

  private snapshot(notBefore: number): Promise<Snapshot> {
    if (this.last && this.last.startedAt >= notBefore) return Promise.resolve(this.last);
    if (this.inflight && this.inflight.startedAt >= notBefore) return this.inflight.promise;
    // A list not started yet starts after now, so it answers any question asked until then.
    if (this.next) return this.next;
    const delay = this.lastStart + MIN_LIST_INTERVAL_MS - Date.now();
    if (delay <= 0) return this.list();
    const next = (async () => {
      await sleep(delay);
      this.next = undefined;
      return this.list();
    })();
    this.next = next;
    return next;
  }

  private async list(): Promise<Snapshot> {
    const startedAt = Date.now();
    this.lastStart = startedAt;
    const promise = (async (): Promise<Snapshot> => {
      const servers = new Map<string, Server>();
      try {
        for await (const page of this.clients.postgres.servers.listByResourceGroup(this.rg, withDeadline()).byPage()) {
          for (const s of page) if (s.name) servers.set(s.name.toLowerCase(), s);
        }
      } catch (err) {
        const e = classifyArmError(err);
        // No such group: nothing is in it (a create then reports ResourceGroupNotFound itself).
        if (!(e.kind === 'not-found' && e.code === 'ResourceGroupNotFound')) throw err;
      }
      return { startedAt, servers };
    })();
    this.inflight = { startedAt, promise };
    try {
      const snap = await promise;
      if (!this.last || snap.startedAt > this.last.startedAt) {
        this.last = snap;
        for (const [k, at] of this.fresh) if (at <= snap.startedAt) this.fresh.delete(k);
        for (const [k, v] of this.known) if (v.at <= snap.startedAt) this.known.delete(k);
      }
      return snap;
    } finally {
      if (this.inflight?.promise === promise) this.inflight = undefined;
    }
  }

  /** The server by its own GET (undefined on 404); later answers use it until a newer list. */
  async read(name: string): Promise<Server | undefined> {
    const at = Date.now();
    let server: Server | undefined;
    try {
      server = await this.clients.postgres.servers.get(this.rg, name, withDeadline());
    } catch (err) {
      if (classifyArmError(err).kind !== 'not-found') throw err;
    }
    this.remember(name, server, at);
    return server;
  }
}

// One directory per clients (credentials may see different things) and resource group.
// Bounded (least recently used evicted): resource groups and subscriptions come from specs.
export const SERVER_DIRECTORIES_MAX = 1024;
const groups = new LruMap<string, GroupServers>(SERVER_DIRECTORIES_MAX);

/** Directories kept now (bounded by SERVER_DIRECTORIES_MAX). */
export function serverDirectoryCount(): number {
  return groups.size;
}

export function serversOf(clients: AzureClients, rg: string): GroupServers {
  const key = `${clientKey(clients)}|${rg}`.toLowerCase();
  let g = groups.get(key);
  if (!g) groups.set(key, (g = new GroupServers(clients, rg)));
  return g;
}

export function clearServerDirectories(): void {
  groups.clear();
}
