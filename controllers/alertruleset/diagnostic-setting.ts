// Step 4: the set's diagnostic setting on the server, when the spec asks for diagnostics
// (desiredDiagnosticSetting in desired.ts; holds() the diff). Written only when it differs.
import { extensionResourceUri } from '../../src/azure/resource-type.js';
import { armCall, armGroupWrite } from '../../src/azure/arm/index.js';
import { desiredDiagnosticSetting, diagnosticSettingName, holds } from './desired.js';
import { isNotFound, type AlertPass } from './pass.js';

export async function diagnosticSetting(p: AlertPass): Promise<void> {
  const { clients, server } = p;
  const diag = desiredDiagnosticSetting(p.spec);
  if (!diag) return;
  const uri = extensionResourceUri(server.serverId);
  const name = diagnosticSettingName(p.setName);
  const current = await armCall((o) => clients.monitor.diagnosticSettings.get(uri, name, o)).catch((err: unknown) => {
    if (isNotFound(err)) return undefined;
    throw err;
  });
  if (current && holds(current, diag)) {
    p.diagnosticSettingId = current.id;
    return;
  }
  const put = await armGroupWrite(clients, server.resourceGroup, (o) => clients.monitor.diagnosticSettings.createOrUpdate(uri, name, diag, o));
  p.diagnosticSettingId = put.id;
  p.changes.push(`${current ? 'updated' : 'created'} diagnostic setting`);
}
