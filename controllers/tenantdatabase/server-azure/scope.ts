// Who may use which Azure scope (src/azure/scope-policy.ts), asked before any ARM call: with the
// operator's own identity only the subscriptions / resource groups the installer's policy grants the
// namespace; with the namespace's own credentials Secret whatever that identity's Azure RBAC allows
// (never falling back to the operator's). Adoption needs a rule with allowAdoption either way.
// Namespace labels: src/azure/scope-check.ts.
import type { AzureServerSpec } from '../../../src/api/tenantdatabase.js';
import { checkScope } from '../../../src/azure/scope-check.js';
import { adoptionDecision, operatorScopeDecision, type NamespaceFacts, type ScopeDecision } from '../../../src/azure/scope-policy.js';
import type { PartCondition, TenantDatabaseContext } from '../context.js';
import { clientsFor, type Credentials } from './credentials.js';
import { cond } from './pass.js';

async function decide(ctx: TenantDatabaseContext, judge: (facts: NamespaceFacts) => ScopeDecision): Promise<PartCondition | undefined> {
  const d = await checkScope(ctx.mgr, ctx.settings.azure.scopePolicy, ctx.namespace, judge);
  if (d.allowed) return undefined;
  // An unreadable namespace is retried with backoff; a denial is Stalled until the policy or spec changes.
  return cond(false, d.reason, d.message, d.reason !== 'NamespaceUnreadable');
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
