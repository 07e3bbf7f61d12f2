// Pure rules of the tenancy part's outcome: what blocks TenancyReady and what is only reported, status
// that does not change when nothing changed, and when to look again.
import { nextLook, partitionStatus, tenancyCondition, tenancyStatus, DRIFT_RECHECK_MS, BUSY_RETRY_MS } from '../../controllers/tenantdatabase/tenancy/outcome.js';
import type { MaintenanceResult } from '../../src/postgres/tenancy/partition-maintenance.js';
import { planPartitions } from '../../src/postgres/tenancy/partition-plan.js';
import type { TenancySyncResult } from '../../src/postgres/tenancy/rls.js';

const sync = (over: Partial<TenancySyncResult['plan']> = {}, missingRoles: string[] = []): TenancySyncResult => ({
  plan: { changes: [], oids: [], covered: 3, coveredTables: ['public.a', 'public.b'], missingTables: [], withoutTenantColumn: [], unmanageable: [], foreignPolicies: [], ownedByRestricted: [], ...over },
  apply: { ddl: 0, changed: [], busy: [] },
  missingRoles,
});

const now = new Date('2026-12-20T12:00:00Z');
const result = (over: Partial<MaintenanceResult> = {}): MaintenanceResult => ({
  plan: planPartitions({ table: 't', interval: 'monthly', premake: 2, defaultPartition: true }, [], now, 6 * 3_600_000),
  created: [],
  detached: [],
  dropped: [],
  rowsMoved: 0,
  busy: [],
  lockWaits: 0,
  ddl: 0,
  attached: 3,
  ...over,
});

describe('TenancyReady', () => {
  it('is Ready when everything is in place, and while listed tables are still to be created', () => {
    expect(tenancyCondition({ sync: sync(), partitions: [] })).toMatchObject({ ok: true, reason: 'Synced' });
    const pending = tenancyCondition({ sync: sync({ missingTables: ['public.later'] }), partitions: [{ schema: 'public', table: 'later', interval: 'monthly', result: { ...result(), problem: 'table public.later does not exist' } }] });
    expect(pending).toMatchObject({ ok: true, reason: 'TablesPending' });
    expect(pending.message).toMatch(/public\.later/);
  });

  it('is not Ready for a listed table without the tenant column (stalled), missing roles or a busy table (retried)', () => {
    expect(tenancyCondition({ sync: sync({ withoutTenantColumn: ['public.c'] }), partitions: [] })).toMatchObject({ ok: false, stalled: true, reason: 'TenantColumnMissing' });
    expect(tenancyCondition({ sync: sync({}, ['x_app']), partitions: [] })).toMatchObject({ ok: false, stalled: false, reason: 'RolesMissing' });
    expect(tenancyCondition({ sync: sync(), partitions: [{ schema: 'public', table: 't', interval: 'monthly', result: result({ busy: ['create t_p20270101'] }) }] })).toMatchObject({ ok: false, stalled: false, reason: 'PartitionMaintenanceDelayed' });
    expect(tenancyCondition({ sync: sync(), partitions: [{ schema: 'public', table: 't', interval: 'monthly', result: { ...result(), problem: 'table public.t is not PARTITION BY RANGE' } }] })).toMatchObject({ ok: false, stalled: true, reason: 'PartitioningInvalid' });
  });
});

describe('status', () => {
  it('keeps lastMaintenance when a pass changed nothing, so a converged pass writes nothing', () => {
    const first = partitionStatus([{ schema: 'public', table: 't', interval: 'monthly', result: result({ created: ['t_p20261201'] }) }], undefined, now)!;
    expect(first[0]!.lastMaintenance).toEqual({ time: '2026-12-20T12:00:00Z', result: 'created t_p20261201' });
    const later = new Date(now.getTime() + 60_000);
    const second = partitionStatus([{ schema: 'public', table: 't', interval: 'monthly', result: result() }], first, later)!;
    expect(second).toEqual(first);
    expect(tenancyStatus(sync(), [])).toEqual(tenancyStatus(sync(), []));
    expect(tenancyStatus(sync(), [])).toMatchObject({ tablesCovered: 2, partitionsCovered: 1, missingTables: [], auditFindings: [], auditFindingsTotal: 0 });
  });

  it('looks again before the next boundary, soon for a busy table, and at least every ten minutes', () => {
    expect(nextLook([], now)).toBe(DRIFT_RECHECK_MS);
    expect(nextLook([], now, true)).toBe(BUSY_RETRY_MS);
    expect(nextLook([{ schema: 'public', table: 't', interval: 'monthly', result: result({ busy: ['x'] }) }], now)).toBe(BUSY_RETRY_MS);
    const daily = planPartitions({ table: 't', interval: 'daily', premake: 2, defaultPartition: false }, [], new Date('2026-12-20T17:59:00Z'), 6 * 3_600_000);
    expect(nextLook([{ schema: 'public', table: 't', interval: 'daily', result: { ...result(), plan: daily } }], new Date('2026-12-20T17:59:00Z'))).toBe(60_000);
  });
});
