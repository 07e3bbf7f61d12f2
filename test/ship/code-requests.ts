// The Kubernetes writes and reads the operator's code can make outside the manager's informers: every
// `client.<verb>(<CONSTANT>` call in controllers/ and src/, with the constant's ResourceRef, and the
// list + watch of an Informer built on a named constant (leader election's Lease watch, which a run that
// wins the lease at once may stop before its watch request goes out). The audit log
// proves what a run used; this scan covers the code paths a run does not reach (a deletionPolicy, a cache
// that lags our own write), so the chart's rules are sufficient for those too.
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../dev/env/paths.js';

function tsFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? tsFiles(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** "group/resource:verb" for every direct client call on a named resource constant. */
export function codeRequestTriples(): { triple: string; at: string }[] {
  const files = [...tsFiles(path.join(repoRoot, 'controllers')), ...tsFiles(path.join(repoRoot, 'src'))];
  const refs = new Map<string, { group: string; plural: string }>();
  const texts = files.map((f) => ({ f, text: fs.readFileSync(f, 'utf8') }));
  for (const { text } of texts) {
    for (const m of text.matchAll(/const ([A-Z_]+): ResourceRef = \{ group: '([^']*)', version: '[^']*', plural: '([^']*)' \}/g)) {
      refs.set(m[1] as string, { group: m[2] as string, plural: m[3] as string });
    }
  }
  const out: { triple: string; at: string }[] = [];
  for (const { f, text } of texts) {
    for (const m of text.matchAll(/client\.(get|list|create|update|patch|delete)\s*(?:<[^>(]*>)?\(\s*([A-Z_]+)\b/g)) {
      const ref = refs.get(m[2] as string);
      if (!ref) continue;
      const line = text.slice(0, m.index).split('\n').length;
      out.push({ triple: `${ref.group}/${ref.plural}:${m[1]}`, at: `${path.relative(repoRoot, f)}:${line}` });
    }
    for (const m of text.matchAll(/new Informer\(\{[^}]*?\bresource:\s*([A-Z_]+)\b/g)) {
      const ref = refs.get(m[1] as string);
      if (!ref) continue;
      const line = text.slice(0, m.index).split('\n').length;
      for (const verb of ['list', 'watch']) out.push({ triple: `${ref.group}/${ref.plural}:${verb}`, at: `${path.relative(repoRoot, f)}:${line}` });
    }
  }
  return out;
}
