// Which Secrets a TenantDatabase reads, and the index that answers the reverse ("which TenantDatabases
// read this Secret") for every controller's Secret watch.
import type { TenantDatabaseSpec } from '../api/tenantdatabase.js';
import type { KubeObject } from '../runtime/kubeclient.js';
import type { Manager } from '../runtime/manager.js';
import { TENANT_DATABASES, tenantDatabaseSpecOf } from './view.js';

type SpecSecrets = { server?: Partial<Pick<TenantDatabaseSpec['server'], 'azure' | 'external'>>; entraPrincipals?: TenantDatabaseSpec['entraPrincipals'] } | undefined;

/** Secret names a spec refers to (credentials, admin password, CA); their changes reconcile the object. */
export function referencedSecrets(spec: SpecSecrets): string[] {
  const names = new Set<string>();
  const az = spec?.server?.azure;
  const ext = spec?.server?.external;
  if (az?.administratorPasswordSecretRef) names.add(az.administratorPasswordSecretRef.name);
  if (az?.credentialsSecretRef) names.add(az.credentialsSecretRef.name);
  if (ext?.adminSecretRef) names.add(ext.adminSecretRef.name);
  if (ext?.caSecretRef) names.add(ext.caSecretRef.name);
  const migrations = migrationsPrincipalSecret(spec);
  if (migrations) names.add(migrations);
  return [...names];
}

/** The Secrets the administrator's connection reads (adminTarget): admin user/password and CA. */
export function adminSecrets(spec: SpecSecrets): string[] {
  const az = spec?.server?.azure;
  const ext = spec?.server?.external;
  return [ext?.adminSecretRef?.name, ext?.caSecretRef?.name, az?.administratorPasswordSecretRef?.name].filter((n): n is string => !!n);
}

/** The migrations principal (spec.entraPrincipals access: migrations; CEL allows one), if any. */
export function migrationsPrincipal(spec: SpecSecrets): NonNullable<TenantDatabaseSpec['entraPrincipals']>[number] | undefined {
  return spec?.entraPrincipals?.find((p) => p.access === 'migrations');
}

/** The credentials Secret of the migrations principal, if any. */
export function migrationsPrincipalSecret(spec: SpecSecrets): string | undefined {
  return migrationsPrincipal(spec)?.credentialsSecretRef?.name;
}

/** The Secrets ARM calls for the server read (the credentials Secret, and the administrator password). */
export function azureSecrets(spec: SpecSecrets): string[] {
  const az = spec?.server?.azure;
  return [az?.credentialsSecretRef?.name, az?.administratorPasswordSecretRef?.name].filter((n): n is string => !!n);
}

/** Index name: TenantDatabases by the Secrets their spec refers to (referencedSecrets). */
export const SECRET_REFS_INDEX = 'spec.secretRefs';

/** Registers SECRET_REFS_INDEX (idempotent); call it where a controller registers its watches. */
export function indexSecretRefs(mgr: Manager): void {
  mgr.indexField(TENANT_DATABASES, SECRET_REFS_INDEX, (td) => referencedSecrets(tenantDatabaseSpecOf(td)));
}

/** The TenantDatabases of `namespace` whose spec refers to Secret `name` (registers the index on first use). */
export function tenantDatabasesUsingSecret(mgr: Manager, namespace: string | undefined, name: string): KubeObject[] {
  indexSecretRefs(mgr);
  return mgr.byIndex(TENANT_DATABASES, SECRET_REFS_INDEX, namespace, name);
}
