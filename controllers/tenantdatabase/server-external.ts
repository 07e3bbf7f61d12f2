// The external-server part: connect to an existing PostgreSQL server with the admin Secret; never change
// the server itself. (Placeholder until the in-database issue lands: it reports that it does nothing.)
import type { ServerPart } from './context.js';

export const externalServerPart: ServerPart = {
  async reconcile() {
    return { condition: { type: 'ServerReady', ok: false, stalled: true, reason: 'NotImplemented', message: 'external servers are not handled yet' } };
  },
  async finalize() {
    return { done: true };
  },
  async connectionForCleanup() {
    return undefined;
  },
};
