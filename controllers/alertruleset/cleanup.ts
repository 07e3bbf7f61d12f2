// Step 3 (and deletion of the set): alerts and action groups of ours that the spec no longer names are
// deleted, alerts first (so no alert of ours points at a deleted group); only what carries this set's
// owner tag is ever deleted. The set's diagnostic setting goes when asked (no diagnostics in the spec,
// or the set itself deleted).
import type { ActionGroupResource, MetricAlertResource } from '@azure/arm-monitor';
import { extensionResourceUri } from '../../src/azure/resource-type.js';
import type { AzureClients } from '../../src/azure/clients.js';
import { armCall, armGroupWrite, armList } from '../../src/azure/arm/index.js';
import { diagnosticSettingName, type ServerInfo } from './desired.js';
import { isNotFound, isOurs, type AlertPass } from './pass.js';

interface Owned {
  clients: AzureClients;
  server: ServerInfo;
  owner: string;
  setName: string;
  keepAlerts: Set<string>;
  keepGroups: Set<string>;
  dropDiagnostics: boolean;
  listed?: { groupsNow: ActionGroupResource[]; alertsNow: MetricAlertResource[] };
}

const gone = (err: unknown) => {
  if (!isNotFound(err)) throw err;
};

/** Deletes the set's diagnostic setting when it exists; 1 when it did. */
async function dropDiagnosticSetting(clients: AzureClients, server: ServerInfo, setName: string): Promise<number> {
  const uri = extensionResourceUri(server.serverId);
  const name = diagnosticSettingName(setName);
  const exists = await armCall((o) => clients.monitor.diagnosticSettings.get(uri, name, o)).then(
    () => true,
    (err: unknown) => {
      gone(err);
      return false;
    },
  );
  if (!exists) return 0;
  await armGroupWrite(clients, server.resourceGroup, (o) => clients.monitor.diagnosticSettings.delete(uri, name, o)).catch(gone);
  return 1;
}

/** Deletes our alerts and action groups not in the keep sets (and our diagnostic setting when asked); returns how many. */
export async function deleteOwned(x: Owned): Promise<number> {
  const { clients, server, owner } = x;
  const rg = server.resourceGroup;
  const monitor = clients.monitor;
  const alertsNow = x.listed?.alertsNow ?? (await armList((o) => monitor.metricAlerts.listByResourceGroup(rg, o)));
  const groupsNow = x.listed?.groupsNow ?? (await armList((o) => monitor.actionGroups.listByResourceGroup(rg, o)));
  let n = 0;
  for (const a of alertsNow) {
    if (!isOurs(owner, a) || x.keepAlerts.has(String(a.name).toLowerCase())) continue;
    await armGroupWrite(clients, rg, (o) => monitor.metricAlerts.delete(rg, a.name!, o)).catch(gone);
    n++;
  }
  for (const g of groupsNow) {
    if (!isOurs(owner, g) || x.keepGroups.has(String(g.name).toLowerCase())) continue;
    await armGroupWrite(clients, rg, (o) => monitor.actionGroups.delete(rg, g.name!, o)).catch(gone);
    n++;
  }
  if (x.dropDiagnostics) n += await dropDiagnosticSetting(clients, server, x.setName);
  return n;
}

export async function removed(p: AlertPass): Promise<void> {
  const deleted = await deleteOwned({ ...p, dropDiagnostics: !p.spec.diagnostics, listed: { groupsNow: p.groupsNow, alertsNow: p.alertsNow } });
  if (deleted > 0) p.changes.push(`deleted ${deleted}`);
}
