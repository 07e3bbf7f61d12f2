// Step 7: server parameters (parameterSteps in desired.ts is the diff), one per pass, then the restart
// some of them need, as restartPolicy says: at once, in the maintenance window, or never by us (the
// Ready message then says what waits for a restart).
import type { ServerOutcome } from '../context.js';
import { begin } from './apply.js';
import { desiredParameters, inMaintenanceWindow, maintenanceWindowStart, parameterSteps, pendingRestartParameters } from './desired.js';
import { cachedList, type Pass } from './pass.js';

export async function parameters(p: Pass): Promise<ServerOutcome | undefined> {
  const { az, clients } = p;
  const desired = desiredParameters(p.ctx.spec);
  let pending: string[] = [];
  if (Object.keys(desired).length) {
    const configs = await cachedList(p, 'configurations', (o) => clients.postgres.configurations.listByServer(az.resourceGroup, az.name, o));
    const s = parameterSteps(desired, configs)[0];
    if (s) return begin(p, 'configurations.update', s.name, { value: s.value, source: 'user-override' }, 'Updating', `setting server parameter ${s.name}`);
    pending = pendingRestartParameters(configs);
  }
  p.fields.pendingRestart = pending.length > 0;
  p.fields.parametersPendingRestart = pending.length ? pending : null;
  return restart(p, pending);
}

function restart(p: Pass, pending: string[]): Promise<ServerOutcome> | undefined {
  const { az } = p;
  p.st.restartDueAt = undefined;
  if (!pending.length) return undefined;
  const mw = az.maintenanceWindow;
  if (az.restartPolicy === 'Immediate' || (az.restartPolicy === 'MaintenanceWindow' && mw && inMaintenanceWindow(mw, new Date()))) {
    return begin(p, 'servers.restart', az.name, undefined, 'Restarting', `restarting ${az.name} to apply ${pending.join(', ')} (restartPolicy ${az.restartPolicy})`);
  }
  if (az.restartPolicy === 'MaintenanceWindow' && mw) {
    p.st.restartDueAt = maintenanceWindowStart(mw, new Date()).toISOString();
    p.restartNote = `; ${pending.join(', ')} wait for the restart at ${p.st.restartDueAt}`;
  } else {
    const why = az.restartPolicy === 'Manual' ? 'restartPolicy Manual: restart the server yourself' : 'no maintenanceWindow in the spec: restart the server yourself';
    p.restartNote = `; ${pending.join(', ')} wait for a restart (${why})`;
  }
  return undefined;
}
