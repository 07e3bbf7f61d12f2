// Microsoft.DBforPostgreSQL/flexibleServers/virtualEndpoints (2025-08-01, VirtualEndpoints.json from
// dev/arm-emulator/specs): a pair of host names for a replication set, `<name>.writer.<suffix>` on the
// set's current primary and `<name>.reader.<suffix>` on a read replica (the primary when none is left), so
// clients keep one host name across a switchover. The names live in the emulator's hosts file (the
// emulator's DNS) and in the certificate SANs of the instance they point at; both follow promotions
// (servers.ts calls instances.refreshAliases() once the roles changed).
import { ArmError, armErrors } from '../framework/errors.js';
import type { Json } from '../framework/store.js';
import type { ArmRequest, ArmResponse } from '../framework/types.js';
import { API_VERSIONS, FQDN_SUFFIX, SERVER_PATH, SERVER_TYPE, props, serverId, spec, type PostgresProviderState, type ServerRuntime } from './model.js';

const TYPE = `${SERVER_TYPE}/virtualEndpoints`;
// VirtualEndpointNameParameter: 3-63 characters, letters, digits and hyphens, not ending with a hyphen.
const NAME = /^[A-Za-z0-9][A-Za-z0-9-]{1,61}[A-Za-z0-9]$/;
const ENDPOINT_ID = /\/providers\/microsoft\.dbforpostgresql\/flexibleservers\/[^/]+\/virtualendpoints\/[^/]+$/;

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === 'object' ? (v as Obj) : {});

export const writerName = (name: string) => `${name.toLowerCase()}.writer.${FQDN_SUFFIX}`;
export const readerName = (name: string) => `${name.toLowerCase()}.reader.${FQDN_SUFFIX}`;

/** The parent server's id of a stored endpoint document. */
const parentOf = (doc: Json) => String(doc.id).replace(/\/virtualEndpoints\/[^/]+$/i, '');

/** The servers an endpoint may point at: its parent, then its members (same subscription and group). */
function setOf(state: PostgresProviderState, doc: Json): ServerRuntime[] {
  const parent = state.runtime(parentOf(doc));
  const out: ServerRuntime[] = parent ? [parent] : [];
  const members = (props(doc).members as string[] | undefined) ?? [];
  const [sub, rg] = [parent?.subscriptionId, parent?.resourceGroup];
  if (!sub || !rg) return out;
  for (const m of members) {
    const rt = state.runtime(serverId(sub, rg, m));
    if (rt && !out.includes(rt)) out.push(rt);
  }
  return out;
}

/** Where the two names point now: the first primary of the set, and its first replica (else the primary). */
function targets(state: PostgresProviderState, doc: Json): { writer?: ServerRuntime; reader?: ServerRuntime } {
  const set = setOf(state, doc);
  const writer = set.find((r) => r.role === 'Primary');
  return { writer, reader: set.find((r) => r.role === 'AsyncReplica') ?? writer };
}

function allEndpoints(state: PostgresProviderState): Json[] {
  return state.ctx.store.find(ENDPOINT_ID);
}

/** Host name → instance key of every endpoint, for the hosts file and the certificates. */
function aliases(state: PostgresProviderState): Record<string, string> {
  const out: Record<string, string> = {};
  for (const doc of allEndpoints(state)) {
    const { writer, reader } = targets(state, doc);
    // By server id (its instance's key), not by the running instance: a server being (re)started after an
    // emulator restart gets the names in its first certificate.
    if (writer) out[writerName(String(doc.name))] = writer.id.toLowerCase();
    if (reader) out[readerName(String(doc.name))] = reader.id.toLowerCase();
  }
  return out;
}

/** The servers of `rt`'s replication set: itself, its source, and every replica of either. */
function replicationSet(state: PostgresProviderState, rt: ServerRuntime): Set<string> {
  const source = (id: string) => String(props(state.ctx.store.get(id) ?? {}).sourceServerResourceId ?? '').toLowerCase();
  const root = source(rt.id) || rt.id.toLowerCase();
  const out = new Set<string>([root]);
  for (const r of state.runtimes.values()) if (source(r.id) === root) out.add(r.id.toLowerCase());
  return out;
}

/** Refuses members that are not servers of the parent's replication set (and an empty list). */
function checkMembers(state: PostgresProviderState, rt: ServerRuntime, members: unknown): string[] {
  if (!Array.isArray(members) || members.length === 0) throw armErrors.invalidParameter('properties.members', 'At least one member server is required.');
  const set = replicationSet(state, rt);
  for (const m of members as string[]) {
    const id = serverId(rt.subscriptionId, rt.resourceGroup, String(m)).toLowerCase();
    if (!state.runtime(id)) throw armErrors.invalidParameter('properties.members', `Server '${String(m)}' was not found in resource group '${rt.resourceGroup}'.`);
    if (!set.has(id)) throw armErrors.invalidParameter('properties.members', `Server '${String(m)}' is not in the replication set of '${rt.name}'.`);
  }
  return (members as string[]).map(String);
}

/** The endpoint document as ARM returns it (virtualEndpoints is read-only: the pair of host names). */
function view(doc: Json): Json {
  const p = props(doc);
  return {
    id: doc.id,
    name: doc.name,
    type: TYPE,
    properties: { endpointType: p.endpointType ?? 'ReadWrite', members: p.members ?? [], virtualEndpoints: [readerName(String(doc.name)), writerName(String(doc.name))] },
  };
}

/** The endpoint `name` as seen from server `rt`: stored under it, or one whose set `rt` belongs to. */
function findEndpoint(state: PostgresProviderState, rt: ServerRuntime, name: string): Json | undefined {
  return state.ctx.store.get(`${rt.id}/virtualEndpoints/${name}`) ?? listFor(state, rt).find((d) => String(d.name).toLowerCase() === name.toLowerCase());
}

function listFor(state: PostgresProviderState, rt: ServerRuntime): Json[] {
  return allEndpoints(state).filter((d) => setOf(state, d).includes(rt));
}

export function registerVirtualEndpoints(state: PostgresProviderState): void {
  const { ctx } = state;
  state.instances.aliasesOf = () => aliases(state);
  const route = (method: 'GET' | 'PUT' | 'PATCH' | 'DELETE', sub: string, handler: (req: ArmRequest) => Promise<ArmResponse> | ArmResponse, requestSchema?: ReturnType<typeof spec>) =>
    ctx.router.add({ method, path: `${SERVER_PATH}${sub}`, apiVersions: API_VERSIONS, resourceType: TYPE, handler, ...(requestSchema ? { requestSchema } : {}) });
  const notFound = (rt: ServerRuntime, name: string) => armErrors.resourceNotFound(`${SERVER_TYPE}/${rt.name}/virtualEndpoints`, name, rt.resourceGroup);

  route('GET', '/virtualendpoints', (req) => {
    const { rt } = state.serverDoc(req);
    return { status: 200, body: { value: listFor(state, rt).map(view) } };
  });
  route('GET', '/virtualendpoints/{virtualEndpointName}', (req) => {
    const { rt } = state.serverDoc(req);
    const doc = findEndpoint(state, rt, req.params.virtualEndpointName!);
    if (!doc) throw notFound(rt, req.params.virtualEndpointName!);
    return { status: 200, body: view(doc) };
  });
  route('PUT', '/virtualendpoints/{virtualEndpointName}', (req) => write(state, req, true), spec('VirtualEndpoints.json', 'VirtualEndpoint'));
  route('PATCH', '/virtualendpoints/{virtualEndpointName}', (req) => write(state, req, false), spec('VirtualEndpoints.json', 'VirtualEndpointResourceForPatch'));
  route('DELETE', '/virtualendpoints/{virtualEndpointName}', (req) => {
    const { doc: server, rt } = state.serverDoc(req);
    const doc = findEndpoint(state, rt, req.params.virtualEndpointName!);
    if (!doc) return { status: 204 };
    state.assertNotBusy(rt);
    return state.startOp(req, rt, server, 'virtualEndpoints.delete', async () => {
      ctx.store.delete(String(doc.id));
      await state.instances.refreshAliases();
    });
  });
}

/** PUT (create or replace) and PATCH: checked now, stored and resolvable once the operation ends. */
function write(state: PostgresProviderState, req: ArmRequest, isPut: boolean): ArmResponse {
  const { ctx } = state;
  const { doc: server, rt } = state.serverDoc(req);
  const name = req.params.virtualEndpointName!;
  if (!NAME.test(name)) throw armErrors.invalidParameter('virtualEndpointName', `The virtual endpoint name '${name}' is not valid: 3 to 63 letters, digits or hyphens, not starting or ending with a hyphen.`);
  const existing = findEndpoint(state, rt, name);
  if (!existing && !isPut) throw armErrors.resourceNotFound(`${SERVER_TYPE}/${rt.name}/virtualEndpoints`, name, rt.resourceGroup);
  // The host names are global (DNS), as server names are.
  const taken = state.ctx.store.find(ENDPOINT_ID).find((d) => String(d.name).toLowerCase() === name.toLowerCase() && d !== existing);
  if (taken) throw new ArmError(409, 'VirtualEndpointNameAlreadyExists', `The virtual endpoint name '${name}' is already in use.`);
  const p = obj(obj(req.body).properties);
  const members = p.members !== undefined || isPut ? checkMembers(state, rt, p.members) : (props(existing!).members as string[]);
  state.assertNotBusy(rt);
  state.requireReady(server, rt);
  const id = existing ? String(existing.id) : `${rt.id}/virtualEndpoints/${name}`;
  return state.startOp(req, rt, server, isPut && !existing ? 'virtualEndpoints.create' : 'virtualEndpoints.update', async () => {
    ctx.store.put(id, { id, name: existing?.name ?? name, type: TYPE, properties: { endpointType: String(p.endpointType ?? props(existing ?? {}).endpointType ?? 'ReadWrite'), members } });
    await state.instances.refreshAliases();
  });
}
