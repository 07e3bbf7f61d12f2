// Steps 3 and 4: the server itself. Created only on an absence its own GET confirms; then whose it is
// (never written when another object's, adopted only when asked) and whether it is Ready for the steps
// that configure it.
import type { Server } from '@azure/arm-postgresql-flexible';
import { DEFAULT_POLL_MS, serversOf } from '../../../src/azure/arm/index.js';
import type { ServerOutcome } from '../context.js';
import { begin } from './apply.js';
import { createBody, desiredTags, ownershipOf, OWNER_TAG } from './desired.js';
import { cond, getServer, outcome, STALLED_RECHECK_MS, type Pass } from './pass.js';
import { adoptionProblem } from './scope.js';

export const ADOPT_ANNOTATION = 'tenantdb.io/adopt';

/** "16.4" from version 16 and minorVersion 4 (Azure reports the minor alone, sometimes the full version). */
function versionOf(s: Server): string | undefined {
  if (!s.version) return s.minorVersion;
  if (!s.minorVersion) return s.version;
  return s.minorVersion.includes('.') ? s.minorVersion : `${s.version}.${s.minorVersion}`;
}

/** Step 3: read the server; create it when it does not exist. */
export async function createWhenAbsent(p: Pass): Promise<ServerOutcome | undefined> {
  const { az, clients, owner } = p;
  const rg = az.resourceGroup;
  const server = await getServer(clients, rg, az.name, true);
  if (server) {
    p.server = server;
    return undefined;
  }
  const tags = desiredTags(az, undefined, owner, 'created');
  p.st.origin = 'created';
  if (p.admin?.version !== undefined) p.st.passwordSecretVersion = p.admin.version;
  p.fields = { ...p.fields, serverName: az.name, serverState: 'Provisioning' };
  return begin(p, 'servers.create', az.name, createBody(az, tags, p.admin?.password), 'Provisioning', `creating Flexible Server ${az.name} in ${rg} (${az.location})`);
}

/** What status says about a server this object does not hold: its name (from the spec) and nothing Azure reports. */
const NOT_HELD_FIELDS = { serverState: null, serverFQDN: null, serverVersion: null, azureResourceId: null };

/**
 * Step 4: the server is ours (or adopted on request) and Ready. Whose it is comes first: nothing Azure
 * reports about a server this object does not hold (its id, FQDN, state) is published in its status.
 */
export async function ownedAndReady(p: Pass): Promise<ServerOutcome | undefined> {
  const { ctx, az } = p;
  const server = p.server!;
  const own = ownershipOf(server.tags, p.owner);
  if (own.kind === 'other') {
    p.fields = { ...p.fields, serverName: az.name, ...NOT_HELD_FIELDS };
    return outcome(p, cond(false, 'OwnedByAnother', `server ${az.name} belongs to TenantDatabase ${own.owner} (tag ${OWNER_TAG}); it is never written by this one`, true));
  }
  if (own.kind === 'unowned' && ctx.obj.metadata.annotations?.[ADOPT_ANNOTATION] !== 'true') {
    p.fields = { ...p.fields, serverName: az.name, ...NOT_HELD_FIELDS };
    return outcome(p, cond(false, 'AdoptionRequired', `server ${az.name} exists and is not managed by the operator; to manage it, annotate this object with ${ADOPT_ANNOTATION}="true"`, true));
  }
  if (own.kind === 'unowned') {
    // The annotation is the tenant's wish; the installer's scope policy must allow adoption there too.
    const denied = await adoptionProblem(ctx, az);
    if (denied) {
      p.fields = { ...p.fields, serverName: az.name, ...NOT_HELD_FIELDS };
      return outcome(p, denied, denied.stalled ? { requeueAfterMs: STALLED_RECHECK_MS } : { retry: true });
    }
  }
  p.fields = {
    ...p.fields,
    serverName: az.name,
    serverState: server.state ?? null,
    serverFQDN: server.fullyQualifiedDomainName ?? null,
    serverVersion: versionOf(server) ?? null,
    azureResourceId: server.id ?? null,
  };
  p.ownership = own;
  p.st.origin = own.kind === 'ours' ? own.origin : 'adopted';

  if (server.state !== 'Ready') {
    serversOf(p.clients, az.resourceGroup).touch(az.name); // look again next time, not at this answer
    const state = server.state ?? 'Unknown';
    const stalled = state === 'Stopped' || state === 'Disabled';
    return outcome(p, cond(false, stalled ? `Server${state}` : state === 'Provisioning' ? 'Provisioning' : 'Updating', `server ${az.name} is ${state}`, stalled), stalled ? {} : { requeueAfterMs: DEFAULT_POLL_MS });
  }
  return undefined;
}
