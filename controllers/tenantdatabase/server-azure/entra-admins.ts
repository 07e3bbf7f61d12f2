// Step 8: Microsoft Entra administrators; the spec's list is the whole set when present (adminSteps in
// desired.ts is the diff). One change per pass.
import type { ServerOutcome } from '../context.js';
import { begin } from './apply.js';
import { adminSteps } from './desired.js';
import { cachedList, type Pass } from './pass.js';

export async function entraAdministrators(p: Pass): Promise<ServerOutcome | undefined> {
  const { az, clients } = p;
  if (az.entraAdministrators === undefined) return undefined;
  const admins = await cachedList(p, 'administrators', (o) => clients.postgres.administratorsMicrosoftEntra.listByServer(az.resourceGroup, az.name, o));
  const s = adminSteps(az, admins)[0];
  if (!s) return undefined;
  return s.op === 'put'
    ? begin(p, 'administrators.create', s.objectId, s.body, 'Updating', `adding Entra administrator ${s.body.principalName}`)
    : begin(p, 'administrators.delete', s.objectId, undefined, 'Updating', `removing Entra administrator ${s.objectId}, not in the spec`);
}
