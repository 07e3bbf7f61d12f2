// The database part: database, extensions, roles, grants, passwords and connection Secrets.
// (Placeholder until the in-database issue lands.)
import type { DatabasePart } from './context.js';

export const databasePart: DatabasePart = {
  name: 'database',
  applies: () => true,
  async reconcile() {
    return { condition: { type: 'DatabaseReady', ok: false, stalled: true, reason: 'NotImplemented', message: 'the database is not created yet' } };
  },
};
