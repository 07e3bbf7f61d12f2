// In-memory resource store keyed by ARM resource id. Ids compare case-insensitively, as ARM does;
// the stored document keeps the casing of the request that created it.

export type Json = Record<string, unknown>;

export function normalizeId(id: string): string {
  return id.replace(/\/+$/, '').toLowerCase();
}

export class ResourceStore {
  private items = new Map<string, Json>();

  get<T extends Json = Json>(id: string): T | undefined {
    return this.items.get(normalizeId(id)) as T | undefined;
  }

  has(id: string): boolean {
    return this.items.has(normalizeId(id));
  }

  put<T extends Json>(id: string, doc: T): T {
    this.items.set(normalizeId(id), doc);
    return doc;
  }

  delete(id: string): boolean {
    return this.items.delete(normalizeId(id));
  }

  /** Deletes a resource and everything under it (child resources, or a resource group's contents). */
  deleteTree(id: string): void {
    const key = normalizeId(id);
    for (const k of [...this.items.keys()]) if (k === key || k.startsWith(key + '/')) this.items.delete(k);
  }

  /**
   * Direct children of `parentId` whose id continues with `/<typeSegment>/<name>`, e.g.
   * list('/subscriptions/s/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/a', 'databases').
   */
  list<T extends Json = Json>(parentId: string, typeSegment: string): T[] {
    const prefix = normalizeId(parentId) + '/' + typeSegment.toLowerCase() + '/';
    const out: T[] = [];
    for (const [k, v] of this.items) if (k.startsWith(prefix) && !k.slice(prefix.length).includes('/')) out.push(v as T);
    return out;
  }

  /** Every resource whose id matches `pattern` (applied to the lower-cased id). */
  find<T extends Json = Json>(pattern: RegExp): T[] {
    const out: T[] = [];
    for (const [k, v] of this.items) if (pattern.test(k)) out.push(v as T);
    return out;
  }

  /** Every stored document (for persistence). */
  entries(): Array<[string, Json]> {
    return [...this.items.entries()];
  }

  clear(): void {
    this.items.clear();
  }
}
