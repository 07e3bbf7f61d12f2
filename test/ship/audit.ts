// The apiserver's audit log, read to prove the chart's RBAC is sufficient and minimal: which requests a
// user made (verb, API group, resource, subresource) and which were forbidden.
import fs from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';

/** kube-apiserver flags that log every request of a ServiceAccount at Metadata level (no bodies: no secrets). */
export function auditFlags(dir: string): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const policy = path.join(dir, 'audit-policy.yaml');
  fs.writeFileSync(
    policy,
    stringify({
      apiVersion: 'audit.k8s.io/v1',
      kind: 'Policy',
      omitStages: ['RequestReceived'],
      rules: [{ level: 'Metadata', userGroups: ['system:serviceaccounts'] }, { level: 'None' }],
    }),
  );
  return [`--audit-policy-file=${policy}`, `--audit-log-path=${auditLogPath(dir)}`, '--audit-log-format=json', '--audit-log-mode=blocking', '--audit-log-maxbackup=1'];
}

export const auditLogPath = (dir: string) => path.join(dir, 'audit.log');

export interface AuditedRequest {
  verb: string;
  apiGroup: string;
  resource: string;
  namespace?: string;
  name?: string;
  code: number;
  uri: string;
}

interface AuditEvent {
  stage: string;
  verb: string;
  requestURI: string;
  user: { username: string };
  userAgent?: string;
  objectRef?: { resource?: string; subresource?: string; apiGroup?: string; namespace?: string; name?: string };
  responseStatus?: { code?: number };
}

/** Resource requests of `username`, one per request (the last stage logged for it). */
export function auditedRequests(dir: string, username: string): AuditedRequest[] {
  const out: AuditedRequest[] = [];
  for (const line of fs.readFileSync(auditLogPath(dir), 'utf8').split('\n')) {
    if (!line) continue;
    const ev = JSON.parse(line) as AuditEvent;
    if (ev.user.username !== username || !ev.objectRef?.resource) continue;
    // The test's own `kubectl auth whoami` with the same token is not the operator.
    if (ev.userAgent?.startsWith('kubectl')) continue;
    // A watch logs ResponseStarted and ResponseComplete; count it once.
    if (ev.stage === 'ResponseStarted') continue;
    const r = ev.objectRef;
    out.push({
      verb: ev.verb,
      apiGroup: r.apiGroup ?? '',
      resource: r.subresource ? `${r.resource}/${r.subresource}` : (r.resource as string),
      ...(r.namespace ? { namespace: r.namespace } : {}),
      ...(r.name ? { name: r.name } : {}),
      code: ev.responseStatus?.code ?? 0,
      uri: ev.requestURI,
    });
  }
  return out;
}

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/** (group, resource, verb) triples a set of rules grants, as "group/resource:verb". */
export function grantedTriples(rules: PolicyRule[]): string[] {
  const out = new Set<string>();
  for (const r of rules) for (const g of r.apiGroups) for (const res of r.resources) for (const v of r.verbs) out.add(`${g}/${res}:${v}`);
  return [...out].sort();
}

export function usedTriples(reqs: AuditedRequest[]): string[] {
  return [...new Set(reqs.map((r) => `${r.apiGroup}/${r.resource}:${r.verb}`))].sort();
}

/** Rules granting exactly the triples used, grouped the way files/rbac-rules.yaml writes them. */
export function rulesFor(triples: string[]): PolicyRule[] {
  const byResource = new Map<string, Set<string>>();
  for (const t of triples) {
    const [gr, verb] = t.split(':') as [string, string];
    byResource.set(gr, (byResource.get(gr) ?? new Set()).add(verb));
  }
  const byVerbs = new Map<string, PolicyRule>();
  for (const [gr, verbs] of byResource) {
    const slash = gr.indexOf('/');
    const group = gr.slice(0, slash);
    const resource = gr.slice(slash + 1);
    const key = `${group}|${[...verbs].sort().join(',')}`;
    const rule = byVerbs.get(key) ?? { apiGroups: [group], resources: [], verbs: [...verbs].sort() };
    rule.resources.push(resource);
    byVerbs.set(key, rule);
  }
  return [...byVerbs.values()];
}
