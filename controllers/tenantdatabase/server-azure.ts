// The Azure part: provision, adopt and keep a Flexible Server in shape through ARM. Level-based: each
// pass reads the server and its children, and runs the first step whose pure diff (azure/desired.ts)
// is not empty. Every write is a long-running operation that takes the server's lock, so at most one
// is in flight per server: it is started, its poller state recorded in status, and the object requeued
// after Retry-After; the next pass polls it once (src/azure/arm/writes.ts). A converged pass only reads.
//
// Reads are a budget the whole subscription shares, so the server itself is read from its resource
// group's shared list (src/azure/arm/server-directory.ts: one paged list answers for every object of the
// group; an absence that would lead to a create or end a deletion is confirmed by a GET of the server),
// and a create is waited for by watching that list for the server to be Ready instead of polling its
// operation (nor does its start poll right after the PUT); the operation is still recorded (a restarted
// operator sends no second create) and polled when the list cannot tell (the server gone or in an
// unexpected state, which is how a Failed create shows, or the create running longer than
// LRO_CHECK_MS): that poll reports ARM's code and message. Child lists are read only when the spec
// declares those children.
import type { Server } from '@azure/arm-postgresql-flexible';
import type { AzureServerSpec, TenantDatabaseStatus } from '../../src/api/tenantdatabase.js';
import type { AzureClients } from '../../src/azure/clients.js';
import { CredentialSecretError } from '../../src/azure/credentials.js';
import { classifyArmError, type ArmErrorInfo } from '../../src/azure/errors.js';
import { azureClientsFor } from '../../src/azure/provider.js';
import { deleteAzureDatabase, ensureAzureDatabase } from '../../src/azure/databases.js';
import { generatePassword } from '../../src/postgres/database/scram.js';
import { isConflict, type KubeObject } from '../../src/runtime/kubeclient.js';
import { resourceOf } from '../../src/api/resources.js';
import { SECRETS, type PartCondition, type ServerConnection, type ServerOutcome, type ServerPart, type TenantDatabaseContext } from './context.js';
import {
  adminSteps,
  createBody,
  desiredParameters,
  desiredTags,
  firewallSteps,
  inMaintenanceWindow,
  maintenanceWindowStart,
  ORIGIN_TAG,
  ownerValue,
  ownershipOf,
  parameterSteps,
  pendingRestartParameters,
  replicaCreateBody,
  replicasToDelete,
  serverPatch,
} from './azure/desired.js';
import {
  armList,
  beginOperation,
  cachedRead,
  DEFAULT_POLL_MS,
  forgetOperation,
  invalidate,
  MIN_LIST_INTERVAL_MS,
  operationKey,
  operationLabel,
  paceOperation,
  pollDelay,
  pollWait,
  resumeOperation,
  serverKey,
  serversOf,
  WAIT_FRESH_MS,
  type ArmScope,
  type OperationKind,
  type OperationRecord,
} from '../../src/azure/arm/index.js';

export const ADOPT_ANNOTATION = 'tenantdb.io/adopt';
/** Set on an administrator password Secret the operator generated (so adoption may apply it). */
export const GENERATED_ANNOTATION = 'tenantdb.io/generated-password';

const BACKUP_POLICIES = resourceOf('BackupPolicy');
const STALLED_RECHECK_MS = 10 * 60_000;
/** A create watched through the list is still polled this often, should its server never turn Ready. */
const LRO_CHECK_MS = 60_000;
/** Creates whose end the group's list shows (the new server turns Ready). */
const WATCHED: ReadonlySet<OperationKind> = new Set(['servers.create', 'replicas.create']);
/** States a server passes through while a create runs; any other (or none) sends us to the operation. */
const CREATING_STATES = new Set(['provisioning', 'updating', 'starting', 'restarting']);

type AzureStatus = NonNullable<TenantDatabaseStatus['azure']>;

/** What a pass works with. */
interface Pass {
  ctx: TenantDatabaseContext;
  az: AzureServerSpec;
  clients: AzureClients;
  owner: string;
  /** The part's slice of status.azure as it will be written (mutated by the steps). */
  st: AzureStatus;
  fields: Record<string, unknown>;
}

/** How often an object whose (watched) credentials Secret does not exist looks again without an event. */
const SECRET_RECHECK_MS = 5 * 60_000;

function cond(ok: boolean, reason: string, message: string, stalled?: boolean): PartCondition {
  return { type: 'ServerReady', ok, reason, message, ...(stalled !== undefined && !ok ? { stalled } : {}) };
}

/** status.azure as a merge patch: keys the old status had and the new one lacks become null. */
function azurePatch(next: AzureStatus, prev: AzureStatus | undefined): Record<string, unknown> {
  const clean = Object.fromEntries(Object.entries(next).filter(([, v]) => v !== undefined));
  const removed = Object.keys(prev ?? {}).filter((k) => !(k in clean));
  if (!removed.length) return clean;
  return { ...clean, ...Object.fromEntries(removed.map((k) => [k, null])) };
}

function outcome(p: Pass, condition: PartCondition, extra: Partial<ServerOutcome> = {}): ServerOutcome {
  return { condition, status: { ...p.fields, azure: azurePatch(p.st, p.ctx.status.azure) }, ...extra };
}

const REASON = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;

/** Condition for an ARM failure: transient ones retried with backoff, terminal ones Stalled with ARM's code. */
function failure(p: Pass, err: unknown, doing: string): ServerOutcome {
  const name = (err as { name?: string }).name;
  if (name === 'AuthenticationError' || name === 'CredentialUnavailableError' || name === 'AuthenticationRequiredError') {
    // Entra refused the credentials (wrong secret, unknown client) or none is configured: a Secret
    // change brings the object back at once; otherwise retry with backoff.
    const msg = classifyArmError(err).message.split('\n')[0] ?? '';
    return outcome(p, cond(false, 'AuthenticationFailed', `Microsoft Entra refused the credentials for ${doing}: ${msg}`, false), { retry: true });
  }
  const e = classifyArmError(err);
  const what = `${doing}: ${e.code}: ${e.message}`;
  if (e.kind === 'unauthorized') return outcome(p, cond(false, 'AuthenticationFailed', what, false), { retry: true });
  if (e.kind === 'forbidden') return outcome(p, cond(false, 'AuthorizationFailed', `${what} (grant the operator's identity a role on the resource group)`, true), { requeueAfterMs: STALLED_RECHECK_MS });
  if (e.code === 'ResourceGroupNotFound') return outcome(p, cond(false, 'ResourceGroupNotFound', `${what}; the operator never creates resource groups`, false), { retry: true });
  if (e.kind === 'quota') return outcome(p, cond(false, 'QuotaExceeded', what, true), { requeueAfterMs: STALLED_RECHECK_MS });
  if (e.retryable) {
    const reason = e.kind === 'throttled' ? 'Throttled' : e.kind === 'conflict' ? 'ServerBusy' : 'AzureUnavailable';
    return outcome(p, cond(false, reason, what, false), e.retryAfterMs ? { requeueAfterMs: pollDelay(e.retryAfterMs) } : { retry: true });
  }
  const reason = REASON.test(e.code) && e.code.length <= 64 ? e.code : 'AzureRejected';
  return outcome(p, cond(false, reason, what, true), { requeueAfterMs: STALLED_RECHECK_MS });
}

function decodeSecret(secret: KubeObject | undefined): Record<string, string> | undefined {
  const data = (secret as { data?: Record<string, string> } | undefined)?.data;
  if (!data) return undefined;
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}

/** Length of a generated administrator password (Azure accepts 8-128). */
export const ADMIN_PASSWORD_LENGTH = 32;

/** The server fields as status has them, for passes that do not read the server. */
function currentServerFields(ctx: TenantDatabaseContext): Record<string, unknown> {
  const s = ctx.status;
  return Object.fromEntries(
    (['serverName', 'serverState', 'serverFQDN', 'serverVersion', 'azureResourceId'] as const).filter((k) => s[k] !== undefined).map((k) => [k, s[k]]),
  );
}

/** "16.4" from version 16 and minorVersion 4 (Azure reports the minor alone, sometimes the full version). */
function versionOf(s: Server): string | undefined {
  if (!s.version) return s.minorVersion;
  if (!s.minorVersion) return s.version;
  return s.minorVersion.includes('.') ? s.minorVersion : `${s.version}.${s.minorVersion}`;
}

/**
 * The server from its group's shared list. With `confirmAbsence` (the caller would create it, or let
 * go of it, on an absence) an absence is confirmed by a GET of the server itself.
 */
async function getServer(clients: AzureClients, rg: string, name: string, confirmAbsence = false, notBefore?: number): Promise<Server | undefined> {
  const dir = serversOf(clients, rg);
  const s = await dir.get(name, notBefore !== undefined ? { notBefore } : {});
  if (s || !confirmAbsence) return s;
  return dir.read(name);
}

// In memory only (losing them costs one read or poll): how often a watched create is looked at, and
// when its operation was last polled.
const watchEvery = new Map<string, number>();
const lroPolledAt = new Map<string, number>();

function forgetOp(op: OperationRecord): void {
  const k = operationKey(op);
  forgetOperation(op);
  watchEvery.delete(k);
  lroPolledAt.delete(k);
}

function cachedList<T>(clients: AzureClients, rg: string, server: string, what: string, list: (options: object) => AsyncIterable<T>): Promise<T[]> {
  return cachedRead(serverKey(clients, rg, server) + what, () => armList(list));
}

const scopeOf = (p: Pass): ArmScope => ({ clients: p.clients, resourceGroup: p.az.resourceGroup, server: p.az.name });

/** The BackupPolicy that names this TenantDatabase, if any (it then owns backup retention). */
function backupRetentionOwner(ctx: TenantDatabaseContext): string | undefined {
  const bp = ctx.mgr
    .listCached(BACKUP_POLICIES, ctx.namespace)
    .filter((o) => (o as { spec?: { databaseRef?: { name?: string } } }).spec?.databaseRef?.name === ctx.name)
    .map((o) => o.metadata.name)
    .sort();
  return bp[0];
}

interface Credentials {
  clients?: AzureClients;
  problem?: PartCondition;
}

function clientsFor(ctx: TenantDatabaseContext, az: AzureServerSpec): Credentials {
  let data: Record<string, string> | undefined;
  if (az.credentialsSecretRef) {
    data = decodeSecret(ctx.secret(az.credentialsSecretRef.name));
    if (!data) return { problem: cond(false, 'SecretNotFound', `credentials Secret ${az.credentialsSecretRef.name} not found in namespace ${ctx.namespace}`, false) };
  }
  try {
    return { clients: azureClientsFor(ctx.settings.azure, { subscriptionId: az.subscriptionId, ...(data ? { credentialsSecretData: data } : {}) }) };
  } catch (err) {
    if (err instanceof CredentialSecretError) return { problem: cond(false, 'InvalidCredentialsSecret', `${az.credentialsSecretRef?.name}: ${err.message}`, true) };
    throw err;
  }
}

/** The administrator password, creating a generated one when its Secret does not exist. */
async function adminPassword(ctx: TenantDatabaseContext, az: AzureServerSpec): Promise<{ password?: string; version?: string; generated?: boolean; problem?: PartCondition }> {
  const ref = az.administratorPasswordSecretRef;
  if (!ref || az.authentication?.passwordAuth === false) return {};
  const secret = ctx.secret(ref.name);
  if (!secret) {
    const password = generatePassword(ADMIN_PASSWORD_LENGTH);
    try {
      await ctx.mgr.client.create(SECRETS, ctx.namespace, {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: {
          name: ref.name,
          namespace: ctx.namespace,
          labels: { 'app.kubernetes.io/managed-by': 'tenantdb-operator' },
          // No owner reference: with deletionPolicy Retain the server outlives this object and so must its password.
          annotations: { [GENERATED_ANNOTATION]: 'true', 'tenantdb.io/for': ownerValue(ctx.namespace, ctx.name) },
        },
        type: 'Opaque',
        stringData: { [ref.key]: password },
      });
      await ctx.event('Normal', 'PasswordGenerated', `generated the administrator password into Secret ${ref.name} (key ${ref.key})`);
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
    // The Secret's watch event brings the object back with the Secret in the cache.
    return { problem: cond(false, 'WaitingForSecret', `waiting for the administrator password Secret ${ref.name} to reach the cache`, false) };
  }
  const password = ctx.secretValue(ref.name, ref.key);
  if (!password) return { problem: cond(false, 'SecretKeyNotFound', `Secret ${ref.name} has no key ${ref.key} with the administrator password`, true) };
  return { password, version: secret.metadata.resourceVersion ?? '', generated: secret.metadata.annotations?.[GENERATED_ANNOTATION] === 'true' };
}

/** Starts one write; records it when it did not finish at once. */
async function begin(p: Pass, kind: OperationKind, target: string, body: unknown, reason: string, message: string): Promise<ServerOutcome> {
  // A watched create needs no poll right after its PUT: the list shows when it is done.
  const r = await beginOperation(scopeOf(p), kind, target, body, { poll: !WATCHED.has(kind) });
  await p.ctx.event('Normal', reason, message);
  p.ctx.log.info({ kind, target }, 'azure operation started');
  if (r.done) return outcome(p, cond(false, reason, message, false), { requeueAfterMs: 500 });
  p.st.operation = r.record;
  // After Retry-After, a watched create is looked at as often as its group's list may refresh: looking
  // costs no read of its own, and the object is Ready as soon as a list shows it.
  if (WATCHED.has(kind)) watchEvery.set(operationKey(r.record), Math.min(pollDelay(r.retryAfterMs), MIN_LIST_INTERVAL_MS));
  return outcome(p, cond(false, reason, message, false), { requeueAfterMs: pollDelay(r.retryAfterMs) });
}

function connectionOf(az: AzureServerSpec, server: Server, password: string | undefined, clients: AzureClients): ServerConnection {
  const pgb = Object.entries(az.parameters ?? {}).find(([k]) => k.toLowerCase() === 'pgbouncer.enabled')?.[1];
  const ref = (database: string) => ({ resourceGroup: az.resourceGroup, serverName: az.name, database });
  return {
    // On Azure databases are child resources: created and deleted through ARM so that Azure knows them.
    databases: {
      ensure: (name) => ensureAzureDatabase(clients, ref(name)),
      drop: async (name) => {
        await deleteAzureDatabase(clients, ref(name));
      },
    },
    kind: 'azure',
    host: server.fullyQualifiedDomainName!,
    port: 5432,
    sslMode: 'verify-full',
    adminUser: server.administratorLogin ?? az.administratorLogin ?? '',
    adminPassword: password ?? '',
    ...(pgb && pgb.trim().toLowerCase() === 'true' ? { pooler: { port: 6432 } } : {}),
  };
}

async function converge(p: Pass): Promise<ServerOutcome> {
  const { ctx, az, clients, owner } = p;
  const rg = az.resourceGroup;
  const opLabel = operationLabel;

  // 1. An operation in flight: a create is watched through the group's list, the others polled once.
  const passStart = Date.now();
  const op = p.st.operation as OperationRecord | undefined;
  if (op) {
    const key = operationKey(op);
    const waiting = () => cond(false, op.kind === 'servers.create' ? 'Provisioning' : 'Updating', `waiting for ${opLabel(op)} (started ${op.startedAt})`, false);
    const wait = (ms: number) => {
      paceOperation(op, ms);
      p.fields = { ...p.fields, ...currentServerFields(ctx) };
      return outcome(p, waiting(), { requeueAfterMs: ms });
    };
    // Reconciled again before Retry-After (our own status write, a related object): do not look yet.
    const early = pollWait(key);
    if (early > 0) return wait(early);
    let poll = true;
    if (WATCHED.has(op.kind)) {
      const started = Date.parse(op.startedAt);
      const startedAt = Number.isFinite(started) ? started : 0;
      // A list that started after the create was accepted (and recently): it shows the new server.
      const s = await serversOf(clients, rg).get(op.target, { notBefore: Math.max(startedAt, passStart - WAIT_FRESH_MS) });
      const state = (s?.state ?? '').toLowerCase();
      if (state === 'ready') {
        p.st.operation = undefined;
        forgetOp(op);
        invalidate(serverKey(clients, rg, az.name));
        if (op.kind === 'replicas.create') invalidate(serverKey(clients, rg, op.target));
        ctx.log.info({ kind: op.kind, target: op.target }, 'azure operation succeeded (server Ready)');
        poll = false;
      } else if (s && CREATING_STATES.has(state) && Date.now() - (lroPolledAt.get(key) ?? startedAt) < LRO_CHECK_MS) {
        return wait(watchEvery.get(key) ?? DEFAULT_POLL_MS); // (unknown after a restart: the default poll interval)
      } else lroPolledAt.set(key, Date.now());
    }
    if (poll) {
      const r = await resumeOperation(scopeOf(p), op);
      if (r.state === 'early') return wait(r.waitMs);
      if (r.state === 'running') {
        p.st.operation = r.record;
        return wait(WATCHED.has(op.kind) ? (watchEvery.get(key) ?? pollDelay(r.retryAfterMs)) : pollDelay(r.retryAfterMs));
      }
      p.st.operation = undefined;
      forgetOp(op);
      if (r.state === 'done') ctx.log.info({ kind: op.kind, target: op.target }, 'azure operation succeeded');
      else if (r.state === 'gone') {
        // The operation is gone (the emulator or ARM forgot it): look at the resource again.
        ctx.log.info({ kind: op.kind, target: op.target }, 'azure operation no longer known; re-reading');
      } else if (r.state === 'failed') {
        const e = r.error;
        await ctx.event('Warning', 'OperationFailed', `${opLabel(op)} failed: ${e.code}: ${e.message}`);
        return outcome(p, cond(false, 'OperationFailed', `${opLabel(op)} failed: ${e.code}: ${e.message}; retrying`, false), { retry: true });
      } else {
        p.st.operation = op; // a failed poll (throttled, network): keep polling the same operation
        return failure(p, r.error, `polling ${opLabel(op)}`);
      }
    }
  }

  // 2. Credentials for the admin, the server itself.
  const pw = await adminPassword(ctx, az);
  if (pw.problem) return outcome(p, pw.problem, pw.problem.stalled ? {} : { retry: true });

  // Created only on an absence its own GET confirms.
  const server = await getServer(clients, rg, az.name, true);
  if (!server) {
    const tags = desiredTags(az, undefined, owner, 'created');
    p.st.origin = 'created';
    p.st.appliedTags = Object.keys(az.tags ?? {}).sort();
    if (pw.version !== undefined) p.st.passwordSecretVersion = pw.version;
    p.fields = { ...p.fields, serverName: az.name, serverState: 'Provisioning' };
    return begin(p, 'servers.create', az.name, createBody(az, tags, pw.password), 'Provisioning', `creating Flexible Server ${az.name} in ${rg} (${az.location})`);
  }

  // 3. Whose is it?
  const own = ownershipOf(server.tags, owner);
  p.fields = {
    ...p.fields,
    serverName: az.name,
    serverState: server.state ?? null,
    serverFQDN: server.fullyQualifiedDomainName ?? null,
    serverVersion: versionOf(server) ?? null,
    azureResourceId: server.id ?? null,
  };
  if (own.kind === 'other') {
    return outcome(p, cond(false, 'OwnedByAnother', `server ${az.name} belongs to TenantDatabase ${own.owner} (tag ${'tenantdb-owner'}); it is never written by this one`, true));
  }
  let origin: 'created' | 'adopted';
  if (own.kind === 'unowned') {
    if (ctx.obj.metadata.annotations?.[ADOPT_ANNOTATION] !== 'true') {
      return outcome(p, cond(false, 'AdoptionRequired', `server ${az.name} exists and is not managed by the operator; to manage it, annotate this object with ${ADOPT_ANNOTATION}="true"`, true));
    }
    origin = 'adopted';
  } else origin = own.origin;
  p.st.origin = origin;

  if (server.state !== 'Ready') {
    serversOf(clients, rg).touch(az.name); // look again next time, not at this answer
    const state = server.state ?? 'Unknown';
    const stalled = state === 'Stopped' || state === 'Disabled';
    return outcome(p, cond(false, stalled ? `Server${state}` : state === 'Provisioning' ? 'Provisioning' : 'Updating', `server ${az.name} is ${state}`, stalled), stalled ? {} : { requeueAfterMs: DEFAULT_POLL_MS });
  }

  // 4. Server properties. Adoption writes the ownership tags through this same PATCH.
  const bpOwner = backupRetentionOwner(ctx);
  p.st.backupRetentionOwner = bpOwner;
  // One Warning per ignored value: the spec asks for a retention the policy's owner overrides.
  const ignored = bpOwner && az.backup && az.backup.retentionDays !== server.backup?.backupRetentionDays ? az.backup.retentionDays : undefined;
  if (ignored !== undefined && ignored !== p.st.backupRetentionIgnoredDays) {
    await ctx.event('Warning', 'BackupRetentionOwnedByPolicy', `BackupPolicy ${bpOwner} owns backup retention of ${az.name}; spec.server.azure.backup.retentionDays (${ignored}) is ignored`);
  }
  p.st.backupRetentionIgnoredDays = ignored;
  const tags = desiredTags(az, server.tags, owner, origin, p.st.appliedTags ?? []);
  // Apply the Secret's password when it changed since last applied, or on adoption when we generated it.
  const applyPassword =
    pw.password !== undefined &&
    ((p.st.passwordSecretVersion !== undefined && p.st.passwordSecretVersion !== pw.version) || (p.st.passwordSecretVersion === undefined && own.kind === 'unowned' && pw.generated));
  if (p.st.passwordSecretVersion === undefined && pw.version !== undefined && !applyPassword) p.st.passwordSecretVersion = pw.version;
  const diff = serverPatch(az, server, { skipBackupRetention: bpOwner !== undefined, tags, ...(applyPassword ? { adminPassword: pw.password! } : {}) });
  if (diff) {
    p.st.appliedTags = Object.keys(az.tags ?? {}).sort();
    if (applyPassword) p.st.passwordSecretVersion = pw.version;
    const verb = own.kind === 'unowned' ? 'Adopting' : 'Updating';
    return begin(p, 'servers.update', az.name, diff.patch, verb, `${verb.toLowerCase()} server ${az.name}: ${diff.changed.join(', ')}`);
  }
  p.st.appliedTags = Object.keys(az.tags ?? {}).sort();

  // 5. Firewall rules (only when the spec lists them: then the list is the whole set).
  if (az.network?.firewallRules !== undefined) {
    const steps = firewallSteps(az, await cachedList(clients, rg, az.name, 'firewall', (o) => clients.postgres.firewallRules.listByServer(rg, az.name, o)));
    const s = steps[0];
    if (s) {
      return s.op === 'put'
        ? begin(p, 'firewallRules.createOrUpdate', s.name, { startIpAddress: s.startIpAddress, endIpAddress: s.endIpAddress }, 'Updating', `setting firewall rule ${s.name} (${s.startIpAddress}-${s.endIpAddress})`)
        : begin(p, 'firewallRules.delete', s.name, undefined, 'Updating', `deleting firewall rule ${s.name}, not in the spec`);
    }
  }

  // 6. Server parameters, then the restart they may need.
  const desiredParams = desiredParameters(ctx.spec);
  let pending: string[] = [];
  if (Object.keys(desiredParams).length) {
    const configs = await cachedList(clients, rg, az.name, 'configurations', (o) => clients.postgres.configurations.listByServer(rg, az.name, o));
    const s = parameterSteps(desiredParams, configs)[0];
    if (s) return begin(p, 'configurations.update', s.name, { value: s.value, source: 'user-override' }, 'Updating', `setting server parameter ${s.name}`);
    pending = pendingRestartParameters(configs);
  }
  p.fields.pendingRestart = pending.length > 0;
  p.fields.parametersPendingRestart = pending.length ? pending : null;
  let restartNote = '';
  if (pending.length) {
    const mw = az.maintenanceWindow;
    if (az.restartPolicy === 'Immediate' || (az.restartPolicy === 'MaintenanceWindow' && mw && inMaintenanceWindow(mw, new Date()))) {
      p.st.restartDueAt = undefined;
      return begin(p, 'servers.restart', az.name, undefined, 'Restarting', `restarting ${az.name} to apply ${pending.join(', ')} (restartPolicy ${az.restartPolicy})`);
    }
    if (az.restartPolicy === 'MaintenanceWindow' && mw) {
      p.st.restartDueAt = maintenanceWindowStart(mw, new Date()).toISOString();
      restartNote = `; ${pending.join(', ')} wait for the restart at ${p.st.restartDueAt}`;
    } else {
      p.st.restartDueAt = undefined;
      restartNote = `; ${pending.join(', ')} wait for a restart (${az.restartPolicy === 'Manual' ? 'restartPolicy Manual: restart the server yourself' : 'no maintenanceWindow in the spec: restart the server yourself'})`;
    }
  } else p.st.restartDueAt = undefined;

  // 7. Microsoft Entra administrators (the spec's list is the whole set when present).
  if (az.entraAdministrators !== undefined) {
    const s = adminSteps(az, await cachedList(clients, rg, az.name, 'administrators', (o) => clients.postgres.administratorsMicrosoftEntra.listByServer(rg, az.name, o)))[0];
    if (s) {
      return s.op === 'put'
        ? begin(p, 'administrators.create', s.objectId, s.body, 'Updating', `adding Entra administrator ${s.body.principalName}`)
        : begin(p, 'administrators.delete', s.objectId, undefined, 'Updating', `removing Entra administrator ${s.objectId}, not in the spec`);
    }
  }

  // 8. Read replicas: create missing ones, delete ours that left the spec, report them.
  const replicaStatus: { name: string; state?: string; fqdn?: string }[] = [];
  for (const r of az.readReplicas ?? []) {
    const rs = await getServer(clients, rg, r.name, true);
    if (!rs) {
      const rtags = { ...desiredTags(az, undefined, owner, 'created'), 'tenantdb-replica-of': az.name };
      return begin(p, 'replicas.create', r.name, replicaCreateBody(az, r, server.id!, rtags), 'Updating', `creating read replica ${r.name} (${r.location ?? az.location})`);
    }
    replicaStatus.push({ name: r.name, ...(rs.state ? { state: rs.state } : {}), ...(rs.fullyQualifiedDomainName ? { fqdn: rs.fullyQualifiedDomainName } : {}) });
  }
  p.fields.replicas = replicaStatus.length ? replicaStatus : null;
  // Replicas to delete can only exist when the spec lists replicas or status reported some before.
  if (az.readReplicas !== undefined || (ctx.status.replicas ?? []).length > 0) {
    const existing = await cachedList(clients, rg, az.name, 'replicas', (o) => clients.postgres.replicas.listByServer(rg, az.name, o));
    const gone = replicasToDelete(az, existing, owner)[0];
    if (gone) return begin(p, 'replicas.delete', gone, undefined, 'Updating', `deleting read replica ${gone}, not in the spec`);
  }
  const notReady = replicaStatus.find((r) => r.state !== 'Ready');
  if (notReady) serversOf(clients, rg).touch(notReady.name);
  if (notReady) return outcome(p, cond(false, 'Updating', `read replica ${notReady.name} is ${notReady.state ?? 'unknown'}`, false), { requeueAfterMs: DEFAULT_POLL_MS });

  return outcome(p, cond(true, 'ServerReady', `server ${az.name} is Ready and matches the spec${restartNote}`), { connection: connectionOf(az, server, pw.password, clients) });
}

function newPass(ctx: TenantDatabaseContext, az: AzureServerSpec, clients: AzureClients | undefined): Pass {
  return {
    ctx,
    az,
    clients: clients as AzureClients,
    owner: ownerValue(ctx.namespace, ctx.name),
    st: { ...(ctx.status.azure ?? {}) },
    fields: {},
  };
}

export const azureServerPart: ServerPart = {
  async reconcile(ctx) {
    const az = ctx.spec.server.azure!;
    const creds = clientsFor(ctx, az);
    const p = newPass(ctx, az, creds.clients);
    if (creds.problem) {
      if (creds.problem.stalled) return outcome(p, creds.problem);
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

  async finalize(ctx) {
    const az = ctx.spec.server.azure!;
    if (ctx.spec.deletionPolicy !== 'Delete') return { done: true };
    ctx.log.info({ server: az.name }, 'deletionPolicy Delete: removing the servers this object created');
    const creds = clientsFor(ctx, az);
    if (!creds.clients) return { done: false, requeueAfterMs: 30_000, message: creds.problem?.message };
    const clients = creds.clients;
    const owner = ownerValue(ctx.namespace, ctx.name);
    const rg = az.resourceGroup;
    try {
      // Replicas first (a source with replicas cannot go), then the server; only what we created.
      const names = [...(az.readReplicas ?? []).map((r) => r.name), az.name];
      const passStart = Date.now();
      for (const name of names) {
        // Deletion looks at the real state: a list that started during this pass, a GET for an absence.
        const s = await getServer(clients, rg, name, true, passStart);
        if (!s) continue;
        const own = ownershipOf(s.tags, owner);
        if (own.kind !== 'ours' || own.origin !== 'created' || s.tags?.[ORIGIN_TAG] !== 'created') {
          ctx.log.info({ server: name, ownership: own.kind }, 'not deleting a server the operator did not create');
          continue;
        }
        if (s.state === 'Dropping') return { done: false, requeueAfterMs: DEFAULT_POLL_MS, message: `waiting for ${name} to be deleted` };
        await beginOperation({ clients, resourceGroup: rg, server: name }, 'servers.delete', name);
        await ctx.event('Normal', 'Deleting', `deleting server ${name} (deletionPolicy Delete)`);
        return { done: false, requeueAfterMs: DEFAULT_POLL_MS, message: `deleting ${name}` };
      }
      return { done: true };
    } catch (err) {
      const e = classifyArmError(err);
      ctx.log.info({ code: e.code }, 'server deletion not done yet');
      return { done: false, requeueAfterMs: e.retryAfterMs ?? DEFAULT_POLL_MS, message: `${e.code}: ${e.message}` };
    }
  },

  async connectionForCleanup(ctx) {
    const az = ctx.spec.server.azure!;
    const creds = clientsFor(ctx, az);
    if (!creds.clients) return undefined;
    try {
      const s = await getServer(creds.clients, az.resourceGroup, az.name);
      if (!s || s.state !== 'Ready' || !s.fullyQualifiedDomainName) {
        ctx.log.debug({ state: s?.state ?? 'absent' }, 'no server connection for cleanup');
        return undefined;
      }
      const ref = az.administratorPasswordSecretRef;
      return connectionOf(az, s, ref ? ctx.secretValue(ref.name, ref.key) : undefined, creds.clients);
    } catch (err) {
      ctx.log.info({ code: classifyArmError(err).code }, 'server not reachable through ARM for cleanup');
      return undefined;
    }
  },
};
