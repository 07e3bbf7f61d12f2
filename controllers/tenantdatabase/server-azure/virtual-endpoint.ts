// Step 10: the read-write virtual endpoint (spec.server.azure.virtualEndpoint, issue 18). Azure keeps
// `<name>.writer.postgres.database.azure.com` on the current primary of the replication set (it moves with
// a switchover) and `<name>.reader...` on a replica, so connection Secrets written with the writer name stay
// valid across a switchover. The diff is the server's endpoint list; the apply one create (or delete) as a
// recorded operation. Created by this object is recorded in status.azure.virtualEndpoint when the create is
// sent; only that endpoint is ever deleted, and only while every server it names is held by this object.
import type { VirtualEndpoint } from '@azure/arm-postgresql-flexible';
import { armCall } from '../../../src/azure/arm/index.js';
import { classifyArmError } from '../../../src/azure/errors.js';
import type { ServerOutcome } from '../context.js';
import { begin } from './apply.js';
import { ownershipOf } from './desired.js';
import { cachedList, getServer, type Pass } from './pass.js';

type Record = NonNullable<Pass['st']['virtualEndpoint']>;

/** The endpoint named `name` among those ARM lists for the server. */
const named = (list: VirtualEndpoint[], name: string) => list.find((e) => (e.name ?? '').toLowerCase() === name.toLowerCase());

/** The writer host name ARM reports for the endpoint. */
const writerOf = (e: VirtualEndpoint) => e.virtualEndpoints?.find((h) => h.toLowerCase().startsWith(`${(e.name ?? '').toLowerCase()}.writer.`));

/** The replica the endpoint pairs with the primary: the one promotion names, else the first in the spec, else the old primary. */
function replicaMember(p: Pass): string | undefined {
  const promoted = p.az.promotion?.replica;
  if (promoted && promoted !== p.az.name) return promoted;
  return p.az.readReplicas?.[0]?.name ?? p.primaryFrom;
}

/** Every server the endpoint names is held by this object (tagged with its owner value). */
async function allHeld(p: Pass, e: VirtualEndpoint): Promise<boolean> {
  for (const name of new Set([p.az.name, ...(e.members ?? [])])) {
    const s = await getServer(p.clients, p.az.resourceGroup, name);
    if (!s || ownershipOf(s.tags, p.owner).kind !== 'ours') return false;
  }
  return true;
}

/** An endpoint this object created that left the spec: deleted (or let go when it is gone or not all ours). */
async function retire(p: Pass, rec: Record, list: VirtualEndpoint[]): Promise<ServerOutcome | undefined> {
  const e = named(list, rec.name);
  if (e && (await allHeld(p, e))) {
    return begin(p, 'virtualEndpoints.delete', rec.name, undefined, 'Updating', `deleting virtual endpoint ${rec.name} (created by this object), not in the spec`);
  }
  if (e) await p.ctx.event('Warning', 'VirtualEndpointKept', `virtual endpoint ${rec.name} names a server not held by this object; it is left in place`);
  p.st.virtualEndpoint = undefined;
  return undefined;
}

async function readEndpoint(p: Pass, name: string): Promise<VirtualEndpoint | undefined> {
  try {
    return await armCall((o) => p.clients.postgres.virtualEndpoints.get(p.az.resourceGroup, p.az.name, name, o));
  } catch (err) {
    if (classifyArmError(err).kind === 'not-found') return undefined;
    throw err;
  }
}

async function create(p: Pass, name: string): Promise<ServerOutcome> {
  const replica = replicaMember(p);
  const before = p.st.virtualEndpoint;
  p.st.virtualEndpoint = { name, server: p.az.name };
  try {
    const body: VirtualEndpoint = { endpointType: 'ReadWrite', members: [p.az.name, ...(replica ? [replica] : [])] };
    return await begin(p, 'virtualEndpoints.create', name, body, 'Updating', `creating virtual endpoint ${name} (writer on ${p.az.name}, reader on ${replica ?? p.az.name})`);
  } catch (err) {
    // Refused (a name taken elsewhere...): nothing was created, nothing is recorded.
    p.st.virtualEndpoint = before;
    throw err;
  }
}

export async function virtualEndpoint(p: Pass): Promise<ServerOutcome | undefined> {
  const { az, clients } = p;
  const want = az.virtualEndpoint;
  const rec = p.st.virtualEndpoint;
  if (!want && !rec) return undefined;
  const list = await cachedList(p, 'virtualEndpoints', (o) => clients.postgres.virtualEndpoints.listByServer(az.resourceGroup, az.name, o));
  if (rec && rec.name !== want?.name) {
    const out = await retire(p, rec, list);
    if (out) return out;
  }
  if (!want) return undefined;
  // A PUT on an existing endpoint would replace it: an absence in the (cached) list is confirmed by a GET
  // first, so an endpoint someone else made is never taken for one this object creates.
  const e = named(list, want.name) ?? (await readEndpoint(p, want.name));
  if (!e) return create(p, want.name);
  // A Standalone promotion leaves the old primary a primary: the writer name may stay on it, so the
  // Secrets keep the promoted server's own FQDN.
  const standalone = p.primaryFrom !== undefined && az.promotion?.mode === 'Standalone';
  if (!standalone) p.writerHost = writerOf(e);
  return undefined;
}
