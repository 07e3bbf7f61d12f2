// The steps a Migration knows, gathered from its inline list and its ConfigMaps (each read in its
// format, given or detected: formats/), checked the way a person fixing them needs: every problem
// names the key (or inline version) it is about. Pure: the ConfigMaps are handed in, so this is
// unit-tested without a cluster.
import { createHash } from 'node:crypto';
import { compareVersions, normalizeVersion, type MigrationFormat, type MigrationStep } from '../api/migration.js';
import { PARSERS, detectFormat, sha256, type Repeatable, type Step } from './formats/index.js';

export type { Repeatable, Step } from './formats/index.js';
export { sha256 } from './formats/index.js';

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

/** A ConfigMap source: its name and, when the spec says it, its format. */
export interface SourceRef {
  name: string;
  format?: MigrationFormat | undefined;
}

/** How a source was read (status.sources). */
export interface SourceFormat {
  name: string;
  format: MigrationFormat;
  detected?: boolean;
  /** A Flux source artifact's revision and digest the steps were read from. */
  revision?: string;
  digest?: string;
}

export function stepsFromInline(steps: readonly MigrationStep[]): Step[] {
  return steps.map((s) => {
    const transactional = s.transactional ?? true;
    return {
      version: s.version,
      name: s.name,
      up: s.up,
      ...(s.down !== undefined ? { down: s.down } : {}),
      transactional,
      downTransactional: transactional,
      checksum: sha256(s.up),
      source: 'inline',
    };
  });
}

export type GatherResult = { ok: true; steps: Step[]; repeatables: Repeatable[]; formats: SourceFormat[] } | { ok: false; problem: SourceProblem; formats?: SourceFormat[] };

/**
 * Every step, ordered by version, and Flyway's repeatables (by description). `configMaps` maps each
 * referenced name to the object, or undefined when it does not exist.
 */
export function gatherSteps(inline: readonly MigrationStep[], refs: readonly (string | SourceRef)[], configMaps: ReadonlyMap<string, ConfigMapLike | undefined>): GatherResult {
  const sources = refs.map((r) => (typeof r === 'string' ? { name: r } : r));
  const byVersion = new Map<string, Step>(); // keyed by the normalized value: 001 and 1 are the same version
  const where = new Map<string, string>();
  for (const s of stepsFromInline(inline)) {
    const k = normalizeVersion(s.version);
    if (byVersion.has(k)) return bad('InvalidSource', `version ${s.version} is defined twice in spec.migrations`);
    byVersion.set(k, s);
    where.set(k, `spec.migrations version ${s.version}`);
  }
  const missing = sources.filter((r) => configMaps.get(r.name) === undefined).map((r) => r.name);
  if (missing.length > 0) return bad('WaitingForSource', `ConfigMap ${missing.join(', ')} (spec.sources) not found`);
  const formats: SourceFormat[] = [];
  const repeatables = new Map<string, Repeatable>();
  for (const { name: ref, format } of sources) {
    const cm = configMaps.get(ref) as ConfigMapLike;
    if (cm.binaryData && Object.keys(cm.binaryData).length > 0) {
      return bad('InvalidSource', `ConfigMap ${ref} key ${Object.keys(cm.binaryData)[0]}: binaryData is not read; put SQL under data`, formats);
    }
    const data = cm.data ?? {};
    const detected = format === undefined ? detectFormat(data, ref) : ({ ok: true, format } as const);
    if (!detected.ok) return bad('InvalidSource', detected.message, formats);
    formats.push({ name: ref, format: detected.format, ...(format === undefined ? { detected: true } : {}) });
    const parsed = PARSERS[detected.format](data, ref);
    if (!parsed.ok) return bad('InvalidSource', parsed.message, formats);
    for (const s of parsed.steps) {
      const k = normalizeVersion(s.version);
      const at = s.key !== undefined ? `ConfigMap ${ref} key ${s.key}` : `ConfigMap ${ref}`;
      if (byVersion.has(k)) return bad('InvalidSource', `${at}: version ${s.version} is defined twice (also in ${where.get(k)})`, formats);
      byVersion.set(k, s);
      where.set(k, at);
    }
    for (const r of parsed.repeatables) {
      if (repeatables.has(r.description)) return bad('InvalidSource', `ConfigMap ${ref}: repeatable migration ${r.description} is defined twice (also in ${repeatables.get(r.description)?.source})`, formats);
      repeatables.set(r.description, r);
    }
  }
  const steps = [...byVersion.values()].sort((a, b) => compareVersions(a.version, b.version));
  // Flyway applies repeatables "in the order of their description".
  const reps = [...repeatables.values()].sort((a, b) => (a.description < b.description ? -1 : a.description > b.description ? 1 : 0));
  return { ok: true, steps, repeatables: reps, formats };
}

function bad(reason: SourceProblem['reason'], message: string, formats?: SourceFormat[]): GatherResult {
  return { ok: false, problem: { reason, message }, ...(formats ? { formats } : {}) };
}

/** Fingerprint of everything a run depends on: a failure is retried once this changes. */
export function inputFingerprint(steps: readonly Step[], options: Record<string, unknown>, repeatables: readonly Repeatable[] = []): string {
  const h = createHash('sha256');
  for (const s of steps) {
    // Steps without per-script modes keep the fingerprint they had before those existed.
    const plain = s.downTransactional === s.transactional && s.auto === undefined;
    const mode = plain ? String(s.transactional) : `${s.transactional}/${s.downTransactional}/${s.auto?.up ?? ''}/${s.auto?.down ?? ''}`;
    h.update([s.version, s.name, s.checksum, s.down === undefined ? '' : sha256(s.down), mode].join('\u0000')).update('\u0001');
  }
  for (const r of repeatables) h.update(['R', r.description, r.checksum, String(r.transactional), String(r.auto ?? '')].join('\u0000')).update('\u0001');
  h.update(JSON.stringify(options, Object.keys(options).sort()));
  return h.digest('hex').slice(0, 16);
}
