// Atlas's versioned form (its "Migration Directory Integrity File" docs and sql/migrate/dir.go): files
// `<version>_<name>.sql` (the version is what precedes the first `_`), taken in name order, and
// `atlas.sum`: a first line `h1:<sum>`, then one line `<file> h1:<hash>` per file. Each file's hash is
// the base64 SHA-256 of everything so far: a running digest fed each file's name and then its bytes
// (a file whose directive says `atlas:sum ignore` feeds its name only and gets no line); the first line
// is the base64 SHA-256 of every line's name and hash concatenated. Atlas refuses a directory whose sum
// does not match, and so do we, naming the file. File directives are the comment lines at the top of a
// file, ended by a blank line: `-- atlas:txmode none` runs the file outside a transaction (`file`,
// the default, and `all` in one). Atlas keeps no down scripts (it plans downs itself): a step from
// Atlas cannot be reverted here.
import { createHash } from 'node:crypto';
import type { FormatParser, Step } from './types.js';
import { checkSize, checkVersion, fail, normalizeVersion, parsing, sha256 } from './types.js';

export const ATLAS_SUM = 'atlas.sum';
export const ATLAS_KEY = /^([0-9][0-9.]*?)(?:_(.*))?\.sql$/;

/** The file directives: `atlas:<name> <args>` on the leading comment lines that a blank line ends. */
export function atlasDirectives(sql: string): Map<string, string> {
  const out = new Map<string, string>();
  const lines = sql.split(/\r?\n/);
  let i = 0;
  while (i < lines.length && (lines[i] as string).startsWith('--')) i++;
  if (i === 0 || (i < lines.length && (lines[i] as string).trim() !== '')) return out;
  for (const line of lines.slice(0, i)) {
    const m = /^--\s*atlas:(\w+)(?:\s+(.*))?$/.exec(line.trim());
    if (m) out.set(m[1] as string, (m[2] ?? '').trim());
  }
  return out;
}

/** Atlas's HashFile of these files (name order): each file's running hash, and the sum line. */
export function atlasHashes(files: ReadonlyArray<{ name: string; text: string }>): { sum: string; hashes: Map<string, string> } {
  const running = createHash('sha256');
  const hashes = new Map<string, string>();
  for (const f of files) {
    running.update(f.name, 'utf8');
    if (atlasDirectives(f.text).get('sum') === 'ignore') continue;
    running.update(f.text, 'utf8');
    hashes.set(f.name, running.copy().digest('base64'));
  }
  const total = createHash('sha256');
  for (const [n, h] of hashes) total.update(n, 'utf8').update(h, 'utf8');
  return { sum: total.digest('base64'), hashes };
}

function readSum(ref: string, text: string): { sum: string; hashes: Map<string, string> } {
  const lines = text.split(/\r?\n/).filter((l) => l.length > 0);
  const first = lines.shift() ?? '';
  if (!first.startsWith('h1:')) fail(ref, ATLAS_SUM, 'the first line is not h1:<sum>');
  const hashes = new Map<string, string>();
  for (const line of lines) {
    const at = line.indexOf(' h1:');
    if (at < 0) fail(ref, ATLAS_SUM, `line "${line.slice(0, 80)}" is not <file> h1:<hash>`);
    hashes.set(line.slice(0, at).trim(), line.slice(at + 4));
  }
  return { sum: first.slice(3), hashes };
}

export const parseAtlas: FormatParser = (data, ref) =>
  parsing(() => {
    const sumText = data[ATLAS_SUM];
    const names = Object.keys(data).filter((k) => k !== ATLAS_SUM).sort();
    const other = names.find((k) => !ATLAS_KEY.test(k));
    if (other !== undefined) fail(ref, other, 'not a migration; Atlas keys are <version>_<name>.sql (and atlas.sum)');
    if (sumText === undefined) fail(ref, ATLAS_SUM, 'missing: Atlas verifies a migration directory against its atlas.sum (run atlas migrate hash)');
    const files = names.map((name) => ({ name, text: data[name] as string }));
    const written = readSum(ref, sumText);
    const actual = atlasHashes(files);
    for (const [name, hash] of actual.hashes) {
      if (written.hashes.get(name) !== hash) fail(ref, name, `does not match atlas.sum (${written.hashes.has(name) ? 'edited after' : 'added without'} atlas migrate hash)`);
    }
    for (const name of written.hashes.keys()) if (!actual.hashes.has(name)) fail(ref, ATLAS_SUM, `lists ${name}, which the ConfigMap does not have`);
    if (written.sum !== actual.sum) fail(ref, ATLAS_SUM, 'its first line (h1:<sum>) does not match the files');

    const steps = new Map<string, Step>();
    for (const { name: key, text } of files) {
      const m = ATLAS_KEY.exec(key);
      if (!m) fail(ref, key, 'not a migration; Atlas keys are <version>_<name>.sql (and atlas.sum)');
      const version = m[1] as string;
      checkVersion(ref, key, version);
      checkSize(ref, key, text);
      const directives = atlasDirectives(text);
      if (directives.has('delimiter')) fail(ref, key, '-- atlas:delimiter is not supported: statements are split by the PostgreSQL parser');
      const txmode = directives.get('txmode') ?? 'file';
      if (!['none', 'file', 'all'].includes(txmode)) fail(ref, key, `-- atlas:txmode ${txmode}: expected none, file or all`);
      const k = normalizeVersion(version);
      if (steps.has(k)) fail(ref, key, `version ${version} is defined twice (also ${(steps.get(k) as Step).key})`);
      const transactional = txmode !== 'none';
      const toolChecksum = actual.hashes.get(key);
      steps.set(k, { key, version, name: m[2] || `version_${version}`, up: text, transactional, downTransactional: true, checksum: sha256(text), source: `configmap/${ref}`, ...(toolChecksum ? { toolChecksum } : {}) });
    }
    return { steps: [...steps.values()], repeatables: [] };
  });
