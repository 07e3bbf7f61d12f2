// zod schema -> CustomResourceDefinition. zod's JSON Schema output is close to what Kubernetes wants;
// this module removes what a structural schema forbids, refuses what it cannot express, and checks
// the project's own rules (every field described, every string/list/map bounded so CEL cost
// estimates stay inside the apiserver's budget).
import { z } from 'zod';
import { stringify } from 'yaml';
import { API_GROUP, API_VERSION } from './kinds.js';
import type { KindDefinition } from './object.js';

export type JsonSchema = Record<string, unknown>;

export class SchemaConversionError extends Error {
  override name = 'SchemaConversionError';
}

// Keys written first, in this order; anything else follows alphabetically. Order only serves people
// reading the YAML, but it has to be stable so `crds/` can be compared byte for byte.
const KEY_ORDER = [
  'description',
  'type',
  'format',
  'enum',
  'default',
  'pattern',
  'minLength',
  'maxLength',
  'minimum',
  'maximum',
  'minItems',
  'maxItems',
  'maxProperties',
  'required',
  'items',
  'properties',
  'additionalProperties',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-validations',
];

const FORBIDDEN = ['anyOf', 'oneOf', 'allOf', 'not', '$ref', '$defs', 'definitions', 'if', 'then', 'else', 'prefixItems', 'patternProperties'];
const SAFE_INT = 9007199254740991;

function ordered(node: JsonSchema): JsonSchema {
  const keys = Object.keys(node).sort((a, b) => {
    const ia = KEY_ORDER.indexOf(a);
    const ib = KEY_ORDER.indexOf(b);
    if (ia !== -1 || ib !== -1) return (ia === -1 ? KEY_ORDER.length : ia) - (ib === -1 ? KEY_ORDER.length : ib);
    return a < b ? -1 : a > b ? 1 : 0;
  });
  const out: JsonSchema = {};
  for (const k of keys) out[k] = node[k];
  return out;
}

/** Turn one node of zod's JSON Schema into a structural OpenAPI v3 node, recursively. */
export function toStructural(input: JsonSchema, path: string): JsonSchema {
  const node: JsonSchema = { ...input };
  for (const k of ['$schema', 'id', '$id', 'propertyNames', 'title', 'examples']) delete node[k];
  for (const k of FORBIDDEN) {
    if (k in node) throw new SchemaConversionError(`${path}: '${k}' cannot appear in a structural schema; model it with CEL rules instead`);
  }
  if ('const' in node) {
    node.enum = [node.const];
    delete node.const;
  }
  if (node.additionalProperties === false) delete node.additionalProperties;
  if (node.format === 'date-time') delete node.pattern; // zod's date-time regex is for JS; the apiserver checks the format itself
  if (node.minimum === -SAFE_INT) delete node.minimum;
  if (node.maximum === SAFE_INT) delete node.maximum;
  if (node.exclusiveMinimum !== undefined || node.exclusiveMaximum !== undefined) {
    throw new SchemaConversionError(`${path}: use inclusive bounds (min/max), not exclusive ones`);
  }

  const type = node.type;
  if (typeof type !== 'string') throw new SchemaConversionError(`${path}: every node needs a single type (got ${JSON.stringify(type)})`);

  if (type === 'string' && node.maxLength === undefined && node.enum === undefined && node.format !== 'date-time') {
    throw new SchemaConversionError(`${path}: strings need maxLength (CEL cost estimates and etcd size)`);
  }
  if (type === 'array') {
    if (node.maxItems === undefined) throw new SchemaConversionError(`${path}: arrays need maxItems`);
    const items = node.items;
    if (typeof items !== 'object' || items === null || Array.isArray(items)) throw new SchemaConversionError(`${path}: arrays need one items schema`);
    node.items = toStructural(items as JsonSchema, `${path}[]`);
  }
  if (type === 'object') {
    const props = node.properties as Record<string, JsonSchema> | undefined;
    if (props) {
      const out: Record<string, JsonSchema> = {};
      for (const key of Object.keys(props).sort()) {
        const child = props[key] as JsonSchema;
        if (typeof child.description !== 'string' || child.description.length === 0) {
          throw new SchemaConversionError(`${path}.${key}: every field needs a description (kubectl explain shows it)`);
        }
        out[key] = toStructural(child, `${path}.${key}`);
      }
      node.properties = out;
      if (Array.isArray(node.required)) node.required = [...(node.required as string[])].sort();
      if (Array.isArray(node.required) && node.required.length === 0) delete node.required;
    }
    if (node.additionalProperties !== undefined) {
      if (props) throw new SchemaConversionError(`${path}: properties and additionalProperties are mutually exclusive`);
      if (node.maxProperties === undefined) throw new SchemaConversionError(`${path}: maps need maxProperties`);
      node.additionalProperties = toStructural(node.additionalProperties as JsonSchema, `${path}.*`);
    }
  }
  return ordered(node);
}

export function jsonSchemaOf(schema: z.ZodType): JsonSchema {
  return z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input', unrepresentable: 'throw', reused: 'inline' }) as JsonSchema;
}

export function openApiSchemaFor(kind: KindDefinition): JsonSchema {
  const spec = toStructural(jsonSchemaOf(kind.spec), 'spec');
  const status = toStructural(jsonSchemaOf(kind.status), 'status');
  return ordered({
    description: kind.description,
    type: 'object',
    required: ['spec'],
    properties: {
      apiVersion: {
        description: 'Versioned schema of this representation of an object; tenantdb.io/v1alpha1.',
        type: 'string',
      },
      kind: {
        description: `Kind of the object: ${kind.info.kind}.`,
        type: 'string',
      },
      metadata: { type: 'object' },
      spec,
      status,
    },
  });
}

export function crdFor(kind: KindDefinition): JsonSchema {
  const { info } = kind;
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${info.plural}.${API_GROUP}` },
    spec: {
      group: API_GROUP,
      names: {
        kind: info.kind,
        listKind: info.listKind,
        plural: info.plural,
        singular: info.singular,
        shortNames: [...info.shortNames],
        categories: [...kind.categories],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: API_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: kind.printerColumns.map((c) => ({
            name: c.name,
            type: c.type,
            jsonPath: c.jsonPath,
            description: c.description,
            ...(c.priority !== undefined ? { priority: c.priority } : {}),
          })),
          schema: { openAPIV3Schema: openApiSchemaFor(kind) },
        },
      ],
    },
  };
}

export const GENERATED_HEADER = '# Generated by `npm run generate` from the zod schemas in src/api/. Do not edit by hand.\n';

export function crdFileName(kind: KindDefinition): string {
  return `${API_GROUP}_${kind.info.plural}.yaml`;
}

export function renderCrd(kind: KindDefinition): string {
  return GENERATED_HEADER + stringify(crdFor(kind), { lineWidth: 0, aliasDuplicateObjects: false });
}

/**
 * The chart's template of a CRD (charts/tenantdb-operator/templates/crds/): the same CRD behind
 * `crds.create`, with the chart's labels and, with `crds.keep`, helm.sh/resource-policy: keep so that
 * `helm uninstall` never deletes the CRD and with it every custom object.
 */
export function chartCrdTemplate(kind: KindDefinition): string {
  const crd = crdFor(kind);
  const body = stringify(
    { ...crd, metadata: { name: (crd.metadata as { name: string }).name, labels: '@@LABELS@@', annotations: '@@ANNOTATIONS@@' } },
    { lineWidth: 0, aliasDuplicateObjects: false },
  );
  // Helm would read "{{" in a description or CEL rule as a template action.
  if (body.includes('{{')) throw new SchemaConversionError(`${kind.info.kind}: "{{" cannot appear in a chart template`);
  const templated = body
    .replace('  labels: "@@LABELS@@"\n', '  labels:\n    {{- include "tenantdb-operator.labels" . | nindent 4 }}\n')
    .replace(
      '  annotations: "@@ANNOTATIONS@@"\n',
      '  {{- if .Values.crds.keep }}\n  annotations:\n    helm.sh/resource-policy: keep\n  {{- end }}\n',
    );
  return `${GENERATED_HEADER}{{- if .Values.crds.create }}\n${templated}{{- end }}\n`;
}
