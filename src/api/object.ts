// The envelope around a kind's spec and status (apiVersion, kind, metadata), the registry of kinds
// the generator walks, and the runtime validation entry point.
import { z } from 'zod';
import { API_GROUP_VERSION, KINDS, type KindInfo, type KindName } from './kinds.js';

/**
 * Only the metadata fields the operator reads are typed; the rest passes through untouched, because
 * the apiserver owns ObjectMeta and validates it itself.
 */
export const objectMetaSchema = z
  .looseObject({
    name: z.string().max(253).optional(),
    generateName: z.string().max(253).optional(),
    namespace: z.string().max(63).optional(),
    uid: z.string().optional(),
    resourceVersion: z.string().optional(),
    generation: z.int().min(0).optional(),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
    finalizers: z.array(z.string()).optional(),
    deletionTimestamp: z.string().optional(),
    creationTimestamp: z.string().optional(),
  })
  .describe('Standard object metadata.');

export type ObjectMeta = z.infer<typeof objectMetaSchema>;

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description: string;
  priority?: number;
}

export interface KindDefinition<Spec extends z.ZodType = z.ZodType, Status extends z.ZodType = z.ZodType> {
  info: KindInfo;
  description: string;
  spec: Spec;
  status: Status;
  printerColumns: PrinterColumn[];
  categories: string[];
}

export function kindObjectSchema<Spec extends z.ZodType, Status extends z.ZodType>(kind: KindName, spec: Spec, status: Status) {
  return z.object({
    apiVersion: z.literal(API_GROUP_VERSION),
    kind: z.literal(KINDS[kind].kind),
    metadata: objectMetaSchema,
    spec,
    status: status.optional(),
  });
}

export const READY_COLUMNS: PrinterColumn[] = [
  { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status', description: 'Whether the object is fully reconciled.' },
  { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason', description: 'Why the object is (not) ready.' },
];
export const AGE_COLUMN: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Time since creation.' };

export class ValidationError extends Error {
  constructor(
    readonly kind: string,
    readonly issues: { path: string; message: string }[],
  ) {
    super(`invalid ${kind}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
    this.name = 'ValidationError';
  }
}

/** Path as the apiserver prints it: `spec.server.azure.firewallRules[0].name`. */
export function issuePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out;
}

export type ValidationResult<T> = { ok: true; value: T } | { ok: false; error: ValidationError };

export function validateWith<S extends z.ZodType>(kind: string, schema: S, input: unknown): ValidationResult<z.output<S>> {
  const r = schema.safeParse(input);
  if (r.success) return { ok: true, value: r.data };
  return { ok: false, error: new ValidationError(kind, r.error.issues.map((i) => ({ path: issuePath(i.path), message: i.message }))) };
}
