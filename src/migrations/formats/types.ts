// What every format parser produces: the one step model the planner and runner use. A parser is pure
// (the ConfigMap's data in, steps or the first problem out); every problem names the key it is about.
import { createHash } from 'node:crypto';
import { MIGRATION_SQL_MAX, type MigrationFormat } from '../../api/migration.js';

/** How a script runs: in one transaction with its history row, or statement by statement. */
export interface Step {
  version: string;
  name: string;
  up: string;
  /** The down script; '' is a step that does nothing going down; absent: it cannot be reverted. */
  down?: string;
  /** The up script runs in one transaction (false: statement by statement, recorded dirty first). */
  transactional: boolean;
  /** The down script's own mode (a tool's directive may differ between the two). */
  downTransactional: boolean;
  /**
   * The tool sends the script as it is (golang-migrate, Flyway): one transaction unless the script
   * controls its own (BEGIN/COMMIT) or holds a statement PostgreSQL refuses in a transaction block
   * (CREATE INDEX CONCURRENTLY...), decided from the parsed statements when the step runs.
   */
  auto?: { up: boolean; down: boolean };
  /** SHA-256 (hex) of the up script, exactly as written. */
  checksum: string;
  /** Where the step came from, for messages: `inline` or `configmap/<name>`. */
  source: string;
  /** The ConfigMap key of its (up) script, for messages. */
  key?: string;
  /** The checksum the source's tool keeps in its history (Flyway's CRC32, Atlas's atlas.sum hash), for adoption. */
  toolChecksum?: string;
}

/** Flyway's repeatable migration: no version; re-applied after the versioned ones whenever its checksum changes. */
export interface Repeatable {
  description: string;
  script: string;
  transactional: boolean;
  /** As Step.auto: one transaction unless the statements say otherwise. */
  auto?: boolean;
  checksum: string;
  source: string;
  toolChecksum?: string;
}

export interface ParsedSource {
  steps: Step[];
  repeatables: Repeatable[];
}

export type ParseResult = ({ ok: true } & ParsedSource) | { ok: false; message: string };

/** A parser: the ConfigMap's data (key -> text) and its name; messages start with `ConfigMap <name> key <key>:`. */
export type FormatParser = (data: Readonly<Record<string, string>>, ref: string) => ParseResult;

export type { MigrationFormat };

export function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export class SourceError extends Error {}

/** Throws (caught by the parser's wrapper) with the key named. */
export function fail(ref: string, key: string, message: string): never {
  throw new SourceError(`ConfigMap ${ref} key ${key}: ${message}`);
}

export function checkSize(ref: string, key: string, sql: string): void {
  if (Buffer.byteLength(sql, 'utf8') > MIGRATION_SQL_MAX * 4) fail(ref, key, `script larger than ${MIGRATION_SQL_MAX * 4} bytes`);
}

/** Runs a parser body, turning a SourceError into the result a person reads. */
export function parsing(body: () => ParsedSource): ParseResult {
  try {
    return { ok: true, ...body() };
  } catch (err) {
    if (err instanceof SourceError) return { ok: false, message: err.message };
    throw err;
  }
}

/** Versions longer than 18 digits per part do not fit a signed 64-bit integer (nor the history's check). */
export function checkVersion(ref: string, key: string, version: string): void {
  if (!/^[0-9]{1,18}([.][0-9]{1,18}){0,7}$/.test(version)) fail(ref, key, `version ${version} is not 1-18 digits (dotted parts for Flyway)`);
}

/** Lines outside [from, to) blanked, so a statement's line in the script is its line in the file. */
export function section(lines: readonly string[], from: number, to: number): string {
  return lines.map((l, i) => (i >= from && i < to ? l : '')).join('\n').replace(/\s+$/, '') + (to > from ? '\n' : '');
}

/** The stable key of a step's version (001 and 1 are the same version). */
export { normalizeVersion } from '../../api/migration.js';

/** What a one-file-per-step tool's parser makes of one file (its up and down sections and their modes). */
export type FileSections = Pick<Step, 'up' | 'down' | 'transactional' | 'downTransactional'>;

/**
 * The form goose and dbmate share: one file `<version>_<name>.sql` per step, both directions inside it.
 * `keys` matches a key into version and name; `parseFile` reads the sections by the tool's own markers.
 */
export function singleFileParser(tool: string, keys: RegExp, parseFile: (ref: string, key: string, sql: string) => FileSections): FormatParser {
  return (data, ref) =>
    parsing(() => {
      const steps = new Map<string, Step>();
      for (const key of Object.keys(data).sort()) {
        const sql = data[key] as string;
        const m = keys.exec(key);
        if (!m) fail(ref, key, `not a migration; ${tool} keys are <version>_<name>.sql`);
        const [, version, name] = m as unknown as [string, string, string];
        checkVersion(ref, key, version);
        checkSize(ref, key, sql);
        const k = BigInt(version).toString();
        if (steps.has(k)) fail(ref, key, `version ${version} is defined twice (also ${(steps.get(k) as Step).key})`);
        const parsed = parseFile(ref, key, sql);
        steps.set(k, { key, version, name: name || `version_${version}`, ...parsed, checksum: sha256(parsed.up), source: `configmap/${ref}` });
      }
      return { steps: [...steps.values()], repeatables: [] };
    });
}
