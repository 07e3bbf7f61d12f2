// Which server a TenantDatabase is on and how to reach it: the administrator's connection target
// (Migration runs, BackupPolicy drills, the external server part) and, for the controllers that act on
// the Azure server through ARM (BackupPolicy, AlertRuleSet), where it is and the credentials for it.
// The same rules everywhere, from the object and its Secrets alone, so no controller imports another.
// External servers: the spec's host/port/sslMode, the admin Secret (username, password), the CA Secret.
// Azure: the FQDN the server part recorded in status, port 5432, verify-full, the administrator login and
// its password Secret.
import type { TenantDatabaseSpec, TenantDatabaseStatus } from '../api/tenantdatabase.js';
import type { DbTarget } from '../postgres/connections.js';
import type { KubeObject } from '../runtime/kubeclient.js';
import type { Manager } from '../runtime/manager.js';
import { TENANT_DATABASES, tenantDatabaseSpecOf, tenantDatabaseStatusOf } from './view.js';

/** Every field optional, recursively: what a partly filled object (a test, a copy with another FQDN) may hold. */
type Partly<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]?: Partly<T[K]> } : T;

/** The parts of a TenantDatabase adminTarget reads (the parsed spec and status both fit). */
export interface TenantDatabaseLike {
  spec?: Partly<Pick<TenantDatabaseSpec, 'server' | 'database' | 'roles'>> | undefined;
  status?: Pick<TenantDatabaseStatus, 'serverFQDN'> | undefined;
}

export type AdminTargetResult = { ok: true; target: DbTarget; ownerRole: string } | { ok: false; reason: string; message: string };

export type SecretValueFn = (secretName: string, key: string) => string | undefined;

/** The administrator's target for the object's database, or why it cannot be built (reason for a condition). */
export function adminTarget(td: TenantDatabaseLike, secretValue: SecretValueFn): AdminTargetResult {
  const spec = td.spec;
  const database = spec?.database?.name;
  const ownerRole = spec?.roles?.owner;
  if (!database || !ownerRole) return { ok: false, reason: 'InvalidSpec', message: 'the TenantDatabase names no database or owner role' };
  const ext = spec?.server?.external;
  if (ext) return externalTarget(ext, database, ownerRole, secretValue);
  const az = spec?.server?.azure;
  if (az) {
    const host = td.status?.serverFQDN;
    if (!host) return { ok: false, reason: 'ServerNotReady', message: 'the server has no fully qualified domain name in status yet' };
    const user = az.administratorLogin;
    const ref = az.administratorPasswordSecretRef;
    if (!user || !ref?.name) return { ok: false, reason: 'NoAdministratorLogin', message: 'spec.server.azure has no administratorLogin/administratorPasswordSecretRef (password authentication is needed to connect)' };
    const key = ref.key ?? 'password';
    const password = secretValue(ref.name, key);
    if (password === undefined) return { ok: false, reason: 'AdminSecretMissing', message: `Secret ${ref.name} (spec.server.azure.administratorPasswordSecretRef) is missing or lacks the key ${key}` };
    return { ok: true, ownerRole, target: { host, port: 5432, sslMode: 'verify-full', user, password, database } };
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

/** adminTarget for a cached TenantDatabase (spec parsed with its schema; an invalid spec is InvalidSpec). */
export function adminTargetOf(td: KubeObject, secretValue: SecretValueFn): AdminTargetResult {
  const spec = tenantDatabaseSpecOf(td);
  if (!spec) return { ok: false, reason: 'InvalidSpec', message: `TenantDatabase ${td.metadata.name} has an invalid spec` };
  return adminTarget({ spec, status: tenantDatabaseStatusOf(td) }, secretValue);
}

export interface AzureServerRef {
  td: KubeObject;
  /** The TenantDatabase's parsed spec. */
  spec: TenantDatabaseSpec;
  subscriptionId: string;
  resourceGroup: string;
  serverName: string;
  location: string;
  /** ARM id of the server as the TenantDatabase reports it. */
  serverId: string;
  fqdn: string | undefined;
  /** Decoded data of spec.server.azure.credentialsSecretRef, when set. */
  credentialsSecretData: Record<string, string> | undefined;
}

/**
 * Why the server cannot be acted on yet (waiting) or at all (stalled). `exists`: the server has been
 * created in Azure (it may still be busy); false when it never was or is gone.
 */
export type ServerLookup = { ok: true; server: AzureServerRef } | { ok: false; state: 'Reconciling' | 'Stalled'; reason: string; message: string; exists?: boolean };

/** The Azure server of TenantDatabase `databaseName`, Ready as its controller reports it (caches only). */
export async function lookupAzureServer(mgr: Manager, namespace: string | undefined, databaseName: string, kind: string): Promise<ServerLookup> {
  const td = mgr.getCached(TENANT_DATABASES, namespace, databaseName);
  if (!td) return { ok: false, state: 'Reconciling', reason: 'DatabaseNotFound', message: `waiting for TenantDatabase ${databaseName}, which does not exist` };
  const spec = tenantDatabaseSpecOf(td);
  if (!spec) return { ok: false, state: 'Stalled', reason: 'DatabaseInvalid', message: `TenantDatabase ${databaseName} has an invalid spec (its status says why)` };
  const az = spec.server.azure;
  if (!az) {
    return { ok: false, state: 'Stalled', reason: 'ExternalServer', message: `TenantDatabase ${databaseName} is on an external server; a ${kind} applies only to servers on Azure (spec.server.azure)` };
  }
  const status = tenantDatabaseStatusOf(td);
  if (!status.azureResourceId || status.serverState !== 'Ready') {
    const state = status.serverState ? `is ${status.serverState}` : 'is not reported yet';
    return { ok: false, state: 'Reconciling', reason: 'ServerNotReady', message: `waiting for the server of TenantDatabase ${databaseName}: it ${state}`, exists: Boolean(status.azureResourceId) };
  }
  let credentialsSecretData: Record<string, string> | undefined;
  if (az.credentialsSecretRef) {
    credentialsSecretData = await mgr.getSecretData(namespace ?? 'default', az.credentialsSecretRef.name);
    if (!credentialsSecretData) {
      return { ok: false, state: 'Reconciling', reason: 'CredentialsSecretNotFound', message: `waiting for Secret ${az.credentialsSecretRef.name} (Azure credentials of TenantDatabase ${databaseName})` };
    }
  }
  const server = { td, spec, subscriptionId: az.subscriptionId, resourceGroup: az.resourceGroup, serverName: az.name, location: az.location };
  return { ok: true, server: { ...server, serverId: status.azureResourceId, fqdn: status.serverFQDN, credentialsSecretData } };
}
