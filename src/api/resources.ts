// How controllers and tests name the operator's kinds on the API server: the resource of a kind, the
// controller name (its singular, as metrics and logs show it) and the finalizer every kind holds while
// the operator may still have cleanup to do.
import { API_GROUP, API_VERSION, KINDS, type KindName } from './kinds.js';
import type { ResourceRef } from '../runtime/kubeclient.js';

export const FINALIZER = 'tenantdb.io/finalizer';

export function resourceOf(kind: KindName): ResourceRef {
  return { group: API_GROUP, version: API_VERSION, plural: KINDS[kind].plural };
}

export function controllerName(kind: KindName): string {
  return KINDS[kind].singular;
}
