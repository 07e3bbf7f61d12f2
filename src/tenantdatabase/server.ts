// Which server a TenantDatabase is on and how to reach it: the administrator's connection target
// (Migration runs, BackupPolicy drills, the external server part) and, for the controllers that act on
// the Azure server through ARM (BackupPolicy, AlertRuleSet), where it is and the credentials for it.
// The same rules everywhere, from the object and its Secrets alone, so no controller imports another.
// External servers: the spec's host/port/sslMode, the admin Secret (username, password), the CA Secret.
// Azure: the FQDN as ARM reports it (never status.serverFQDN: status is output, never input), port 5432,
// verify-full, the administrator login and its password Secret.
//
// Ownership before action: every controller acting on an Azure server (BackupPolicy, AlertRuleSet,
// Migration, restore drills) goes through lookupAzureServer, which requires the TenantDatabase to hold
// the server at its current generation (ServerReady=True for metadata.generation, written by the
// TenantDatabase controller only once the server's owner tag names it) and then checks that tag and
// reads the server's id and FQDN from ARM (the shared server directory), never from status fields.
import type { TokenCredential } from '@azure/core-auth';
import type { TenantDatabaseSpec, TenantDatabaseStatus } from '../api/tenantdatabase.js';
import type { AzureClients } from '../azure/clients.js';
import { classifyArmError } from '../azure/errors.js';
import { serversOf } from '../azure/arm/index.js';
import { azureClientsFor } from '../azure/provider.js';
import { checkScope } from '../azure/scope-check.js';
import { operatorScopeDecision } from '../azure/scope-policy.js';
import type { AzureSettings } from '../config.js';
import type { DbTarget } from '../postgres/connections.js';
import type { KubeObject } from '../runtime/kubeclient.js';
import type { Manager } from '../runtime/manager.js';
import { primaryServerName } from './promotion.js';
import { entraAdminLogin, entraLoginPossible } from './entra-login.js';
import { TENANT_DATABASES, tenantDatabaseSpecOf, tenantDatabaseStatusOf } from './view.js';

/** Tag naming the TenantDatabase (`<namespace>/<name>`) that holds a server; the server part writes it (OWNER_TAG there). */
export const SERVER_OWNER_TAG = 'tenantdb-owner';

/** Every field optional, recursively: what a partly filled object (a test, a copy) may hold. */
type Partly<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]?: Partly<T[K]> } : T;

/** The parts of a TenantDatabase adminTarget reads (the parsed spec fits; status is never read). */
export interface TenantDatabaseLike {
  spec?: Partly<Pick<TenantDatabaseSpec, 'server' | 'database' | 'roles'>> | undefined;
  status?: Pick<TenantDatabaseStatus, 'serverFQDN'> | undefined;
}

/** `passwordLoginsRefused`: the server accepts no password logins (Azure passwordAuth off), so only token logins work. */
export type AdminTargetResult = { ok: true; target: DbTarget; ownerRole: string; passwordLoginsRefused?: boolean } | { ok: false; reason: string; message: string };

export type SecretValueFn = (secretName: string, key: string) => string | undefined;

/**
 * The administrator's target for the object's database, or why it cannot be built (reason for a
 * condition). On Azure the host is `azureHost`, the FQDN as ARM reports it (lookupAzureServer): status
 * is output, never input, so a status.serverFQDN someone wrote never decides where the password goes.
 */
export function adminTarget(td: TenantDatabaseLike, secretValue: SecretValueFn, azureHost?: string): AdminTargetResult {
  const spec = td.spec;
  const database = spec?.database?.name;
  const ownerRole = spec?.roles?.owner;
  if (!database || !ownerRole) return { ok: false, reason: 'InvalidSpec', message: 'the TenantDatabase names no database or owner role' };
  const ext = spec?.server?.external;
  if (ext) return externalTarget(ext, database, ownerRole, secretValue);
  const az = spec?.server?.azure;
  if (az) {
    if (!azureHost) return { ok: false, reason: 'ServerNotReady', message: 'the server has no fully qualified domain name in Azure yet' };
    const user = az.administratorLogin;
    const ref = az.administratorPasswordSecretRef;
    if (!user || !ref?.name) return { ok: false, reason: 'NoAdministratorLogin', message: 'spec.server.azure has no administratorLogin/administratorPasswordSecretRef (password authentication is needed to connect)' };
    const key = ref.key ?? 'password';
    const password = secretValue(ref.name, key);
    if (password === undefined) return { ok: false, reason: 'AdminSecretMissing', message: `Secret ${ref.name} (spec.server.azure.administratorPasswordSecretRef) is missing or lacks the key ${key}` };
    return { ok: true, ownerRole, target: { host: azureHost, port: 5432, sslMode: 'verify-full', user, password, database } };
  }
  return { ok: false, reason: 'InvalidSpec', message: 'spec.server names neither azure nor external' };
}

type ExternalLike = NonNullable<NonNullable<NonNullable<TenantDatabaseLike['spec']>['server']>['external']>;

function externalTarget(ext: ExternalLike, database: string, ownerRole: string, secretValue: SecretValueFn): AdminTargetResult {
  if (!ext.host) return { ok: false, reason: 'InvalidSpec', message: 'spec.server.external.host is not set' };
  const adminSecret = ext.adminSecretRef?.name;
  if (!adminSecret) return { ok: false, reason: 'InvalidSpec', message: 'spec.server.external.adminSecretRef is not set' };
  const user = secretValue(adminSecret, 'username');
  const password = secretValue(adminSecret, 'password');
  if (user === undefined || password === undefined) {
    return { ok: false, reason: 'AdminSecretMissing', message: `Secret ${adminSecret} (spec.server.external.adminSecretRef) is missing or lacks the keys username and password` };
  }
  let caPem: string | undefined;
  if (ext.caSecretRef?.name) {
    const key = ext.caSecretRef.key ?? 'ca.crt';
    caPem = secretValue(ext.caSecretRef.name, key);
    if (caPem === undefined) return { ok: false, reason: 'CASecretMissing', message: `Secret ${ext.caSecretRef.name} (spec.server.external.caSecretRef) is missing or lacks the key ${key}` };
  }
  return {
    ok: true,
    ownerRole,
    target: { host: ext.host, port: ext.port ?? 5432, sslMode: ext.sslMode ?? 'verify-full', ...(caPem !== undefined ? { caPem } : {}), user, password, database },
  };
}

/**
 * adminTarget for a cached TenantDatabase (spec parsed with its schema; an invalid spec is InvalidSpec).
 * On Azure the server goes through lookupAzureServer (held at the current generation, the FQDN from
 * ARM); without `arm` an Azure TenantDatabase has no target.
 */
export async function adminTargetOf(td: KubeObject, secretValue: SecretValueFn, arm?: { mgr: Manager; azure: AzureSettings; kind: string }): Promise<AdminTargetResult> {
  const spec = tenantDatabaseSpecOf(td);
  if (!spec) return { ok: false, reason: 'InvalidSpec', message: `TenantDatabase ${td.metadata.name} has an invalid spec` };
  if (!spec.server.azure) return adminTarget({ spec }, secretValue);
  if (!arm) return { ok: false, reason: 'ServerNotReady', message: `TenantDatabase ${td.metadata.name} is on Azure and its server was not looked up` };
  const lookup = await lookupAzureServer(arm.mgr, td.metadata.namespace, td.metadata.name, arm.kind, arm.azure);
  if (!lookup.ok) return { ok: false, reason: lookup.reason, message: lookup.message };
  return azureAdminTarget(spec, secretValue, lookup.server.fqdn, lookup.server.clients.credential);
}

/**
 * The administrator's target on an Azure server at `fqdn` (the TenantDatabase's server, or a restored copy
 * of it): the operator's identity as an Entra administrator logs in with a token (entra-login.ts); else
 * the administrator password.
 */
export async function azureAdminTarget(spec: TenantDatabaseSpec, secretValue: SecretValueFn, fqdn: string | undefined, credential: TokenCredential): Promise<AdminTargetResult> {
  const az = spec.server.azure;
  if (az && entraLoginPossible(az) && fqdn) {
    const r = await entraAdminLogin(az, credential);
    if (r.ok) {
      const target = { host: fqdn, port: 5432, sslMode: 'verify-full' as const, user: r.user, password: '', token: r.token, database: spec.database.name };
      return { ok: true, ownerRole: spec.roles.owner, target, ...(az.authentication?.passwordAuth === false ? { passwordLoginsRefused: true } : {}) };
    }
  }
  return adminTarget({ spec }, secretValue, fqdn);
}

export interface AzureServerRef {
  td: KubeObject;
  /** The TenantDatabase's parsed spec. */
  spec: TenantDatabaseSpec;
  subscriptionId: string;
  resourceGroup: string;
  serverName: string;
  location: string;
  /** ARM id of the server as ARM reports it. */
  serverId: string;
  /** Its FQDN as ARM reports it. */
  fqdn: string | undefined;
  /** Decoded data of spec.server.azure.credentialsSecretRef, when set. */
  credentialsSecretData: Record<string, string> | undefined;
  /** The clients the server was read with (the object's credentials). */
  clients: AzureClients;
}

/**
 * Why the server cannot be acted on yet (waiting) or at all (stalled). `exists`: the server has been
 * created in Azure (it may still be busy); false when it never was or is gone. `retry`: a transient
 * failure (ARM unreachable, throttled) rather than a wait the TenantDatabase's watch ends.
 */
export type ServerLookup =
  | { ok: true; server: AzureServerRef }
  | { ok: false; state: 'Reconciling' | 'Stalled'; reason: string; message: string; exists?: boolean; retry?: boolean };

type LookupFailure = Extract<ServerLookup, { ok: false }>;

/** Reasons of ServerReady=False that mean the TenantDatabase does not hold its server (until someone acts). */
const NOT_HELD = new Set(['OwnedByAnother', 'AdoptionRequired']);

/** The TenantDatabase holds its server at its current generation (its ServerReady condition), or why not. */
export function serverHeld(td: KubeObject, kind: string): LookupFailure | undefined {
  const name = td.metadata.name;
  const status = tenantDatabaseStatusOf(td);
  const c = status.conditions?.find((x) => x.type === 'ServerReady');
  const gen = td.metadata.generation;
  if (c?.status === 'False' && NOT_HELD.has(c.reason)) {
    return { ok: false, state: 'Stalled', reason: 'ServerNotHeld', message: `TenantDatabase ${name} does not hold its server (${c.reason}: ${c.message}); this ${kind} acts only on a server its TenantDatabase owns`, exists: true };
  }
  if (c?.status !== 'True' || gen === undefined || c.observedGeneration !== gen) {
    const why = !c ? 'is not reported yet' : c.status !== 'True' ? `is not ready (${c.reason}: ${c.message})` : `has changes not reconciled yet (generation ${gen})`;
    return { ok: false, state: 'Reconciling', reason: 'ServerNotReady', message: `waiting for the server of TenantDatabase ${name}: it ${why}`, exists: Boolean(status.azureResourceId) };
  }
  return undefined;
}

/**
 * The Azure server of TenantDatabase `databaseName`, held by it (serverHeld) and confirmed by ARM: its
 * owner tag names the TenantDatabase; its id and FQDN are ARM's. The one way any controller gets at a
 * server to act on it.
 */
export async function lookupAzureServer(mgr: Manager, namespace: string | undefined, databaseName: string, kind: string, azure: AzureSettings): Promise<ServerLookup> {
  const td = mgr.getCached(TENANT_DATABASES, namespace, databaseName);
  if (!td) return { ok: false, state: 'Reconciling', reason: 'DatabaseNotFound', message: `waiting for TenantDatabase ${databaseName}, which does not exist` };
  const spec = tenantDatabaseSpecOf(td);
  if (!spec) return { ok: false, state: 'Stalled', reason: 'DatabaseInvalid', message: `TenantDatabase ${databaseName} has an invalid spec (its status says why)` };
  const az = spec.server.azure;
  if (!az) {
    return { ok: false, state: 'Stalled', reason: 'ExternalServer', message: `TenantDatabase ${databaseName} is on an external server; a ${kind} applies only to servers on Azure (spec.server.azure)` };
  }
  const notHeld = serverHeld(td, kind);
  if (notHeld) return notHeld;
  let credentialsSecretData: Record<string, string> | undefined;
  if (az.credentialsSecretRef) {
    credentialsSecretData = namespace ? await mgr.getSecretData(namespace, az.credentialsSecretRef.name) : undefined;
    if (!credentialsSecretData) {
      return { ok: false, state: 'Reconciling', reason: 'CredentialsSecretNotFound', message: `waiting for Secret ${az.credentialsSecretRef.name} (Azure credentials of TenantDatabase ${databaseName})` };
    }
  }
  if (!az.credentialsSecretRef && namespace) {
    // The operator's own identity: only where the installer's policy grants this namespace (as for the
    // TenantDatabase itself; checked again here so a narrowed policy stops every controller at once).
    const scope = { subscriptionId: az.subscriptionId, resourceGroup: az.resourceGroup };
    const d = await checkScope(mgr, azure.scopePolicy, namespace, (facts) => operatorScopeDecision(azure.scopePolicy, facts, scope));
    if (!d.allowed) return { ok: false, state: d.reason === 'NamespaceUnreadable' ? 'Reconciling' : 'Stalled', reason: d.reason, message: d.message, retry: d.reason === 'NamespaceUnreadable' };
  }
  const base = { td, spec, subscriptionId: az.subscriptionId, resourceGroup: az.resourceGroup, serverName: az.name, location: az.location, credentialsSecretData };
  return confirmedByArm(base, azure, `${td.metadata.namespace}/${databaseName}`, kind);
}

type ServerBase = Omit<AzureServerRef, 'serverId' | 'fqdn' | 'clients'>;

/** The server as ARM reports it (the shared, cached server directory), tagged with `owner`. */
async function confirmedByArm(base: ServerBase, azure: AzureSettings, owner: string, kind: string): Promise<ServerLookup> {
  const { td } = base;
  let name = base.serverName;
  const db = td.metadata.name;
  let clients: AzureClients;
  let s;
  try {
    clients = azureClientsFor(azure, { subscriptionId: base.subscriptionId, ...(base.credentialsSecretData ? { credentialsSecretData: base.credentialsSecretData } : {}) });
    const dir = serversOf(clients, base.resourceGroup);
    // After a promotion the spec names the replica and ARM confirms it is the primary (promotion.ts).
    name = await primaryServerName({ name, promotion: base.spec.server.azure?.promotion }, owner, SERVER_OWNER_TAG, (n) => dir.get(n));
    // The TenantDatabase holds the server, so it existed: a list that lacks it may predate it (taken
    // before someone else's create). One GET is the authority on one server before we say "gone".
    s = (await dir.get(name)) ?? (await dir.read(name));
  } catch (err) {
    if ((err as Error).name === 'CredentialSecretError') return { ok: false, state: 'Stalled', reason: 'CredentialsInvalid', message: `the Azure credentials of TenantDatabase ${db}: ${(err as Error).message}` };
    const e = classifyArmError(err);
    return { ok: false, state: 'Reconciling', reason: 'AzureRetrying', message: `reading server ${name} from Azure: ${e.code}: ${e.message}`, retry: true };
  }
  if (!s) return { ok: false, state: 'Reconciling', reason: 'ServerNotReady', message: `waiting for server ${name} of TenantDatabase ${db}: Azure does not report it`, exists: false, retry: true };
  const tagged = s.tags?.[SERVER_OWNER_TAG];
  if (tagged !== owner) {
    const who = tagged === undefined ? 'carries no owner tag' : `is tagged ${SERVER_OWNER_TAG}=${tagged}`;
    return { ok: false, state: 'Stalled', reason: 'ServerNotHeld', message: `server ${name} ${who} in Azure, not ${owner}; this ${kind} acts only on a server its TenantDatabase owns`, exists: true };
  }
  // Its state is not asked here: the TenantDatabase's ServerReady says it was Ready, and a server busy
  // with a caller's own write (a retention PATCH) must not stop that caller from following it.
  if (!s.id) return { ok: false, state: 'Reconciling', reason: 'ServerNotReady', message: `waiting for server ${name} of TenantDatabase ${db}: Azure reports no id for it`, exists: true, retry: true };
  const location = name === base.serverName ? base.location : (base.spec.server.azure?.readReplicas?.find((r) => r.name === name)?.location ?? base.location);
  return { ok: true, server: { ...base, serverName: name, location, serverId: s.id, fqdn: s.fullyQualifiedDomainName, clients } };
}
