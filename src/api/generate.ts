// `npm run generate`: writes crds/tenantdb.io_<plural>.yaml and the Helm chart's CRD templates
// (charts/tenantdb-operator/templates/crds/) from the zod schemas, and the Argo CD health scripts
// (health/argocd/tenantdb.io/<Kind>/health.lua) from their one template, and the scope-policy part of
// the chart's values.schema.json from the policy's zod schema. With --check it
// writes nothing and exits non-zero when a file differs, which is what CI wants.
import { readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { healthScriptPath, renderHealthScript } from './argocd-health.js';
import { chartCrdTemplate, crdFileName, renderCrd } from './crd.js';
import { z } from 'zod';
import { scopePolicySchema } from '../azure/scope-policy.js';
import { KIND_DEFINITIONS } from './index.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CRD_DIR = path.join(REPO_ROOT, 'crds');

/** The Helm chart's copies of the CRDs (templates, so `helm upgrade` updates them). */
export const CHART_CRD_DIR = path.join(REPO_ROOT, 'charts', 'tenantdb-operator', 'templates', 'crds');

/** File name -> content of every generated CRD. */
export function renderAll(): Map<string, string> {
  return new Map(KIND_DEFINITIONS.map((k) => [crdFileName(k), renderCrd(k)]));
}

/** File name -> content of every CRD template of the chart. */
export function renderChartCrds(): Map<string, string> {
  return new Map(KIND_DEFINITIONS.map((k) => [crdFileName(k), chartCrdTemplate(k)]));
}

/** Repository-relative path -> content of every Argo CD health script. */
export function renderHealthScripts(): Map<string, string> {
  return new Map(KIND_DEFINITIONS.map((k) => [healthScriptPath(k), renderHealthScript(k)]));
}

/** The chart's values schema, hand-written but for the parts a zod schema of the operator owns. */
export const CHART_VALUES_SCHEMA = path.join(REPO_ROOT, 'charts', 'tenantdb-operator', 'values.schema.json');

/** values.schema.json with azure.scopePolicy from the operator's own policy schema (--azure-scope-policy). */
export function renderChartValuesSchema(): string {
  const schema = JSON.parse(readFileSync(CHART_VALUES_SCHEMA, 'utf8')) as { properties: { azure: { properties: Record<string, unknown> } } };
  const { $schema: _draft, ...policy } = z.toJSONSchema(scopePolicySchema, { io: 'input', target: 'draft-7' }) as Record<string, unknown>;
  schema.properties.azure.properties.scopePolicy = {
    ...policy,
    description: 'Which namespaces may use the operator\'s Azure identity in which subscriptions/resource groups, and adopt there (src/azure/scope-policy.ts). No rules: nothing is granted.',
  };
  return `${JSON.stringify(schema, null, 2)}\n`;
}

/** Repository-relative path -> content of every generated file (crds/, the chart's CRD templates, health/). */
export function renderGenerated(): Map<string, string> {
  const out = new Map<string, string>();
  for (const [file, content] of renderAll()) out.set(path.relative(REPO_ROOT, path.join(CRD_DIR, file)), content);
  for (const [file, content] of renderChartCrds()) out.set(path.relative(REPO_ROOT, path.join(CHART_CRD_DIR, file)), content);
  for (const [file, content] of renderHealthScripts()) out.set(file, content);
  out.set(path.relative(REPO_ROOT, CHART_VALUES_SCHEMA), renderChartValuesSchema());
  return out;
}

async function main(check: boolean): Promise<number> {
  let stale = 0;
  for (const [file, content] of renderGenerated()) {
    const target = path.join(REPO_ROOT, file);
    const current = await readFile(target, 'utf8').catch(() => undefined);
    if (current === content) continue;
    if (check) {
      console.error(`${file} is stale; run npm run generate`);
      stale++;
    } else {
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, content);
      console.log(`wrote ${file}`);
    }
  }
  return stale === 0 ? 0 : 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.includes('--check'));
}
