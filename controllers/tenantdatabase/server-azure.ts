// The Azure part: provision, adopt and keep a Flexible Server in shape through ARM.
// (Placeholder until the Azure issue lands: it reports that it does nothing.)
import type { ServerPart } from './context.js';

export const azureServerPart: ServerPart = {
  async reconcile() {
    return { condition: { type: 'ServerReady', ok: false, stalled: true, reason: 'NotImplemented', message: 'Azure servers are not provisioned yet' } };
  },
  async finalize() {
    return { done: true };
  },
  async connectionForCleanup() {
    return undefined;
  },
};
