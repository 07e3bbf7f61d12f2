// Step 6: firewall rules, only when the spec lists them (then the list is the whole set; firewallSteps
// in desired.ts is the diff). One rule written per pass.
import type { ServerOutcome } from '../context.js';
import { begin } from './apply.js';
import { firewallSteps } from './desired.js';
import { cachedList, type Pass } from './pass.js';

export async function firewall(p: Pass): Promise<ServerOutcome | undefined> {
  const { az, clients } = p;
  if (az.network?.firewallRules === undefined) return undefined;
  const rules = await cachedList(p, 'firewall', (o) => clients.postgres.firewallRules.listByServer(az.resourceGroup, az.name, o));
  const s = firewallSteps(az, rules)[0];
  if (!s) return undefined;
  return s.op === 'put'
    ? begin(p, 'firewallRules.createOrUpdate', s.name, { startIpAddress: s.startIpAddress, endIpAddress: s.endIpAddress }, 'Updating', `setting firewall rule ${s.name} (${s.startIpAddress}-${s.endIpAddress})`)
    : begin(p, 'firewallRules.delete', s.name, undefined, 'Updating', `deleting firewall rule ${s.name}, not in the spec`);
}
