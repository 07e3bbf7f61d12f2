// What Azure says about the server for the health report, through the shared ARM path: the server from
// its resource group's shared list (the server part read it in this same pass, so this is normally no
// request) and the backups list, read at most once per health period per server (read cache). A failed
// read leaves the Azure figures out and says why; the database figures are reported regardless.
import type { AzureServerSpec } from '../../../src/api/tenantdatabase.js';
import { armList, cachedRead, serverKey, serversOf } from '../../../src/azure/arm/index.js';
import { classifyArmError } from '../../../src/azure/errors.js';
import { primaryServerName, SERVER_OWNER_TAG } from '../../../src/tenantdatabase/index.js';
import type { TenantDatabaseContext } from '../context.js';
import { clientsFor } from '../server-azure/credentials.js';
import type { AzureFigures } from './evaluate.js';

export async function azureFigures(ctx: TenantDatabaseContext, az: AzureServerSpec, periodMs: number): Promise<AzureFigures> {
  const { clients, problem } = clientsFor(ctx, az);
  if (!clients) return { problem: `Azure figures not read: ${problem?.message ?? 'no credentials'}` };
  const rg = az.resourceGroup;
  try {
    // After a promotion, the promoted replica ARM confirms (src/tenantdatabase/promotion.ts).
    const name = await primaryServerName(az, `${ctx.namespace}/${ctx.name}`, SERVER_OWNER_TAG, (n) => serversOf(clients, rg).get(n));
    const server = await serversOf(clients, rg).get(name);
    if (!server) return { problem: `Azure figures not read: Azure does not report server ${name}` };
    const backups = await cachedRead(serverKey(clients, rg, name) + 'health-backups', () => armList((o) => clients.postgres.backupsAutomaticAndOnDemand.listByServer(rg, name, o)), periodMs);
    return {
      ...(server.storage?.storageSizeGB !== undefined ? { provisionedGiB: server.storage.storageSizeGB } : {}),
      backupCount: backups.length,
      ...(server.backup?.earliestRestoreDate ? { earliestRestorePoint: new Date(server.backup.earliestRestoreDate) } : {}),
      ...(server.backup?.backupRetentionDays !== undefined ? { retentionDays: server.backup.backupRetentionDays } : {}),
    };
  } catch (err) {
    const e = classifyArmError(err);
    return { problem: `Azure figures not read: ${e.code}: ${e.message}`.slice(0, 1024) };
  }
}
