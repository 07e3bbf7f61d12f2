// The tenancy part: row-level security on tenant tables and their partitions, partition maintenance.
// (Placeholder until the tenancy issue lands.)
import type { DatabasePart } from './context.js';

export const tenancyPart: DatabasePart = {
  name: 'tenancy',
  applies: (spec) => spec.tenancy !== undefined || (spec.partitioning ?? []).length > 0,
  async reconcile() {
    return { condition: { type: 'TenancyReady', ok: false, stalled: true, reason: 'NotImplemented', message: 'tenancy policy is not applied yet' } };
  },
};
