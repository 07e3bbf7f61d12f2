// Where a V8 heap snapshot's bytes are: self sizes summed by node type and, for objects, by constructor.
// Used by production-entrypoint.ts (--prod-heap-snapshot 1) to report where the operator's memory goes.
import fs from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

export function summarizeHeapSnapshot(file: string, top = 15): { totalMiB: number; byType: Record<string, number>; topConstructorsMiB: Record<string, number> } {
  const snap = JSON.parse(fs.readFileSync(file, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const [iType, iName, iSize] = [fields.indexOf('type'), fields.indexOf('name'), fields.indexOf('self_size')];
  const stride = fields.length;
  const byType = new Map<string, number>();
  const byCtor = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < snap.nodes.length; i += stride) {
    const type = types[snap.nodes[i + iType] as number] as string;
    const size = snap.nodes[i + iSize] as number;
    total += size;
    byType.set(type, (byType.get(type) ?? 0) + size);
    const key = type === 'object' ? (snap.strings[snap.nodes[i + iName] as number] as string) : `(${type})`;
    byCtor.set(key, (byCtor.get(key) ?? 0) + size);
  }
  const mib = (n: number) => Math.round((n / 1048576) * 10) / 10;
  return {
    totalMiB: mib(total),
    byType: Object.fromEntries([...byType].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, mib(v)])),
    topConstructorsMiB: Object.fromEntries([...byCtor].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, v]) => [k, mib(v)])),
  };
}
