// Step 1 of a Migration pass: what it works from. The annotations a person sets (retry, repair,
// resolve) and the SQL steps, inline and from the ConfigMaps of spec.sources, with the fingerprint of
// everything a run's outcome depends on.
import { setImmediate as setImmediateP } from 'node:timers/promises';
import { compareVersions } from '../../src/api/migration.js';
import type { Resolve } from '../../src/migrations/plan.js';
import { gatherSteps, inputFingerprint, type ConfigMapLike } from '../../src/migrations/steps.js';
import type { Health } from '../../src/runtime/conditions.js';
import type { KubeObject } from '../../src/runtime/kubeclient.js';
import { CONFIGMAPS } from '../../src/runtime/reconcile-kit.js';
import { readFluxSources, sourceName } from './flux-sources.js';
import type { MigrationEnv, MigrationInputs, MigrationPass } from './pass.js';

/** A new value re-runs a failed step (as a spec change does). */
export const RETRY_ANNOTATION = 'tenantdb.io/retry';
/** A new value accepts changed checksums of applied steps (Flyway repair). */
export const REPAIR_ANNOTATION = 'tenantdb.io/repair';
/** `<version>=applied|reverted`: what a dirty (half-run non-transactional) step left (golang-migrate force). */
export const RESOLVE_ANNOTATION = 'tenantdb.io/resolve';

export function parseResolve(value: string | undefined): Resolve | { error: string } | undefined {
  if (value === undefined) return undefined;
  // A version (dotted for Flyway) or a repeatable's R__<description>.
  const m = /^\s*([0-9]{1,18}(?:[.][0-9]{1,18}){0,7}|R__[^=]+?)\s*=\s*(applied|reverted)\s*$/.exec(value);
  if (!m) return { error: `annotation ${RESOLVE_ANNOTATION}: "${value.slice(0, 100)}" is not <version>=applied or <version>=reverted` };
  return { version: m[1] as string, as: m[2] as Resolve['as'] };
}

/** A cached ConfigMap as the step gatherer reads it. */
function configMap(obj: KubeObject | undefined): ConfigMapLike | undefined {
  return obj as ConfigMapLike | undefined;
}

export type InputsResult = { ok: true; inputs: MigrationInputs } | { ok: false; health: Health };

/** The pass's inputs, or the health to report when they cannot be had (bad annotation, missing source). */
export async function readInputs(env: MigrationEnv, kit: MigrationPass['kit']): Promise<InputsResult> {
  const { spec, namespace } = kit;
  const annotations = kit.obj.metadata.annotations ?? {};
  const resolveRaw = annotations[RESOLVE_ANNOTATION];
  const resolve = parseResolve(resolveRaw);
  if (resolve && 'error' in resolve) return { ok: false, health: { state: 'Stalled', reason: 'InvalidAnnotation', message: resolve.error } };

  const sources = spec.sources ?? [];
  const flux = await readFluxSources(env, namespace, sources);
  if (!flux.ok) return { ok: false, health: flux.health };
  // Parsing the scripts holds this thread for milliseconds (6-11 ms for 208 on 2 cores). The
  // administrator's session opened just before (ahead.ts) first gets its connect event and SSLRequest
  // out, so the server's backend starts while they are parsed.
  await setImmediateP();
  const refs = sources.map((s) => ({ name: sourceName(s), format: s.format }));
  const cms = new Map(sources.map((s) => [sourceName(s), s.configMapRef ? configMap(env.mgr.getCached(CONFIGMAPS, namespace, s.configMapRef.name)) : flux.data.get(sourceName(s))]));
  const gathered = gatherSteps(spec.migrations ?? [], refs, cms);
  if (!gathered.ok) {
    const { reason, message } = gathered.problem;
    return { ok: false, health: { state: reason === 'WaitingForSource' ? 'Reconciling' : 'Stalled', reason, message } };
  }
  const formats = gathered.formats.map((f) => ({ ...f, ...flux.used.get(f.name) }));
  const steps = gathered.steps;
  const latestVersion = steps.reduce<string | undefined>((m, s) => (m === undefined || compareVersions(s.version, m) > 0 ? s.version : m), undefined);
  const base = { targetVersion: spec.targetVersion, allowDown: spec.allowDown, baselineVersion: spec.baselineVersion, outOfOrder: spec.outOfOrder };
  const fingerprint = inputFingerprint(steps, { ...base, runAs: spec.runAs, lockTimeout: spec.lockTimeout, statementTimeout: spec.statementTimeout, adopt: spec.adopt }, gathered.repeatables);
  return {
    ok: true,
    inputs: { steps, repeatables: gathered.repeatables, formats, latestVersion, fingerprint, base, retry: annotations[RETRY_ANNOTATION], repair: annotations[REPAIR_ANNOTATION], resolveRaw, resolve },
  };
}
