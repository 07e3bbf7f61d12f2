// Finalizer helpers. Writes carry the object's resourceVersion, so a finalizer list changed by someone
// else in the meantime makes the write fail with 409 (and the reconcile retry) instead of dropping
// their finalizer.
import type { KubeClient, KubeObject, ResourceRef } from './kubeclient.js';

export function hasFinalizer(obj: KubeObject, finalizer: string): boolean {
  return obj.metadata.finalizers?.includes(finalizer) ?? false;
}

export function isBeingDeleted(obj: KubeObject): boolean {
  return Boolean(obj.metadata.deletionTimestamp);
}

async function writeFinalizers(client: KubeClient, ref: ResourceRef, obj: KubeObject, finalizers: string[], fieldManager: string): Promise<KubeObject> {
  return client.patch(
    ref,
    obj.metadata.namespace,
    obj.metadata.name,
    'merge',
    { metadata: { finalizers, resourceVersion: obj.metadata.resourceVersion } },
    { fieldManager },
  );
}

/** Adds `finalizer` if missing; returns the updated object, or the same one when nothing was written. */
export async function ensureFinalizer(client: KubeClient, ref: ResourceRef, obj: KubeObject, finalizer: string, fieldManager: string): Promise<KubeObject> {
  if (hasFinalizer(obj, finalizer)) return obj;
  return writeFinalizers(client, ref, obj, [...(obj.metadata.finalizers ?? []), finalizer], fieldManager);
}

/** Removes `finalizer` if present; returns the updated object, or the same one when nothing was written. */
export async function removeFinalizer(client: KubeClient, ref: ResourceRef, obj: KubeObject, finalizer: string, fieldManager: string): Promise<KubeObject> {
  if (!hasFinalizer(obj, finalizer)) return obj;
  return writeFinalizers(
    client,
    ref,
    obj,
    (obj.metadata.finalizers ?? []).filter((f) => f !== finalizer),
    fieldManager,
  );
}
