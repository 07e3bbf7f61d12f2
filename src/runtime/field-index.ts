// A field index over an informer's cache, as controller-runtime's FieldIndexer.IndexField: an index
// function names the values an object is found under (e.g. the Secrets a TenantDatabase reads), and a
// lookup answers "which objects of this namespace have this value" without scanning the cache. Kept
// current by the informer's add/update/delete handlers, so watch map functions cost O(answers).
import { objectKey } from './informer.js';
import type { KubeObject } from './kubeclient.js';

export type IndexFunc = (obj: KubeObject) => readonly string[];

/** The index key of a value in a namespace (values of different namespaces never mix). */
function indexKey(namespace: string | undefined, value: string): string {
  return `${namespace ?? ''}\u0000${value}`;
}

export class FieldIndex {
  /** index key → keys of the objects found under it */
  private readonly entries = new Map<string, Set<string>>();
  /** object key → the index keys it is found under now (to undo on update/delete) */
  private readonly valuesOf = new Map<string, string[]>();

  constructor(
    readonly name: string,
    private readonly fn: IndexFunc,
  ) {}

  /** Adds or re-indexes an object. An index function that throws indexes the object under nothing. */
  upsert(obj: KubeObject): void {
    let values: readonly string[];
    try {
      values = this.fn(obj);
    } catch {
      values = [];
    }
    const key = objectKey(obj);
    const next = [...new Set(values)].map((v) => indexKey(obj.metadata.namespace, v));
    this.unlink(key);
    if (next.length === 0) return;
    this.valuesOf.set(key, next);
    for (const k of next) {
      let set = this.entries.get(k);
      if (!set) this.entries.set(k, (set = new Set()));
      set.add(key);
    }
  }

  delete(obj: KubeObject): void {
    this.unlink(objectKey(obj));
  }

  /** Keys (namespace/name) of the objects of `namespace` indexed under `value`. */
  keys(namespace: string | undefined, value: string): string[] {
    return [...(this.entries.get(indexKey(namespace, value)) ?? [])];
  }

  /** Number of indexed objects (diagnostics and tests). */
  get size(): number {
    return this.valuesOf.size;
  }

  private unlink(key: string): void {
    const prev = this.valuesOf.get(key);
    if (!prev) return;
    this.valuesOf.delete(key);
    for (const k of prev) {
      const set = this.entries.get(k);
      set?.delete(key);
      if (set?.size === 0) this.entries.delete(k);
    }
  }
}
