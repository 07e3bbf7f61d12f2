// Which objects name a TenantDatabase in spec.databaseRef (BackupPolicy, AlertRuleSet, Migration): an
// index per kind, so a TenantDatabase change reaches exactly the objects that refer to it.
import { z } from 'zod';
import type { Request } from '../runtime/controller.js';
import type { KubeObject, ResourceRef } from '../runtime/kubeclient.js';
import type { Manager } from '../runtime/manager.js';
import { requestFor, specOf } from '../runtime/reconcile-kit.js';

/** The one field every referring kind shares; the rest of their specs is theirs. */
const databaseRefSchema = z.looseObject({ databaseRef: z.looseObject({ name: z.string() }).optional() });

/** The TenantDatabase an object's spec.databaseRef names, if any. */
export function databaseRefOf(obj: KubeObject): string | undefined {
  return specOf(obj, databaseRefSchema)?.databaseRef?.name || undefined;
}

/** Index name: objects by the TenantDatabase their spec.databaseRef names. */
export const DATABASE_REF_INDEX = 'spec.databaseRef.name';

/** Registers DATABASE_REF_INDEX on `resource` (idempotent). */
export function indexDatabaseRef(mgr: Manager, resource: ResourceRef): void {
  mgr.indexField(resource, DATABASE_REF_INDEX, (o) => {
    const name = databaseRefOf(o);
    return name ? [name] : [];
  });
}

/** Objects of `resource` in `namespace` whose spec.databaseRef names `database`. */
export function objectsReferring(mgr: Manager, resource: ResourceRef, namespace: string | undefined, database: string): KubeObject[] {
  indexDatabaseRef(mgr, resource);
  return mgr.byIndex(resource, DATABASE_REF_INDEX, namespace, database);
}

/** Watch map: a TenantDatabase → the objects of `resource` whose spec.databaseRef names it. */
export function referrersOf(mgr: Manager, resource: ResourceRef): (td: KubeObject) => Request[] {
  indexDatabaseRef(mgr, resource);
  return (td) => objectsReferring(mgr, resource, td.metadata.namespace, td.metadata.name).map(requestFor);
}
