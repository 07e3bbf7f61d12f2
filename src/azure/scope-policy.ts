// Which Azure scopes a namespace may reach with the OPERATOR'S identity, as the installer grants them
// (--azure-scope-policy, chart value azure.scopePolicy). Deny by default: no policy, or no rule
// matching the namespace and the scope, means no ARM call with the operator's identity. A namespace
// with its own credentials Secret is bound by that identity's Azure RBAC instead; adopting an existing
// server needs a rule with allowAdoption whichever identity is used.
//
// A rule grants `subscriptions` x `resourceGroups` to the namespaces it matches: `namespaces` (names)
// and/or `namespaceSelector` (labels, metav1.LabelSelector); both given: both must match. Names match
// case-insensitively (Azure's are); `*` in a subscription or resource group pattern matches any run of
// characters ("team-a-*"), a lone `*` everything.
import fs from 'node:fs';
import YAML from 'yaml';
import { z } from 'zod';
import { selectorMatches } from '../runtime/selectors.js';

const selectorSchema = z
  .object({
    matchLabels: z.record(z.string(), z.string()).optional(),
    matchExpressions: z
      .array(z.object({ key: z.string().min(1), operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']), values: z.array(z.string()).optional() }).strict())
      .optional(),
  })
  .strict();

const pattern = z.string().trim().min(1);

const ruleSchema = z
  .object({
    namespaces: z.array(z.string().min(1)).optional(),
    namespaceSelector: selectorSchema.optional(),
    subscriptions: z.array(pattern).min(1),
    resourceGroups: z.array(pattern).min(1),
    allowAdoption: z.boolean().default(false),
  })
  .strict()
  .refine((r) => r.namespaces !== undefined || r.namespaceSelector !== undefined, { message: 'a rule needs namespaces or namespaceSelector' });

// A bare list of rules is accepted too (normalised before parsing, so errors name the rule and field).
export const scopePolicySchema = z.object({ rules: z.array(ruleSchema).default([]) }).strict();

export type ScopeRule = z.output<typeof ruleSchema>;
export interface ScopePolicy {
  rules: ScopeRule[];
}

/** The policy of an install without one: nothing is granted. */
export const DENY_ALL: ScopePolicy = { rules: [] };

/** Parses a policy document (YAML or JSON); the message names the offending rule and field. */
export function parseScopePolicy(text: string): ScopePolicy {
  const doc: unknown = YAML.parse(text) ?? { rules: [] };
  const parsed = scopePolicySchema.safeParse(Array.isArray(doc) ? { rules: doc } : doc);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new Error(`${i.path.join('.') || 'policy'}: ${i.message}`);
  }
  return parsed.data;
}

export function readScopePolicyFile(file: string): ScopePolicy {
  return parseScopePolicy(fs.readFileSync(file, 'utf8'));
}

function globMatches(glob: string, value: string): boolean {
  if (glob === '*') return true;
  const re = new RegExp(`^${glob.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'i');
  return re.test(value);
}

/** What a rule needs to know about the namespace: its name, and its labels when a rule selects by them. */
export interface NamespaceFacts {
  name: string;
  labels: Readonly<Record<string, string>> | undefined;
}

function ruleMatchesNamespace(rule: ScopeRule, ns: NamespaceFacts): boolean {
  if (rule.namespaces && !rule.namespaces.includes(ns.name)) return false;
  if (rule.namespaceSelector) return ns.labels !== undefined && selectorMatches(rule.namespaceSelector, ns.labels);
  return true;
}

export interface AzureScope {
  subscriptionId: string;
  resourceGroup: string;
}

function ruleCovers(rule: ScopeRule, scope: AzureScope): boolean {
  return rule.subscriptions.some((g) => globMatches(g, scope.subscriptionId)) && rule.resourceGroups.some((g) => globMatches(g, scope.resourceGroup));
}

/** The rules granting `scope` to the namespace (empty: denied). */
export function grantingRules(policy: ScopePolicy | undefined, ns: NamespaceFacts, scope: AzureScope): ScopeRule[] {
  return (policy ?? DENY_ALL).rules.filter((r) => ruleMatchesNamespace(r, ns) && ruleCovers(r, scope));
}

/** True when some rule needs the namespace's labels (otherwise the name alone decides, no apiserver read). */
export function needsLabels(policy: ScopePolicy | undefined): boolean {
  return (policy ?? DENY_ALL).rules.some((r) => r.namespaceSelector !== undefined);
}

export type ScopeDecision = { allowed: true } | { allowed: false; reason: 'ScopeNotAllowed' | 'AdoptionNotAllowed'; message: string };

const scopeText = (s: AzureScope) => `subscription ${s.subscriptionId}, resource group ${s.resourceGroup}`;

/** May the namespace use the operator's identity on `scope`? */
export function operatorScopeDecision(policy: ScopePolicy | undefined, ns: NamespaceFacts, scope: AzureScope): ScopeDecision {
  if (grantingRules(policy, ns, scope).length) return { allowed: true };
  return {
    allowed: false,
    reason: 'ScopeNotAllowed',
    message: `namespace ${ns.name} may not use the operator's Azure identity in ${scopeText(scope)}: no rule of the operator's scope policy (--azure-scope-policy) grants it; ask the installer for a rule, or name your own identity in spec.server.azure.credentialsSecretRef`,
  };
}

/** May the namespace adopt an existing server in `scope`? Needs a rule with allowAdoption, whatever identity is used. */
export function adoptionDecision(policy: ScopePolicy | undefined, ns: NamespaceFacts, scope: AzureScope): ScopeDecision {
  if (grantingRules(policy, ns, scope).some((r) => r.allowAdoption)) return { allowed: true };
  return {
    allowed: false,
    reason: 'AdoptionNotAllowed',
    message: `namespace ${ns.name} may not adopt existing servers in ${scopeText(scope)}: no rule of the operator's scope policy (--azure-scope-policy) grants it with allowAdoption: true; the annotation alone is not enough`,
  };
}
