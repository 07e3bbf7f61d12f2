// Pure checks of the API: crds/ matches the zod schemas, the examples validate at runtime, every
// invalid case is refused at runtime with the same field the apiserver names, and the converter
// refuses what a structural schema cannot hold.
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { REPO_ROOT, renderAll, renderGenerated, renderHealthScripts } from '../../src/api/generate.js';
import { SchemaConversionError, jsonSchemaOf, toStructural } from '../../src/api/crd.js';
import {
  FLEXIBLE_SERVER_METRICS,
  FLEXIBLE_SERVER_METRIC_DEFINITIONS,
  KIND_DEFINITIONS,
  validateAlertRuleSet,
  validateBackupPolicy,
  validateMigration,
  validateTenantDatabase,
  type ValidationResult,
} from '../../src/api/index.js';
import { INVALID_CASES } from './invalid-cases.js';
import { CRDS_DIR, loadExamples, withChanges, example, type Obj } from './objects.js';

const VALIDATORS: Record<string, (o: unknown) => ValidationResult<unknown>> = {
  TenantDatabase: validateTenantDatabase,
  Migration: validateMigration,
  BackupPolicy: validateBackupPolicy,
  AlertRuleSet: validateAlertRuleSet,
};

function validate(o: Obj): ValidationResult<unknown> {
  const v = VALIDATORS[o.kind];
  if (!v) throw new Error(`no validator for kind ${o.kind}`);
  return v(o);
}

describe('generated CRDs', () => {
  it('crds/, the chart CRD templates, the chart values schema and the Argo CD health scripts are what `npm run generate` produces', () => {
    const stale: string[] = [];
    for (const [file, content] of renderGenerated()) {
      const onDisk = fs.existsSync(path.join(REPO_ROOT, file)) ? fs.readFileSync(path.join(REPO_ROOT, file), 'utf8') : undefined;
      if (onDisk !== content) stale.push(file);
    }
    expect([...renderGenerated().keys()].filter((f) => f.startsWith('charts/tenantdb-operator/templates/crds/'))).toHaveLength(KIND_DEFINITIONS.length);
    expect(renderGenerated().has('charts/tenantdb-operator/values.schema.json')).toBe(true);
    // Every health.lua on disk is a generated one (a kind's script is never hand-written beside them).
    const healthDir = path.join(REPO_ROOT, 'health', 'argocd', 'tenantdb.io');
    const healthScripts = fs.readdirSync(healthDir).map((kind) => path.join('health', 'argocd', 'tenantdb.io', kind, 'health.lua'));
    expect(healthScripts.sort()).toEqual([...renderHealthScripts().keys()].sort());
    expect(healthScripts).toHaveLength(KIND_DEFINITIONS.length);
    if (stale.length > 0) throw new Error(`generated files are stale (${stale.join(', ')}): run npm run generate and commit the result`);
  });

  it('writes one CRD per kind and nothing else', () => {
    const files = fs.readdirSync(CRDS_DIR).filter((f) => f.endsWith('.yaml'));
    expect(files.sort()).toEqual([...renderAll().keys()].sort());
    expect(renderAll().size).toBe(KIND_DEFINITIONS.length);
  });

  it('is deterministic', () => {
    expect([...renderAll()]).toEqual([...renderAll()]);
  });
});

describe('examples', () => {
  const examples = loadExamples();

  it('cover all four kinds', () => {
    expect(new Set(examples.map((e) => e.object.kind))).toEqual(new Set(['TenantDatabase', 'Migration', 'BackupPolicy', 'AlertRuleSet']));
  });

  it.each(examples.map((e) => [`${e.file} (${e.object.kind} ${e.object.metadata.name})`, e.object] as const))('%s validates', (_t, object) => {
    const r = validate(object);
    if (!r.ok) throw r.error;
    expect(r.ok).toBe(true);
    expect(object.metadata.namespace).toBeUndefined();
  });

  it('get schema defaults filled in at runtime', () => {
    const r = validateTenantDatabase(example('tenantdatabase-external.yaml'));
    if (!r.ok) throw r.error;
    expect(r.value.spec.server.external?.port).toBe(5432);
    expect(r.value.spec.partitioning?.[0]?.schema).toBe('public');
    expect(r.value.spec.partitioning?.[0]?.defaultPartition).toBe(true);
    const m = validateMigration(example('migration-compliance-schema.yaml'));
    if (!m.ok) throw m.error;
    expect(m.value.spec.migrations?.map((s) => s.transactional)).toEqual([true, true, false, true, true]);
    expect(m.value.spec.allowDown).toBe(false);
  });
});

describe('runtime validation refuses every invalid case', () => {
  const cases = INVALID_CASES.filter((c) => !c.apiserverOnly);
  it.each(cases.map((c) => [c.title, c] as const))('%s', (_t, c) => {
    const r = validate(c.object);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const paths = r.error.issues.map((i) => i.path);
    if (!paths.some((p) => p === c.field || p.startsWith(`${c.field}.`) || p.startsWith(`${c.field}[`))) {
      throw new Error(`expected an issue at ${c.field}, got ${r.error.message}`);
    }
  });
});

describe('runtime validation details', () => {
  const azure = example('tenantdatabase-azure.yaml');

  it('accepts the largest identifier (63 bytes) and refuses one byte more', () => {
    expect(validate(withChanges(azure, { 'spec.database.name': 'a'.repeat(63) })).ok).toBe(true);
    expect(validate(withChanges(azure, { 'spec.database.name': 'a'.repeat(64) })).ok).toBe(false);
  });

  it('accepts cron macros, steps, ranges and lists', () => {
    const backup = example('backuppolicy.yaml');
    for (const schedule of ['@daily', '@weekly', '*/15 * * * *', '0 2-4 * * 1-5', '5,35 */6 1,15 1-12/3 0,7']) {
      const r = validate(withChanges(backup, { 'spec.onDemand.schedule': schedule }));
      expect([schedule, r.ok]).toEqual([schedule, true]);
    }
  });

  it('accepts ISO-8601 durations with days, hours, minutes and seconds', () => {
    const backup = example('backuppolicy.yaml');
    for (const timeout of ['PT30M', 'PT1H30M', 'P1D', 'P1DT12H', 'PT45S']) {
      expect([timeout, validate(withChanges(backup, { 'spec.restoreDrill.timeout': timeout })).ok]).toEqual([timeout, true]);
    }
  });

  it('reports paths the way the apiserver prints them', () => {
    const r = validate(withChanges(azure, { 'spec.server.azure.network.firewallRules[1].endIpAddress': '1.2.3' }));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.issues.map((i) => i.path)).toContain('spec.server.azure.network.firewallRules[1].endIpAddress');
  });

  it('never puts field values into the error message', () => {
    const r = validate(withChanges(azure, { 'spec.server.azure.administratorPasswordSecretRef.key': 'not a key!' }));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.message).not.toContain('not a key!');
  });
});

describe('metric list', () => {
  it('names every metric definition exactly once, sorted', () => {
    expect([...FLEXIBLE_SERVER_METRICS]).toEqual(FLEXIBLE_SERVER_METRIC_DEFINITIONS.map((m) => m.name));
    expect([...FLEXIBLE_SERVER_METRICS]).toEqual([...FLEXIBLE_SERVER_METRICS].sort());
    expect(new Set(FLEXIBLE_SERVER_METRICS).size).toBe(FLEXIBLE_SERVER_METRICS.length);
  });
});

describe('zod -> structural schema', () => {
  const convert = (s: z.ZodType) => toStructural(jsonSchemaOf(s), 'x');

  it('refuses unions, which a structural schema cannot express', () => {
    expect(() => convert(z.object({ a: z.union([z.string().max(3), z.int()]).describe('a') }))).toThrow(SchemaConversionError);
  });

  it('refuses undescribed fields and unbounded strings, lists and maps', () => {
    expect(() => convert(z.object({ a: z.string().max(3) }))).toThrow(/description/);
    expect(() => convert(z.object({ a: z.string().describe('a') }))).toThrow(/maxLength/);
    expect(() => convert(z.object({ a: z.array(z.string().max(1)).describe('a') }))).toThrow(/maxItems/);
    expect(() => convert(z.object({ a: z.record(z.string(), z.string().max(1)).describe('a') }))).toThrow(/maxProperties/);
  });

  it('turns const into enum and keeps defaults optional', () => {
    const out = convert(z.object({ a: z.literal('x').describe('a'), b: z.boolean().default(true).describe('b') }));
    expect(out).toEqual({
      type: 'object',
      required: ['a'],
      properties: { a: { description: 'a', type: 'string', enum: ['x'] }, b: { description: 'b', type: 'boolean', default: true } },
    });
  });
});
