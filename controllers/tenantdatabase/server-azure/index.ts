// The Azure part: provision, adopt and keep a Flexible Server in shape through ARM. Level-based: each
// pass reads the server and its children and runs the steps below in order; each step is a pure diff
// (desired.ts) plus one apply (apply.ts: a write started as a recorded operation), and the first step
// with something to do ends the pass. Every write takes the server's lock, so at most one is in flight
// per server: it is started, its poller state recorded in status, and the object requeued after
// Retry-After; the next pass looks at it once (operation.ts). A converged pass only reads.
//
// Reads are a budget the whole subscription shares: the server comes from its resource group's shared
// list (src/azure/arm/server-directory.ts; an absence that would lead to a create or end a deletion is
// confirmed by a GET), child lists from the read cache, and only when the spec declares those children.
import { classifyArmError } from '../../../src/azure/errors.js';
import type { ServerOutcome, ServerPart } from '../context.js';
import { adminLoginOf, connectionOf } from './connection.js';
import { administratorPassword } from './credentials.js';
import { deleteCreatedServers } from './deletion.js';
import { entraAdministrators } from './entra-admins.js';
import { failoverInFlight, failoverRequest } from './failover.js';
import { firewall } from './firewall.js';
import { operationInFlight } from './operation.js';
import { parameters } from './parameters.js';
import { cond, failure, getServer, newPass, outcome, STALLED_RECHECK_MS, type Pass, type Step } from './pass.js';
import { followPromotion, requestPromotion } from './promotion.js';
import { properties } from './properties.js';
import { replicas } from './replicas.js';
import { authorisedClients } from './scope.js';
import { createWhenAbsent, ownedAndReady } from './server.js';
import { virtualEndpoint } from './virtual-endpoint.js';
import { OWNER_TAG, ownerValue } from './desired.js';
import { primaryServerName } from '../../../src/tenantdatabase/promotion.js';

export { ADOPT_ANNOTATION } from './server.js';
export { GENERATED_ANNOTATION } from './credentials.js';

/** How often an object whose (watched) credentials Secret does not exist looks again without an event. */
const SECRET_RECHECK_MS = 5 * 60_000;

/** The steps of a pass, in order. */
const STEPS: readonly Step[] = [
  followPromotion, // 0. a promoted replica (spec.promotion, confirmed by ARM) is the server from now on
  operationInFlight, // 1. an operation in flight: watched (a create) or polled once
  failoverInFlight, // 1b. an HA failover in flight (failover.ts): write probe, polled once
  administratorPassword, // 2. the administrator password Secret (generated when absent)
  requestPromotion, // 2b. a promotion the spec requests (before the server steps: the primary may be down)
  createWhenAbsent, // 3. the server: created when it does not exist
  ownedAndReady, // 4. ours (or adopted on request), and Ready
  properties, // 5. properties, tags, password, backup retention (unless a BackupPolicy owns it)
  failoverRequest, // 5b. an HA failover asked for by a new highAvailability.failover.requestId
  firewall, // 6. firewall rules
  parameters, // 7. server parameters, then the restart they may need
  entraAdministrators, // 8. Microsoft Entra administrators
  replicas, // 9. read replicas
  virtualEndpoint, // 10. the read-write virtual endpoint (Secrets then use its writer host name)
];

async function converge(p: Pass): Promise<ServerOutcome> {
  for (const step of STEPS) {
    const out = await step(p);
    if (out) return out;
  }
  const { az } = p;
  const { login, problem } = await adminLoginOf(az, p.clients, p.admin?.password);
  if (problem) return outcome(p, cond(false, problem.reason, problem.message, !problem.transient), problem.transient ? { retry: true } : { requeueAfterMs: STALLED_RECHECK_MS });
  const how = login.token ? ` (the operator logs in as Entra administrator ${login.user})` : '';
  return outcome(p, cond(true, 'ServerReady', `server ${az.name} is Ready and matches the spec${p.restartNote}${how}`), {
    connection: connectionOf(az, p.server!, login, p.clients, p.writerHost),
  });
}

export const azureServerPart: ServerPart = {
  async reconcile(ctx) {
    const az = ctx.spec.server.azure!;
    // The scope policy first: a namespace the policy does not grant costs no ARM call at all.
    const creds = await authorisedClients(ctx, az);
    const p = newPass(ctx, az, creds.clients);
    if (creds.problem) {
      // Namespace labels are read, not watched: a relabel (or a new Secret) is seen by this recheck.
      if (creds.problem.stalled) return outcome(p, creds.problem, { requeueAfterMs: STALLED_RECHECK_MS });
      // A missing credentials Secret is watched: its creation reconciles this object at once, so the
      // retry is only a slow safety net instead of the rate limiter's (up to 10/s across a fleet).
      if (creds.problem.reason === 'SecretNotFound') return outcome(p, creds.problem, { requeueAfterMs: SECRET_RECHECK_MS });
      return outcome(p, creds.problem, { retry: true });
    }
    try {
      return await converge(p);
    } catch (err) {
      return failure(p, err, `server ${az.name}`);
    }
  },

  finalize: deleteCreatedServers,

  async connectionForCleanup(ctx) {
    const az = ctx.spec.server.azure!;
    const creds = await authorisedClients(ctx, az);
    if (!creds.clients) return undefined;
    try {
      const name = await primaryServerName(az, ownerValue(ctx.namespace, ctx.name), OWNER_TAG, (n) => getServer(creds.clients!, az.resourceGroup, n));
      const s = await getServer(creds.clients, az.resourceGroup, name);
      if (!s || s.state !== 'Ready' || !s.fullyQualifiedDomainName) {
        ctx.log.debug({ state: s?.state ?? 'absent' }, 'no server connection for cleanup');
        return undefined;
      }
      const ref = az.administratorPasswordSecretRef;
      const { login, problem } = await adminLoginOf(az, creds.clients, ref ? ctx.secretValue(ref.name, ref.key) : undefined);
      return problem ? undefined : connectionOf({ ...az, name }, s, login, creds.clients);
    } catch (err) {
      ctx.log.info({ code: classifyArmError(err).code }, 'server not reachable through ARM for cleanup');
      return undefined;
    }
  },
};
