// Step 1: action groups (desiredActionGroups in desired.ts is the desired state; holds() the diff).
// A name taken by a group not ours stops the set; only what differs is written.
import type { ActionGroupResource } from '@azure/arm-monitor';
import { armGroupWrite } from '../../src/azure/arm/index.js';
import { actionGroupId, desiredActionGroups, holds } from './desired.js';
import { byName, InputError, isOurs, type AlertPass } from './pass.js';

export async function actionGroups(p: AlertPass): Promise<void> {
  const { server, clients } = p;
  const rg = server.resourceGroup;
  const existing = byName(p.groupsNow);
  const groups = desiredActionGroups(p.spec, p.owner, (g, r) => p.uris.get(`${g}\u0000${r}`) ?? '');
  for (const g of groups) {
    const current = existing.get(g.name.toLowerCase()) as ActionGroupResource | undefined;
    if (current && !isOurs(p.owner, current)) throw new InputError(`action group ${g.name} already exists in resource group ${rg} and was not made by this AlertRuleSet; rename it in spec.actionGroups`);
    if (current && holds(current, g.body)) continue;
    await armGroupWrite(clients, rg, (o) => clients.monitor.actionGroups.createOrUpdate(rg, g.name, g.body, o));
    p.changes.push(`${current ? 'updated' : 'created'} action group ${g.name}`);
  }
  p.keepGroups = new Set(groups.map((g) => g.name.toLowerCase()));
  p.actionGroups = groups.map((g) => ({ name: g.name, resourceId: actionGroupId(server, g.name) }));
}
