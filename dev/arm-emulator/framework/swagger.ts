// The published Azure REST API specs (swagger 2.0) as JSON-schema validators. The emulator validates
// request bodies with them; tests validate every emulator response against the response schema of the
// swagger operation the request matches. `$ref`s resolve across files (common-types included) because each
// spec file is registered with ajv under its own file URL.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { repoRoot } from '../../env/paths.js';
import { ArmError, type ArmErrorDetail } from './errors.js';
import type { SchemaRef } from './types.js';

/** Folder of the azure-rest-api-specs extract: env AZURE_REST_API_SPECS, else `../shared/azure-rest-api-specs`. */
export function specsRoot(): string {
  return process.env.AZURE_REST_API_SPECS ?? path.resolve(repoRoot, '..', 'shared', 'azure-rest-api-specs');
}

/**
 * Published spec files the shared extract lacks (dev/arm-emulator/specs, see its README): loaded in
 * addition to it, each under the path it has upstream so its relative `$ref`s reach the shared files.
 */
export const EXTRA_SPECS_ROOT = path.join(repoRoot, 'dev', 'arm-emulator', 'specs');

export const POSTGRES_SPEC_DIR = 'specification/postgresql/resource-manager/Microsoft.DBforPostgreSQL/stable/2025-08-01';

export interface SwaggerOperation {
  file: string;
  operationId: string;
  method: string;
  template: string;
  regex: RegExp;
  /** status code (or 'default') → absolute schema ref, or null when the response has no body. */
  responses: Record<string, string | null>;
  bodySchema: string | undefined;
  longRunning: boolean;
}

function walk(dir: string, out: string[] = []): string[] {
  for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, ent.name);
    if (ent.isDirectory()) {
      if (ent.name !== 'examples') walk(p, out);
    } else if (ent.name.endsWith('.json')) out.push(p);
  }
  return out;
}

function templateRegex(template: string): RegExp {
  const pattern = template
    .split('/')
    .filter(Boolean)
    .map((seg) => (/^\{\w+\}$/.test(seg) ? '/[^/]+' : '/' + seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${pattern}/?$`, 'i');
}

/** `properties.version` from ajv's `/properties/version`. */
function propertyPath(e: ErrorObject): string {
  const base = e.instancePath.replace(/^\//, '').replace(/\//g, '.');
  const missing = (e.params as { missingProperty?: string }).missingProperty;
  if (missing) return base ? `${base}.${missing}` : missing;
  return base;
}

export function describeSchemaError(e: ErrorObject): string {
  const prop = propertyPath(e) || '(body)';
  if (e.keyword === 'required') return `The property '${prop}' is required.`;
  if (e.keyword === 'enum') {
    const allowed = (e.params as { allowedValues?: unknown[] }).allowedValues ?? [];
    return `The value of the property '${prop}' is not valid. Allowed values: ${allowed.map((a) => `'${String(a)}'`).join(', ')}.`;
  }
  return `The value of the property '${prop}' is not valid: ${e.message ?? e.keyword}.`;
}

export class SwaggerSpecs {
  readonly root: string;
  readonly available: boolean;
  private ajv: Ajv;
  private compiled = new Map<string, ValidateFunction>();
  readonly operations: SwaggerOperation[] = [];

  constructor(root = specsRoot()) {
    this.root = root;
    this.available = fs.existsSync(path.join(root, 'specification'));
    this.ajv = new Ajv({
      strict: false,
      allErrors: true,
      validateSchema: false,
      validateFormats: true,
      logger: false,
      formats: {
        'date-time': (s: string) => !Number.isNaN(Date.parse(s)),
        uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
      },
    });
    if (!this.available) return;
    // Each file as [where it is read from, the path it is registered under]: an extra file as if it sat in
    // the shared folder (same relative path, so its `$ref`s resolve there); the shared copy wins.
    const files: Array<[string, string]> = walk(path.join(root, 'specification')).map((f) => [f, f]);
    const have = new Set(files.map(([f]) => path.relative(root, f)));
    if (fs.existsSync(EXTRA_SPECS_ROOT)) {
      for (const f of walk(path.join(EXTRA_SPECS_ROOT, 'specification'))) {
        const rel = path.relative(EXTRA_SPECS_ROOT, f);
        if (!have.has(rel)) files.push([f, path.join(root, rel)]);
      }
    }
    for (const [source, file] of files) {
      const doc = JSON.parse(fs.readFileSync(source, 'utf8')) as Record<string, unknown>;
      const id = pathToFileURL(file).href;
      this.ajv.addSchema({ ...doc, $id: id }, id);
      this.indexOperations(file, id, doc);
    }
  }

  private indexOperations(file: string, fileUrl: string, doc: Record<string, unknown>): void {
    const paths = (doc.paths ?? {}) as Record<string, Record<string, Record<string, unknown>>>;
    for (const [template, ops] of Object.entries(paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if (method === 'parameters') continue;
        const responses: Record<string, string | null> = {};
        for (const [code, r] of Object.entries((op.responses ?? {}) as Record<string, { schema?: { $ref?: string } }>)) {
          responses[code] = r.schema?.$ref ? new URL(r.schema.$ref, fileUrl).href : null;
        }
        const params = (op.parameters ?? []) as { in?: string; schema?: { $ref?: string } }[];
        const body = params.find((p) => p.in === 'body')?.schema?.$ref;
        this.operations.push({
          file: path.relative(this.root, file),
          operationId: String(op.operationId),
          method: method.toUpperCase(),
          template,
          regex: templateRegex(template),
          responses,
          bodySchema: body ? new URL(body, fileUrl).href : undefined,
          longRunning: op['x-ms-long-running-operation'] === true,
        });
      }
    }
  }

  /** The swagger operation a request matches (method + path template), if any. */
  findOperation(method: string, urlPath: string): SwaggerOperation | undefined {
    const m = method.toUpperCase();
    const candidates = this.operations.filter((o) => o.method === m && o.regex.test(urlPath));
    // The most specific template (most literal characters) wins, as ARM routing does.
    return candidates.sort((a, b) => b.template.replace(/\{\w+\}/g, '').length - a.template.replace(/\{\w+\}/g, '').length)[0];
  }

  refUrl(ref: SchemaRef): string {
    return `${pathToFileURL(path.join(this.root, ref.file)).href}#/definitions/${ref.definition}`;
  }

  /** ajv errors of `value` against the schema at `schemaUrl` (absolute file URL with a JSON pointer). */
  validate(schemaUrl: string, value: unknown): ErrorObject[] {
    if (!this.available) throw new Error(`Azure REST API specs not found at ${this.root}`);
    let fn = this.compiled.get(schemaUrl);
    if (!fn) {
      fn = this.ajv.compile({ $ref: schemaUrl });
      this.compiled.set(schemaUrl, fn);
    }
    return fn(value) ? [] : [...(fn.errors ?? [])];
  }

  /**
   * Validates a request body the way ARM and the resource provider refuse bad input: 400 with the first
   * offending property as target and every problem in `details`. Without specs, validation is skipped.
   */
  assertRequestBody(ref: SchemaRef, body: unknown): void {
    if (!this.available) return;
    const errors = this.validate(this.refUrl(ref), body);
    if (errors.length === 0) return;
    const first = errors[0]!;
    if (first.keyword === 'required' && propertyPath(first) === 'location') {
      throw new ArmError(400, 'LocationRequired', 'The location property is required for this definition.');
    }
    const details: ArmErrorDetail[] = errors.map((e) => ({ code: 'InvalidParameterValue', message: describeSchemaError(e), target: propertyPath(e) }));
    throw new ArmError(400, 'InvalidParameterValue', describeSchemaError(first), propertyPath(first), details);
  }
}
