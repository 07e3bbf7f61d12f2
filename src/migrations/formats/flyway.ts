// Flyway's form (its "Migrations" concepts page and configuration reference):
// - `V<version>__<description>.sql`: versioned; the version's parts are separated by `.` or `_` (an
//   underscore reads as a dot), leading zeros ignored, compared left-aligned with missing parts as 0;
// - `U<version>__<description>.sql`: the undo of that version (our down script);
// - `R__<description>.sql`: repeatable, no version; (re-)applied after all pending versioned ones
//   whenever its checksum changes, in the order of their descriptions;
// - `<script>.conf` (script configuration): `executeInTransaction=false` runs that script outside a
//   transaction; without it Flyway's PostgreSQL parser runs a script in one transaction unless a
//   statement cannot run in one (CREATE INDEX CONCURRENTLY...): our Step.auto.
// Flyway's checksum (kept in flyway_schema_history.checksum) is java.util.zip.CRC32 over the script
// read line by line with BufferedReader.readLine (line terminators \n, \r, \r\n dropped, a leading
// BOM removed), each line's UTF-8 bytes fed in turn, the result cast to a signed 32-bit int.
import { crc32 } from 'node:zlib';
import { normalizeVersion } from '../../api/migration.js';
import type { FormatParser, Repeatable, Step } from './types.js';
import { checkSize, checkVersion, fail, parsing, sha256 } from './types.js';

const SCRIPT = /^([VUR])([0-9][0-9._]*)?__(.+)\.sql$/;
const CONF = /^(.+\.sql)\.conf$/;

/** Flyway's checksum of a script: CRC32 of its lines without terminators, as a signed 32-bit integer. */
export function flywayChecksum(script: string): number {
  const text = script.startsWith('\uFEFF') ? script.slice(1) : script;
  const lines = text.split(/\r\n|\r|\n/);
  // readLine() returns no empty last line for a trailing terminator; an empty line inside counts (0 bytes).
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  let crc = 0;
  for (const line of lines) crc = crc32(Buffer.from(line, 'utf8'), crc);
  return crc | 0;
}

/** `executeInTransaction` from a script configuration file (key=value lines, # comments). */
function scriptConfig(ref: string, key: string, text: string): { executeInTransaction?: boolean } {
  const out: { executeInTransaction?: boolean } = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z.]+)\s*=\s*(.*)$/.exec(line);
    if (!m) fail(ref, key, `"${line.slice(0, 80)}" is not key=value`);
    const name = (m[1] as string).replace(/^flyway\./, '');
    const value = (m[2] as string).trim();
    if (name === 'executeInTransaction') {
      if (!/^(true|false)$/i.test(value)) fail(ref, key, `executeInTransaction must be true or false, not "${value}"`);
      out.executeInTransaction = value.toLowerCase() === 'true';
    } else if (name !== 'encoding' || !/^utf-?8$/i.test(value)) {
      fail(ref, key, `script configuration "${name}=${value}" is not supported (executeInTransaction, encoding=UTF-8)`);
    }
  }
  return out;
}

export const parseFlyway: FormatParser = (data, ref) =>
  parsing(() => {
    const keys = Object.keys(data).sort();
    const conf = new Map<string, { executeInTransaction?: boolean }>();
    for (const key of keys) {
      const m = CONF.exec(key);
      if (!m) continue;
      if (data[m[1] as string] === undefined) fail(ref, key, `a script configuration without its script ${m[1]}`);
      conf.set(m[1] as string, scriptConfig(ref, key, data[key] as string));
    }
    const mode = (key: string) => {
      const inTx = conf.get(key)?.executeInTransaction;
      return { transactional: inTx !== false, auto: inTx === undefined };
    };
    const versioned = new Map<string, Step>();
    const undos: Array<{ key: string; version: string; sql: string }> = [];
    const repeatables: Repeatable[] = [];
    for (const key of keys) {
      if (CONF.test(key)) continue;
      const sql = data[key] as string;
      const m = SCRIPT.exec(key);
      if (!m) fail(ref, key, 'not a migration; Flyway keys are V<version>__<description>.sql, U<version>__<description>.sql, R__<description>.sql or <script>.conf');
      const [, prefix, rawVersion, description] = m as unknown as [string, 'V' | 'U' | 'R', string | undefined, string];
      checkSize(ref, key, sql);
      const { transactional, auto } = mode(key);
      if (prefix === 'R') {
        if (rawVersion) fail(ref, key, 'a repeatable migration has no version (R__<description>.sql)');
        repeatables.push({ description, script: sql, transactional, auto, checksum: sha256(sql), source: `configmap/${ref}`, toolChecksum: String(flywayChecksum(sql)) });
        continue;
      }
      if (!rawVersion) fail(ref, key, `${prefix}<version>__<description>.sql needs a version`);
      const version = rawVersion.replace(/_/g, '.').replace(/\.+$/, '');
      checkVersion(ref, key, version);
      const k = normalizeVersion(version);
      if (prefix === 'U') {
        undos.push({ key, version: k, sql });
        continue;
      }
      if (versioned.has(k)) fail(ref, key, `version ${version} is defined twice (also ${(versioned.get(k) as Step).key})`);
      versioned.set(k, { key, version, name: description, up: sql, transactional, downTransactional: true, auto: { up: auto, down: false }, checksum: sha256(sql), source: `configmap/${ref}`, toolChecksum: String(flywayChecksum(sql)) });
    }
    for (const u of undos) {
      const v = versioned.get(u.version);
      if (!v) fail(ref, u.key, `an undo script without a versioned script of version ${u.version} in the same ConfigMap`);
      if (v.down !== undefined) fail(ref, u.key, `a second undo script for version ${u.version}`);
      const { transactional, auto } = mode(u.key);
      v.down = u.sql;
      v.downTransactional = transactional;
      v.auto = { up: v.auto?.up ?? false, down: auto };
    }
    const seen = new Set<string>();
    for (const r of repeatables) {
      if (seen.has(r.description)) fail(ref, `R__${r.description}.sql`, 'a repeatable migration of this description is defined twice');
      seen.add(r.description);
    }
    return { steps: [...versioned.values()], repeatables };
  });
