// JSON schemas for kubeconform, made from the apiserver's own OpenAPI v3 (kubeconform would download
// them from the network, which tests cannot reach). One standalone strict schema per kind, as
// openapi2jsonschema --strict writes them: $refs point into the file's own definitions, objects refuse
// unknown fields (unless the API preserves them), int-or-string and quantities accept both forms.
import fs from 'node:fs';
import path from 'node:path';
import type { KubeClient } from '../../src/runtime/kubeclient.js';

type Node = Record<string, unknown>;

function toJsonSchema(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toJsonSchema);
  if (!value || typeof value !== 'object') return value;
  const node: Node = {};
  for (const [k, v] of Object.entries(value as Node)) node[k] = toJsonSchema(v);
  if (typeof node.$ref === 'string') node.$ref = node.$ref.replace('#/components/schemas/', '#/definitions/');
  if (node.format === 'int-or-string' || node['x-kubernetes-int-or-string'] === true) {
    delete node.type;
    delete node.format;
    node.oneOf = [{ type: 'string' }, { type: 'integer' }];
  }
  if (node.nullable === true && typeof node.type === 'string') {
    node.type = [node.type, 'null'];
    delete node.nullable;
  }
  if (node.properties && node.additionalProperties === undefined && node['x-kubernetes-preserve-unknown-fields'] !== true) {
    node.additionalProperties = false;
  }
  return node;
}

interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

/**
 * Writes `<kind>_<group>_<version>.json` (lower-case kind; the group is the version for core) for every kind the
 * apiserver serves in the group-versions `apiVersions` names, and returns the kubeconform
 * -schema-location template that finds them.
 */
export async function writeKubeconformSchemas(client: KubeClient, dir: string, apiVersions: string[]): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  const index = await client.request<{ paths: Record<string, { serverRelativeURL: string }> }>('GET', '/openapi/v3');
  for (const apiVersion of new Set(apiVersions)) {
    const key = apiVersion.includes('/') ? `apis/${apiVersion}` : `api/${apiVersion}`;
    const entry = index.paths[key];
    if (!entry) throw new Error(`the apiserver serves no OpenAPI for ${apiVersion}`);
    const doc = await client.request<{ components: { schemas: Record<string, Node> } }>('GET', entry.serverRelativeURL);
    const definitions = toJsonSchema(doc.components.schemas) as Record<string, Node>;
    for (const [name, schema] of Object.entries(doc.components.schemas)) {
      const gvks = (schema['x-kubernetes-group-version-kind'] as GroupVersionKind[] | undefined) ?? [];
      for (const gvk of gvks) {
        if ((gvk.group ? `${gvk.group}/${gvk.version}` : gvk.version) !== apiVersion) continue;
        // kubeconform's {{ .Group }} is the version itself for the core group (apiVersion "v1").
        const file = path.join(dir, `${gvk.kind.toLowerCase()}_${gvk.group || gvk.version}_${gvk.version}.json`);
        fs.writeFileSync(file, JSON.stringify({ $ref: `#/definitions/${name}`, definitions }));
      }
    }
  }
  return path.join(dir, '{{ .ResourceKind }}_{{ .Group }}_{{ .ResourceAPIVersion }}.json');
}
