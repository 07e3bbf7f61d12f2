// Which Secrets a TenantDatabase reads, and the index that answers "which TenantDatabases read this
// Secret" for every controller's Secret watch.
import { resourceOf } from '../api/resources.js';
import type { TenantDatabaseSpec } from '../api/tenantdatabase.js';
import type { KubeObject } from '../runtime/kubeclient.js';
import type { Manager } from '../runtime/manager.js';

const TENANT_DATABASES = resourceOf('TenantDatabase');

/** Secret names a spec refers to (credentials, admin password, CA); their changes reconcile the object. */
export function referencedSecrets(spec: Partial<TenantDatabaseSpec> | undefined): string[] {
  const names = new Set<string>();
  const az = spec?.server?.azure;
  const ext = spec?.server?.external;
  if (az?.administratorPasswordSecretRef) names.add(az.administratorPasswordSecretRef.name);
  if (az?.credentialsSecretRef) names.add(az.credentialsSecretRef.name);
  if (ext?.adminSecretRef) names.add(ext.adminSecretRef.name);
  if (ext?.caSecretRef) names.add(ext.caSecretRef.name);
  return [...names];
}

/** Index name: TenantDatabases by the Secrets their spec refers to (referencedSecrets). */
export const SECRET_REFS_INDEX = 'spec.secretRefs';

/** The TenantDatabases of `namespace` whose spec refers to Secret `name` (registers the index on first use). */
export function tenantDatabasesUsingSecret(mgr: Manager, namespace: string | undefined, name: string): KubeObject[] {
  indexSecretRefs(mgr);
  return mgr.byIndex(TENANT_DATABASES, SECRET_REFS_INDEX, namespace, name);
}

/** Registers SECRET_REFS_INDEX (idempotent); call it when a controller registers its watches. */
export function indexSecretRefs(mgr: Manager): void {
  mgr.indexField(TENANT_DATABASES, SECRET_REFS_INDEX, (o) => referencedSecrets((o as { spec?: Partial<TenantDatabaseSpec> }).spec));
}
