// Step 2: metric alerts, the built-in rules plus the spec's (effectiveRules in defaults.ts; desiredAlert
// in desired.ts the desired state, holds() the diff). A name taken by an alert not ours stops the set.
import type { MetricAlertResource } from '@azure/arm-monitor';
import { armGroupWrite } from '../../src/azure/arm/index.js';
import { effectiveRules } from './defaults.js';
import { desiredAlert, holds, metricAlertId } from './desired.js';
import { byName, InputError, isOurs, type AlertPass } from './pass.js';

export async function metricAlerts(p: AlertPass): Promise<void> {
  const { server, clients } = p;
  const rg = server.resourceGroup;
  const existing = byName(p.alertsNow);
  const alerts = effectiveRules(p.spec, p.replicas).map((r) => desiredAlert(server, r, p.owner));
  for (const a of alerts) {
    const current = existing.get(a.name.toLowerCase()) as MetricAlertResource | undefined;
    if (current && !isOurs(p.owner, current)) throw new InputError(`metric alert ${a.name} already exists in resource group ${rg} and was not made by this AlertRuleSet`);
    if (current && holds(current, a.body)) continue;
    await armGroupWrite(clients, rg, (o) => clients.monitor.metricAlerts.createOrUpdate(rg, a.name, a.body, o));
    p.changes.push(`${current ? 'updated' : 'created'} alert ${a.rule}`);
  }
  p.keepAlerts = new Set(alerts.map((a) => a.name.toLowerCase()));
  p.rules = alerts.map((a) => ({ name: a.rule, resourceId: metricAlertId(server, a.name) }));
}
