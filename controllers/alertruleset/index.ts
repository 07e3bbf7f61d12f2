// The AlertRuleSet controller: Azure Monitor action groups, metric alerts and a diagnostic setting for
// the server of a TenantDatabase on Azure. Level-based: every pass reads what exists (3 ARM reads: the
// resource group's alerts and action groups, the one diagnostic setting), diffs it against the spec and
// writes only what differs, so a converged set costs no write. Only resources carrying this set's owner
// tag are ever deleted; deleting the AlertRuleSet deletes what it made (alerts are not data). Every ARM
// call goes through src/azure/arm (the shared request budget, deadlines).
//
// This file: registration and watches. reconcile.ts: the pass and its ordered steps (action-groups.ts,
// metric-alerts.ts, cleanup.ts, diagnostic-setting.ts).
import { KINDS } from '../../src/api/kinds.js';
import { FINALIZER, resourceOf } from '../../src/api/resources.js';
import { SECRETS } from '../../src/runtime/reconcile-kit.js';
import { TENANT_DATABASES, referrersOf } from '../../src/tenantdatabase/index.js';
import type { Manager } from '../../src/runtime/manager.js';
import { DEFAULT_CONTROLLER_SETTINGS, type ControllerSettings } from '../../src/settings.js';
import { alertRuleSetReconciler } from './reconcile.js';
import { setsReadingSecret } from './webhook-secrets.js';

export { FINALIZER };
const RESOURCE = resourceOf('AlertRuleSet');

export function registerAlertRuleSetController(mgr: Manager, settings: ControllerSettings = DEFAULT_CONTROLLER_SETTINGS): void {
  mgr.addController({
    name: KINDS.AlertRuleSet.singular,
    resource: RESOURCE,
    reconcile: alertRuleSetReconciler(mgr, settings),
    watches: [
      { resource: TENANT_DATABASES, map: referrersOf(mgr, RESOURCE) },
      { resource: SECRETS, map: setsReadingSecret(mgr) },
    ],
  });
}
