// Step 10: the read-write virtual endpoint (spec.server.azure.virtualEndpoint, issue 18). Azure keeps
// `<name>.writer.postgres.database.azure.com` on the current primary of the replication set (it moves with
// a switchover) and `<name>.reader...` on a replica, so connection Secrets written with the writer name stay
// valid across a switchover. The diff is the server's endpoint list; the apply one create (or delete) as a
// recorded operation. status.azure.virtualEndpoint reports the endpoint this object asked Azure to create.
// The operator never deletes an endpoint: it carries no tags, so "created by this object" could only be
// read back from status, and status never decides a write. Taken out of the spec, the endpoint is released
// (the Secrets use the server's own name again, an Event says so); it goes with its servers when they are
// deleted, or the user deletes it in Azure.
import type { VirtualEndpoint } from '@azure/arm-postgresql-flexible';
import { armCall } from '../../../src/azure/arm/index.js';
import { classifyArmError } from '../../../src/azure/errors.js';
import type { ServerOutcome } from '../context.js';
import { begin } from './apply.js';
import { cachedList, type Pass } from './pass.js';

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

/** An endpoint that left the spec: released, never deleted (see the header); the report goes from status. */
async function release(p: Pass, rec: Record, list: VirtualEndpoint[]): Promise<void> {
  if (named(list, rec.name)) {
    await p.ctx.event('Normal', 'VirtualEndpointReleased', `virtual endpoint ${rec.name} is no longer in the spec: the connection Secrets use the server's own name again; the endpoint stays in Azure until its servers are deleted or you delete it there`);
  }
  p.st.virtualEndpoint = undefined;
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
  if (rec && rec.name !== want?.name) await release(p, rec, list);
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
