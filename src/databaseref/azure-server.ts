// What the BackupPolicy and AlertRuleSet controllers need from the TenantDatabase they name: that it is
// on Azure, that its server exists and is Ready (as the TenantDatabase controller reports in status),
// where the server is, and the decoded credentials Secret for ARM. Read from the informer caches only.
import { API_GROUP, API_VERSION, KINDS } from '../api/kinds.js';
import type { KubeObject, ResourceRef } from '../runtime/kubeclient.js';
import type { Manager } from '../runtime/manager.js';
import type { Request } from '../runtime/controller.js';
import { cachedSecretData, SECRETS } from '../runtime/reconcile-kit.js';

export const TENANT_DATABASES: ResourceRef = { group: API_GROUP, version: API_VERSION, plural: KINDS.TenantDatabase.plural };
export { SECRETS };

export interface AzureServerRef {
  td: KubeObject;
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

/** Why the server cannot be acted on yet (waiting) or at all (stalled). */
/** `exists`: the server has been created in Azure (it may still be busy); false when it never was or is gone. */
export type ServerLookup = { ok: true; server: AzureServerRef } | { ok: false; state: 'Reconciling' | 'Stalled'; reason: string; message: string; exists?: boolean };

interface AzureSpec {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  location: string;
  credentialsSecretRef?: { name: string };
}

/** Decoded data of a cached Secret, undefined when it is absent. */
export const secretData = cachedSecretData;

export function lookupAzureServer(mgr: Manager, namespace: string | undefined, databaseName: string, kind: string): ServerLookup {
  const td = mgr.getCached(TENANT_DATABASES, namespace, databaseName);
  if (!td) return { ok: false, state: 'Reconciling', reason: 'DatabaseNotFound', message: `waiting for TenantDatabase ${databaseName}, which does not exist` };
  const server = ((td.spec ?? {}) as { server?: { azure?: AzureSpec; external?: unknown } }).server;
  if (!server?.azure) {
    return {
      ok: false,
      state: 'Stalled',
      reason: 'ExternalServer',
      message: `TenantDatabase ${databaseName} is on an external server; a ${kind} applies only to servers on Azure (spec.server.azure)`,
    };
  }
  const az = server.azure;
  const status = (td.status ?? {}) as { azureResourceId?: string; serverFQDN?: string; serverState?: string };
  if (!status.azureResourceId || status.serverState !== 'Ready') {
    const state = status.serverState ? `is ${status.serverState}` : 'is not reported yet';
    return { ok: false, state: 'Reconciling', reason: 'ServerNotReady', message: `waiting for the server of TenantDatabase ${databaseName}: it ${state}`, exists: Boolean(status.azureResourceId) };
  }
  let credentialsSecretData: Record<string, string> | undefined;
  if (az.credentialsSecretRef) {
    credentialsSecretData = secretData(mgr, namespace, az.credentialsSecretRef.name);
    if (!credentialsSecretData) {
      return { ok: false, state: 'Reconciling', reason: 'CredentialsSecretNotFound', message: `waiting for Secret ${az.credentialsSecretRef.name} (Azure credentials of TenantDatabase ${databaseName})` };
    }
  }
  return {
    ok: true,
    server: {
      td,
      subscriptionId: az.subscriptionId,
      resourceGroup: az.resourceGroup,
      serverName: az.name,
      location: az.location,
      serverId: status.azureResourceId,
      fqdn: status.serverFQDN,
      credentialsSecretData,
    },
  };
}

/** Watch map: a TenantDatabase → the objects of `resource` whose spec.databaseRef names it. */
export function referrersOf(mgr: Manager, resource: ResourceRef): (td: KubeObject) => Request[] {
  return (td) =>
    mgr
      .listCached(resource, td.metadata.namespace)
      .filter((o) => ((o.spec ?? {}) as { databaseRef?: { name?: string } }).databaseRef?.name === td.metadata.name)
      .map((o) => ({ namespace: o.metadata.namespace, name: o.metadata.name }));
}

/** Replaces every occurrence of the given secret values in a text (ARM echoes request bodies in errors). */
export function redact(text: string, secrets: Iterable<string>): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('[REDACTED]');
  return out;
}
