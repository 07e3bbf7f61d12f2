// The steps a Migration knows, gathered from its inline list and its ConfigMaps, checked the way a
// person fixing them needs: every problem names the key (or inline version) it is about. Pure: the
// ConfigMaps are handed in, so this is unit-tested without a cluster.
import { createHash } from 'node:crypto';
import { MIGRATION_SQL_MAX, compareVersions, type MigrationStep } from '../api/migration.js';

export interface Step {
  version: string;
  name: string;
  up: string;
  down?: string;
  transactional: boolean;
  /** SHA-256 (hex) of the up script, exactly as written. */
  checksum: string;
  /** Where the step came from, for messages: `inline` or `configmap/<name>`. */
  source: string;
}

export interface SourceProblem {
  /** WaitingForSource: a ConfigMap is not there (yet); InvalidSource: a key or script is wrong. */
  reason: 'WaitingForSource' | 'InvalidSource';
  message: string;
}

export interface ConfigMapLike {
  metadata: { name: string };
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
}

/** `<version>_<name>.up.sql` / `.down.sql`, with the same version and name rules as inline steps. */
export const STEP_KEY_PATTERN = /^([0-9]{1,18})_([a-z0-9][a-z0-9_-]{0,62})\.(up|down)\.sql$/;

/**
 * A script's first comment lines may say `-- tenantdb:transactional false` (as Atlas's `atlas:txmode
 * none` or golang-migrate's separate files): ConfigMap keys carry no flags of their own.
 */
const NO_TRANSACTION = /^(?:\s*--[^\n]*\n)*?\s*--\s*tenantdb:transactional\s*[:=]?\s*false\b/;

export function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export function stepsFromInline(steps: readonly MigrationStep[]): Step[] {
  return steps.map((s) => ({
    version: s.version,
    name: s.name,
    up: s.up,
    ...(s.down !== undefined ? { down: s.down } : {}),
    transactional: s.transactional ?? true,
    checksum: sha256(s.up),
    source: 'inline',
  }));
}

export type GatherResult = { ok: true; steps: Step[] } | { ok: false; problem: SourceProblem };

/**
 * Every step, ordered by version. `configMaps` maps each referenced name to the object, or undefined
 * when it does not exist.
 */
export function gatherSteps(inline: readonly MigrationStep[], refs: readonly string[], configMaps: ReadonlyMap<string, ConfigMapLike | undefined>): GatherResult {
  const byVersion = new Map<string, Step>(); // keyed by the numeric value: 001 and 1 are the same version
  const where = new Map<string, string>();
  const norm = (v: string) => BigInt(v).toString();
  for (const s of stepsFromInline(inline)) {
    const k = norm(s.version);
    if (byVersion.has(k)) return bad('InvalidSource', `version ${s.version} is defined twice in spec.migrations`);
    byVersion.set(k, s);
    where.set(k, `spec.migrations version ${s.version}`);
  }
  const missing = refs.filter((r) => configMaps.get(r) === undefined);
  if (missing.length > 0) return bad('WaitingForSource', `ConfigMap ${missing.join(', ')} (spec.sources) not found`);
  for (const ref of refs) {
    const cm = configMaps.get(ref) as ConfigMapLike;
    if (cm.binaryData && Object.keys(cm.binaryData).length > 0) {
      return bad('InvalidSource', `ConfigMap ${ref} key ${Object.keys(cm.binaryData)[0]}: binaryData is not read; put SQL under data`);
    }
    const downs = new Map<string, { key: string; name: string; sql: string }>();
    for (const key of Object.keys(cm.data ?? {}).sort()) {
      const sql = (cm.data as Record<string, string>)[key] as string;
      const m = STEP_KEY_PATTERN.exec(key);
      if (!m) return bad('InvalidSource', `ConfigMap ${ref} key ${key}: not a step; keys must be <version>_<name>.up.sql or <version>_<name>.down.sql (version: 1-18 digits; name: a-z, 0-9, _ and -)`);
      const [, version, name, dir] = m as unknown as [string, string, string, 'up' | 'down'];
      if (sql.trim().length === 0) return bad('InvalidSource', `ConfigMap ${ref} key ${key}: the script is empty`);
      if (Buffer.byteLength(sql, 'utf8') > MIGRATION_SQL_MAX * 4) return bad('InvalidSource', `ConfigMap ${ref} key ${key}: script larger than ${MIGRATION_SQL_MAX * 4} bytes`);
      const k = norm(version);
      if (dir === 'down') {
        downs.set(k, { key, name, sql });
        continue;
      }
      if (byVersion.has(k)) return bad('InvalidSource', `ConfigMap ${ref} key ${key}: version ${version} is defined twice (also in ${where.get(k)})`);
      byVersion.set(k, { version, name, up: sql, transactional: !NO_TRANSACTION.test(sql), checksum: sha256(sql), source: `configmap/${ref}` });
      where.set(k, `ConfigMap ${ref} key ${key}`);
    }
    for (const [k, d] of downs) {
      const up = byVersion.get(k);
      if (!up || up.source !== `configmap/${ref}`) return bad('InvalidSource', `ConfigMap ${ref} key ${d.key}: a down script without ${d.key.replace(/\.down\.sql$/, '.up.sql')} in the same ConfigMap`);
      if (up.name !== d.name) return bad('InvalidSource', `ConfigMap ${ref} key ${d.key}: the name differs from the up script's (${up.name})`);
      up.down = d.sql;
    }
  }
  const steps = [...byVersion.values()].sort((a, b) => compareVersions(a.version, b.version));
  return { ok: true, steps };
}

function bad(reason: SourceProblem['reason'], message: string): GatherResult {
  return { ok: false, problem: { reason, message } };
}

/** Fingerprint of everything a run depends on: a failure is retried once this changes. */
export function inputFingerprint(steps: readonly Step[], options: Record<string, unknown>): string {
  const h = createHash('sha256');
  for (const s of steps) h.update([s.version, s.name, s.checksum, s.down === undefined ? '' : sha256(s.down), String(s.transactional)].join('\u0000')).update('\u0001');
  h.update(JSON.stringify(options, Object.keys(options).sort()));
  return h.digest('hex').slice(0, 16);
}
