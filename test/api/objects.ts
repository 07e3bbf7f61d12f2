// Example objects from crds/examples/ and small tools to derive variants of them.
import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from '../../dev/env/paths.js';

export const EXAMPLES_DIR = path.join(repoRoot, 'crds', 'examples');
export const CRDS_DIR = path.join(repoRoot, 'crds');

export type Obj = Record<string, unknown> & { kind: string; metadata: { name: string } & Record<string, unknown> };

export interface Example {
  file: string;
  object: Obj;
}

export function loadExamples(): Example[] {
  const out: Example[] = [];
  for (const file of fs.readdirSync(EXAMPLES_DIR).filter((f) => f.endsWith('.yaml')).sort()) {
    for (const doc of parseAllDocuments(fs.readFileSync(path.join(EXAMPLES_DIR, file), 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
      const object = doc.toJS() as Obj | null;
      if (object) out.push({ file, object });
    }
  }
  return out;
}

export function example(file: string): Obj {
  const found = loadExamples().find((e) => e.file === file);
  if (!found) throw new Error(`no example ${file}`);
  return found.object;
}

/** `spec.rules[0].metric` -> ['spec', 'rules', 0, 'metric'] */
export function pathSegments(p: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const part of p.split('.')) {
    const m = /^([^[\]]+)((\[\d+\])*)$/.exec(part);
    if (!m) throw new Error(`bad path ${p}`);
    out.push(m[1] as string);
    for (const idx of (m[2] ?? '').matchAll(/\[(\d+)\]/g)) out.push(Number(idx[1]));
  }
  return out;
}

export const REMOVE = Symbol('remove');

/** A deep copy of `obj` with the given paths set (or removed with REMOVE); missing parents are created. */
export function withChanges(obj: Obj, changes: Record<string, unknown>): Obj {
  const copy = structuredClone(obj);
  for (const [p, value] of Object.entries(changes)) {
    const segs = pathSegments(p);
    let node = copy as Record<string | number, unknown>;
    for (let i = 0; i < segs.length - 1; i++) {
      const s = segs[i] as string | number;
      if (node[s] === undefined || node[s] === null) node[s] = typeof segs[i + 1] === 'number' ? [] : {};
      node = node[s] as Record<string | number, unknown>;
    }
    const last = segs[segs.length - 1] as string | number;
    if (value === REMOVE) {
      if (Array.isArray(node) && typeof last === 'number') node.splice(last, 1);
      else delete node[last];
    } else {
      node[last] = structuredClone(value);
    }
  }
  return copy;
}

export function renamed(obj: Obj, name: string): Obj {
  return withChanges(obj, { 'metadata.name': name });
}
