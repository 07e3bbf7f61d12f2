// The Secrets an AlertRuleSet reads (its webhook receivers' URIs), and the index that answers the
// reverse for the Secret watch: a changed Secret reaches exactly the sets that read it.
import { alertRuleSetSpecSchema, type AlertRuleSetSpec } from '../../src/api/alertruleset.js';
import { resourceOf } from '../../src/api/resources.js';
import type { Request } from '../../src/runtime/controller.js';
import type { KubeObject } from '../../src/runtime/kubeclient.js';
import type { Manager } from '../../src/runtime/manager.js';
import { requestFor, specOf } from '../../src/runtime/reconcile-kit.js';

const RESOURCE = resourceOf('AlertRuleSet');
const WEBHOOK_SECRETS_INDEX = 'spec.actionGroups.webhookReceivers.uriSecretRef.name';

/** Names of the Secrets holding the spec's webhook URIs. */
export function webhookSecrets(spec: AlertRuleSetSpec | undefined): string[] {
  const names = (spec?.actionGroups ?? []).flatMap((g) => (g.webhookReceivers ?? []).map((r) => r.uriSecretRef.name));
  return [...new Set(names)];
}

/** Watch map: a Secret → the sets whose webhook receivers read it (through an index, not a scan). */
export function setsReadingSecret(mgr: Manager): (secret: KubeObject) => Request[] {
  mgr.indexField(RESOURCE, WEBHOOK_SECRETS_INDEX, (o) => webhookSecrets(specOf(o, alertRuleSetSpecSchema)));
  return (secret) => mgr.byIndex(RESOURCE, WEBHOOK_SECRETS_INDEX, secret.metadata.namespace, secret.metadata.name).map(requestFor);
}
