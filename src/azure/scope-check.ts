// The installer's scope policy (scope-policy.ts) asked for one namespace: its labels read from the
// apiserver (a GET with a deadline, remembered a few seconds, and only when some rule selects namespaces
// by label), then the decision. Used by the TenantDatabase server part before any ARM call, and by
// lookupAzureServer for the controllers that act on a TenantDatabase's server (BackupPolicy, AlertRuleSet).
import type { Manager } from '../runtime/manager.js';
import { needsLabels, type NamespaceFacts, type ScopeDecision, type ScopePolicy } from './scope-policy.js';

const NAMESPACE_READ_TIMEOUT_MS = 10_000;
/** How long a namespace's labels are taken as read (a relabel reaches a Stalled object by its recheck). */
const NAMESPACE_LABELS_TTL_MS = 5_000;
/** Namespaces remembered at most (a cluster has few; the bound keeps a churn of them from growing this). */
const MAX_REMEMBERED = 1024;

const labelCache = new Map<string, { labels: Record<string, string>; at: number }>();

/** The namespace as the policy sees it: its name, and its labels when some rule selects by label. */
export async function namespaceFacts(mgr: Manager, policy: ScopePolicy | undefined, namespace: string): Promise<NamespaceFacts> {
  if (!needsLabels(policy)) return { name: namespace, labels: undefined };
  const hit = labelCache.get(namespace);
  if (hit && Date.now() - hit.at < NAMESPACE_LABELS_TTL_MS) return { name: namespace, labels: hit.labels };
  const ns = await mgr.client.request<{ metadata?: { labels?: Record<string, string> } }>('GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}`, {
    timeoutMs: NAMESPACE_READ_TIMEOUT_MS,
  });
  const labels = ns.metadata?.labels ?? {};
  if (labelCache.size >= MAX_REMEMBERED) labelCache.clear();
  labelCache.set(namespace, { labels, at: Date.now() });
  return { name: namespace, labels };
}

export type ScopeCheck = ScopeDecision | { allowed: false; reason: 'NamespaceUnreadable'; message: string };

/** `judge` applied to the namespace; unknown labels grant nothing (NamespaceUnreadable, retried). */
export async function checkScope(mgr: Manager, policy: ScopePolicy | undefined, namespace: string, judge: (facts: NamespaceFacts) => ScopeDecision): Promise<ScopeCheck> {
  let facts: NamespaceFacts;
  try {
    facts = await namespaceFacts(mgr, policy, namespace);
  } catch (err) {
    return { allowed: false, reason: 'NamespaceUnreadable', message: `cannot read namespace ${namespace} to evaluate the Azure scope policy: ${(err as Error).message}` };
  }
  return judge(facts);
}
