// Status writes go only to the /status subresource (a PUT of the main resource would race with spec
// edits and could never change status anyway). A merge patch of just the fields the controller owns,
// skipped entirely when the cached status already holds them.
import { isDeepStrictEqual } from 'node:util';
import type { KubeClient, KubeObject, ResourceRef } from './kubeclient.js';

/** True when every field in `desired` already has that value in `current` (extra fields are ignored). */
export function statusContains(current: unknown, desired: Record<string, unknown>): boolean {
  const cur = (current ?? {}) as Record<string, unknown>;
  // As a merge patch applies (RFC 7386): null removes a field (already done when it is absent), an
  // object merges key by key, anything else (arrays included) replaces.
  return Object.entries(desired).every(([k, v]) => {
    if (v === undefined) return true;
    if (v === null) return cur[k] === undefined || cur[k] === null;
    if (isPlainObject(v) && isPlainObject(cur[k])) return statusContains(cur[k], v);
    return isDeepStrictEqual(cur[k], v);
  });
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Merge-patches `desired` into the object's status. Returns undefined (and writes nothing) when the
 * status already matches, otherwise the updated object.
 */
export async function patchStatus(
  client: KubeClient,
  ref: ResourceRef,
  obj: KubeObject,
  desired: Record<string, unknown>,
  fieldManager: string,
): Promise<KubeObject | undefined> {
  if (statusContains(obj.status, desired)) return undefined;
  return client.patch(ref, obj.metadata.namespace, obj.metadata.name, 'merge', { status: desired }, { subresource: 'status', fieldManager });
}
