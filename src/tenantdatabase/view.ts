// A cached TenantDatabase read through its zod schemas: the parsed spec (defaults applied) and status,
// memoized per cached copy. Every question below starts here, so nothing casts `obj.spec`.
import { tenantDatabaseSpecSchema, tenantDatabaseStatusSchema, type TenantDatabaseSpec, type TenantDatabaseStatus } from '../api/tenantdatabase.js';
import { resourceOf } from '../api/resources.js';
import type { KubeObject } from '../runtime/kubeclient.js';
import { specOf, statusOf } from '../runtime/reconcile-kit.js';

/** The TenantDatabase resource (the informer cache's key for it). */
export const TENANT_DATABASES = resourceOf('TenantDatabase');

/** The spec of a cached TenantDatabase, or undefined when it does not validate. */
export function tenantDatabaseSpecOf(td: KubeObject): TenantDatabaseSpec | undefined {
  return specOf(td, tenantDatabaseSpecSchema);
}

/** The status of a cached TenantDatabase as the operator wrote it ({} when there is none yet). */
export function tenantDatabaseStatusOf(td: KubeObject): TenantDatabaseStatus {
  return statusOf(td, tenantDatabaseStatusSchema) ?? {};
}
