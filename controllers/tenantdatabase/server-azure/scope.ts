// Who may use which Azure scope (src/azure/scope-policy.ts), asked before any ARM call: with the
// operator's own identity only the subscriptions / resource groups the installer's policy grants the
// namespace; with the namespace's own credentials Secret whatever that identity's Azure RBAC allows
// (never falling back to the operator's). Adoption needs a rule with allowAdoption either way.
// Namespace labels come from the apiserver (a GET with a deadline, remembered a few seconds), and
// only when some rule selects namespaces by label.
import type { AzureServerSpec } from '../../../src/api/tenantdatabase.js';
import { adoptionDecision, needsLabels, operatorScopeDecision, type NamespaceFacts, type ScopeDecision } from '../../../src/azure/scope-policy.js';
import type { PartCondition, TenantDatabaseContext } from '../context.js';
import { clientsFor, type Credentials } from './credentials.js';
import { cond } from './pass.js';

const NAMESPACE_READ_TIMEOUT_MS = 10_000;
/** How long a namespace's labels are taken as read (a relabel reaches a Stalled object by its recheck). */
const NAMESPACE_LABELS_TTL_MS = 5_000;

const labelCache = new Map<string, { labels: Record<string, string>; at: number }>();

async function namespaceFacts(ctx: TenantDatabaseContext): Promise<NamespaceFacts> {
  if (!needsLabels(ctx.settings.azure.scopePolicy)) return { name: ctx.namespace, labels: undefined };
  const hit = labelCache.get(ctx.namespace);
  if (hit && Date.now() - hit.at < NAMESPACE_LABELS_TTL_MS) return { name: ctx.namespace, labels: hit.labels };
  const ns = await ctx.mgr.client.request<{ metadata?: { labels?: Record<string, string> } }>('GET', `/api/v1/namespaces/${encodeURIComponent(ctx.namespace)}`, {
    timeoutMs: NAMESPACE_READ_TIMEOUT_MS,
  });
  const labels = ns.metadata?.labels ?? {};
  labelCache.set(ctx.namespace, { labels, at: Date.now() });
  return { name: ctx.namespace, labels };
}

async function decide(ctx: TenantDatabaseContext, judge: (facts: NamespaceFacts) => ScopeDecision): Promise<PartCondition | undefined> {
  let facts: NamespaceFacts;
  try {
    facts = await namespaceFacts(ctx);
  } catch (err) {
    // Unknown labels grant nothing; retried with backoff (the operator needs `get` on namespaces).
    return cond(false, 'NamespaceUnreadable', `cannot read namespace ${ctx.namespace} to evaluate the Azure scope policy: ${(err as Error).message}`, false);
  }
  const d = judge(facts);
  return d.allowed ? undefined : cond(false, d.reason, d.message, true);
}

/** Stalled ScopeNotAllowed when the operator's identity would be used outside what the policy grants. */
export function operatorScopeProblem(ctx: TenantDatabaseContext, az: AzureServerSpec): Promise<PartCondition | undefined> {
  if (az.credentialsSecretRef) return Promise.resolve(undefined);
  return decide(ctx, (facts) => operatorScopeDecision(ctx.settings.azure.scopePolicy, facts, { subscriptionId: az.subscriptionId, resourceGroup: az.resourceGroup }));
}

/** Stalled AdoptionNotAllowed unless the policy lets this namespace adopt in the server's scope. */
export function adoptionProblem(ctx: TenantDatabaseContext, az: AzureServerSpec): Promise<PartCondition | undefined> {
  return decide(ctx, (facts) => adoptionDecision(ctx.settings.azure.scopePolicy, facts, { subscriptionId: az.subscriptionId, resourceGroup: az.resourceGroup }));
}

/** ARM clients for the object, only when its identity may act on its scope (no ARM call otherwise). */
export async function authorisedClients(ctx: TenantDatabaseContext, az: AzureServerSpec): Promise<Credentials> {
  const problem = await operatorScopeProblem(ctx, az);
  if (problem) return { problem };
  return clientsFor(ctx, az);
}
