// CRD-only annotations carried on zod schemas through `.meta()`, so one schema declares both the
// runtime check and the admission rule. The generator copies these keys into the CRD verbatim;
// zod's toJSONSchema already merges metadata into its output, so nothing else needs a side table.
import type { z } from 'zod';

export interface CelRule {
  /** CEL expression; `self` is the annotated value, `oldSelf` makes it a transition rule. */
  rule: string;
  message: string;
  /** JSONPath-like path (relative to the annotated value) the apiserver reports the error at. */
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
}

/**
 * A CEL rule plus, where it can be expressed without the old object, the same rule as a JS predicate,
 * so `validate...()` rejects what the apiserver rejects.
 */
export interface Rule<T> extends CelRule {
  check?: (value: T) => boolean;
}

export const K8S_VALIDATIONS = 'x-kubernetes-validations';

function existingRules(schema: z.ZodType): CelRule[] {
  const meta = schema.meta() as Record<string, unknown> | undefined;
  const rules = meta?.[K8S_VALIDATIONS];
  return Array.isArray(rules) ? (rules as CelRule[]) : [];
}

/** Attach CEL rules (and their runtime twins) to a schema. */
export function withRules<S extends z.ZodType>(schema: S, rules: readonly Rule<z.output<S>>[]): S {
  let result: z.ZodType = schema;
  for (const r of rules) {
    const check = r.check;
    if (!check) continue;
    result = result.refine((v) => check(v as z.output<S>), {
      message: r.message,
      ...(r.fieldPath ? { path: r.fieldPath.replace(/^\./, '').split('.') } : {}),
    });
  }
  const cels: CelRule[] = rules.map(({ check: _check, ...cel }) => cel);
  return result.meta({ [K8S_VALIDATIONS]: [...existingRules(schema), ...cels] }) as S;
}

/**
 * Immutability as a transition rule: only evaluated on update when the field exists in both the
 * old and the new object, so pair it with a default or a parent rule if removal must be caught too.
 */
export function immutable<S extends z.ZodType>(schema: S, what: string): S {
  return withRules(schema, [{ rule: 'self == oldSelf', message: `${what} is immutable` }]);
}

/**
 * A list whose items are identified by the given keys: the apiserver rejects duplicate keys and
 * server-side apply merges by them; the refine gives runtime validation the same uniqueness.
 */
export function listMap<S extends z.ZodType>(schema: S, keys: readonly string[]): S {
  const unique = schema.superRefine((items, ctx) => {
    if (!Array.isArray(items)) return;
    const seen = new Set<string>();
    items.forEach((item: Record<string, unknown>, index) => {
      const key = JSON.stringify(keys.map((k) => item[k]));
      // Reported at the repeated item, as the apiserver does.
      if (seen.has(key)) ctx.addIssue({ code: 'custom', message: `duplicate ${keys.join('/')}`, path: [index] });
      seen.add(key);
    });
  });
  return unique.meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': [...keys] }) as unknown as S;
}

/** A list of unique scalar values. */
export function listSet<S extends z.ZodType>(schema: S): S {
  const unique = schema.refine((items) => !Array.isArray(items) || new Set(items).size === items.length, { message: 'duplicate value in list' });
  return unique.meta({ 'x-kubernetes-list-type': 'set' }) as unknown as S;
}

/** Quote a string as a CEL single-quoted literal (patterns go through CEL `matches`). */
export function celString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
