// What an informer keeps of each object it caches: everything but the fields no controller reads, as
// client-go's informer transforms (SetTransform) are used to strip managedFields. managedFields and
// kubectl's last-applied-configuration annotation (a second copy of the object as JSON, on everything
// applied with kubectl or Argo CD) are read by no controller here; no controller PUTs a cached object, so
// nothing stripped is ever written back. Optional: the Manager applies it when its `informer.transform`
// option, or per resource its `informer.transformFor` option, is set (src/main.ts sets cacheTransformFor).
import type { KubeObject, ResourceRef } from './kubeclient.js';

export type CacheTransform = (obj: KubeObject) => KubeObject;

export const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** A copy of the object's top level without managedFields and the last-applied annotation. */
export const leanCacheTransform: CacheTransform = (obj) => {
  const meta = obj.metadata as KubeObject['metadata'] & { managedFields?: unknown; annotations?: Record<string, string> };
  if (meta.managedFields === undefined && meta.annotations?.[LAST_APPLIED] === undefined) return obj;
  const { managedFields: _dropped, ...metadata } = meta;
  if (metadata.annotations?.[LAST_APPLIED] !== undefined) {
    const { [LAST_APPLIED]: _last, ...rest } = metadata.annotations;
    metadata.annotations = rest;
  }
  return { ...obj, metadata } as KubeObject;
};

/**
 * ConfigMaps: a Migration reads `data` by key and only checks whether `binaryData` has keys (it refuses
 * binary steps), so binary values are cached as empty strings, keys kept.
 */
export const configMapCacheTransform: CacheTransform = (obj) => {
  const lean = leanCacheTransform(obj);
  const binary = (lean as { binaryData?: Record<string, string> }).binaryData;
  if (!binary || Object.values(binary).every((v) => v === '')) return lean;
  return { ...lean, binaryData: Object.fromEntries(Object.keys(binary).map((k) => [k, ''])) } as KubeObject;
};

/** The transform for each resource the operator caches (the Manager's `informer.transformFor`). */
export function cacheTransformFor(resource: ResourceRef): CacheTransform {
  return resource.group === '' && resource.plural === 'configmaps' ? configMapCacheTransform : leanCacheTransform;
}
