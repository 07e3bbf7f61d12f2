// Partition maintenance against real PostgreSQL: premake across month and year ends, the four intervals,
// UTC bounds from a non-UTC server and session, rows parked in the default moved in the same transaction,
// retention (detach, drop; never current, future or foreign partitions), adoption of a hand-made set by
// bounds, and a lock held by a long transaction delaying maintenance without failing it.
import type pg from 'pg';
import { ident } from '../../src/postgres/ident.js';
import { maintainPartitions, type MaintenanceTarget } from '../../src/postgres/tenancy/partition-maintenance.js';
import type { TenancyRules } from '../../src/postgres/tenancy/policies.js';
import { createFixture, type TenancyFixture } from './fixture.js';

let fx: TenancyFixture;
let su: pg.Client;
let rules: TenancyRules;

const d = (s: string) => new Date(s);

/** name -> bound, read in a UTC session. */
async function bounds(table: string): Promise<Record<string, string>> {
  await su.query('BEGIN');
  await su.query(`SET LOCAL TimeZone = 'UTC'`);
  const r = await su.query<{ name: string; bound: string }>(
    `SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass ORDER BY 1`,
    [table],
  );
  await su.query('COMMIT');
  return Object.fromEntries(r.rows.map((x) => [x.name, x.bound]));
}

async function asOwner(sql: string): Promise<void> {
  await su.query(`SET ROLE ${ident(fx.roles.owner)}`);
  try {
    await su.query(sql);
  } finally {
    await su.query('RESET ROLE');
  }
}

const records = (over: Partial<MaintenanceTarget> = {}): MaintenanceTarget => ({ schema: 'public', table: 'storage_records', column: 'recorded_at', interval: 'monthly', premake: 3, defaultPartition: true, ...over });

beforeAll(async () => {
  fx = await createFixture('part', { versions: ['001', '002'] });
  su = await fx.admin();
  rules = { roles: fx.roles, tenantColumn: 'tenant_id', tenantSetting: 'app.current_tenant_id' };
  // A server whose time zone is not UTC (and far from it): bounds must still be UTC midnights.
  await su.query(`ALTER DATABASE ${ident(fx.database)} SET TimeZone = 'Pacific/Chatham'`);
  await su.end();
  su = await fx.admin();
  await su.query(`SET TimeZone = 'America/St_Johns'`);
});

afterAll(async () => {
  await su?.end();
  await fx?.drop();
});

describe('partition maintenance', () => {
  it('premakes monthly partitions across the year end with a default partition, each with its row-level security', async () => {
    const r = await maintainPartitions(su, records(), { now: d('2026-12-20T12:00:00Z'), tenancy: rules });
    expect(r.problem).toBeUndefined();
    expect(r.created).toEqual(['storage_records_p20261201', 'storage_records_p20270101', 'storage_records_p20270201', 'storage_records_p20270301', 'storage_records_default']);
    expect(await bounds('storage_records')).toEqual({
      storage_records_default: 'DEFAULT',
      storage_records_p20261201: `FOR VALUES FROM ('2026-12-01 00:00:00+00') TO ('2027-01-01 00:00:00+00')`,
      storage_records_p20270101: `FOR VALUES FROM ('2027-01-01 00:00:00+00') TO ('2027-02-01 00:00:00+00')`,
      storage_records_p20270201: `FOR VALUES FROM ('2027-02-01 00:00:00+00') TO ('2027-03-01 00:00:00+00')`,
      storage_records_p20270301: `FOR VALUES FROM ('2027-03-01 00:00:00+00') TO ('2027-04-01 00:00:00+00')`,
    });
    const rls = await su.query<{ relname: string; ok: boolean; n: string }>(
      `SELECT c.relname, c.relrowsecurity AND c.relforcerowsecurity AS ok, (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS n
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'storage_records'::regclass`,
    );
    for (const row of rls.rows) expect([row.relname, row.ok, Number(row.n)]).toEqual([row.relname, true, 5]);
    // The same plan again is a no-op.
    const again = await maintainPartitions(su, records(), { now: d('2026-12-20T12:00:00Z'), tenancy: rules });
    expect([again.created, again.ddl]).toEqual([[], 0]);
    expect(again.plan?.adopted.length).toBe(4);
  });

  it('moves rows parked in the default into the new partition in the same transaction, losing and duplicating none', async () => {
    for (const at of ['2027-04-01T00:00:00Z', '2027-04-15T10:00:00Z', '2027-04-30T23:59:59.999Z', '2027-05-01T00:00:00Z', '2030-01-01T00:00:00Z']) {
      await su.query(
        `INSERT INTO storage_records (tenant_id, source_data_hash, mapped_data, model_version, detector_type, recorded_at) VALUES ('t1', repeat('a', 64), '{"k": 1}', 'v1', 'pii', $1)`,
        [at],
      );
    }
    const all = `SELECT md5(string_agg(x::text, ',' ORDER BY x.id)) AS h, count(*) AS n FROM storage_records x`;
    const before = (await su.query<{ h: string; n: string }>(all)).rows[0]!;
    expect((await su.query('SELECT 1 FROM ONLY storage_records_default')).rowCount).toBe(5);
    const r = await maintainPartitions(su, records(), { now: d('2027-01-10T00:00:00Z'), tenancy: rules });
    expect(r.created).toEqual(['storage_records_p20270401']);
    expect(r.rowsMoved).toBe(3);
    expect((await su.query('SELECT 1 FROM ONLY storage_records_p20270401')).rowCount).toBe(3);
    expect((await su.query('SELECT 1 FROM ONLY storage_records_default')).rowCount).toBe(2);
    expect((await su.query<{ h: string; n: string }>(all)).rows[0]).toEqual(before);
    expect((await bounds('storage_records')).storage_records_default).toBe('DEFAULT');
  });

  it('daily, weekly and yearly tables, keyed by timestamptz, timestamp and date, get UTC bounds in a non-UTC session', async () => {
    await asOwner(`CREATE TABLE ev_daily (tenant_id text NOT NULL, at timestamptz NOT NULL) PARTITION BY RANGE (at);
                   CREATE TABLE ev_weekly (tenant_id text NOT NULL, at timestamp NOT NULL) PARTITION BY RANGE (at);
                   CREATE TABLE ev_yearly (tenant_id text NOT NULL, at date NOT NULL) PARTITION BY RANGE (at)`);
    const now = d('2026-12-30T22:00:00Z');
    const daily = await maintainPartitions(su, { schema: 'public', table: 'ev_daily', column: 'at', interval: 'daily', premake: 3, defaultPartition: false }, { now, leadMs: 0 });
    expect(daily.created).toEqual(['ev_daily_p20261230', 'ev_daily_p20261231', 'ev_daily_p20270101', 'ev_daily_p20270102']);
    expect((await bounds('ev_daily')).ev_daily_p20270101).toBe(`FOR VALUES FROM ('2027-01-01 00:00:00+00') TO ('2027-01-02 00:00:00+00')`);
    const weekly = await maintainPartitions(su, { schema: 'public', table: 'ev_weekly', column: 'at', interval: 'weekly', premake: 1, defaultPartition: false }, { now, leadMs: 0 });
    expect(weekly.created).toEqual(['ev_weekly_p20261228', 'ev_weekly_p20270104']);
    expect((await bounds('ev_weekly')).ev_weekly_p20261228).toBe(`FOR VALUES FROM ('2026-12-28 00:00:00') TO ('2027-01-04 00:00:00')`);
    const yearly = await maintainPartitions(su, { schema: 'public', table: 'ev_yearly', column: 'at', interval: 'yearly', premake: 2, defaultPartition: true }, { now, leadMs: 0 });
    expect(yearly.created).toEqual(['ev_yearly_p20260101', 'ev_yearly_p20270101', 'ev_yearly_p20280101', 'ev_yearly_default']);
    expect((await bounds('ev_yearly')).ev_yearly_p20270101).toBe(`FOR VALUES FROM ('2027-01-01') TO ('2028-01-01')`);
    // A row stamped just after midnight UTC on New Year lands in the 2027 daily partition, whatever the session zone.
    await su.query(`INSERT INTO ev_daily VALUES ('t', '2027-01-01T00:00:01Z')`);
    expect((await su.query('SELECT 1 FROM ONLY ev_daily_p20270101')).rowCount).toBe(1);
  });

  it('retention detaches (kept as plain tables, still isolated) or drops; never current, future or foreign partitions', async () => {
    await asOwner(`CREATE TABLE metrics_hist (tenant_id text NOT NULL, at timestamptz NOT NULL) PARTITION BY RANGE (at);
                   CREATE TABLE metrics_hist_archive PARTITION OF metrics_hist FOR VALUES FROM (MINVALUE) TO ('2026-01-01 00:00:00+00')`);
    const spec = { schema: 'public', table: 'metrics_hist', column: 'at', interval: 'monthly' as const, premake: 1, defaultPartition: true };
    const back = await maintainPartitions(su, { ...spec, premake: 8 }, { now: d('2026-01-15T00:00:00Z'), leadMs: 0, tenancy: rules });
    expect(back.created.length).toBe(10); // Jan..Sep 2026 + default
    const detach = await maintainPartitions(su, { ...spec, retention: { keep: 2, action: 'detach' } }, { now: d('2026-06-10T00:00:00Z'), leadMs: 0, tenancy: rules });
    expect(detach.detached).toEqual(['metrics_hist_p20260101', 'metrics_hist_p20260201', 'metrics_hist_p20260301']);
    const detached = await su.query<{ relispartition: boolean; relforcerowsecurity: boolean; n: string }>(
      `SELECT relispartition, relforcerowsecurity, (SELECT count(*) FROM pg_policy WHERE polrelid = c.oid) AS n FROM pg_class c WHERE relname = 'metrics_hist_p20260101'`,
    );
    expect(detached.rows[0]).toEqual({ relispartition: false, relforcerowsecurity: true, n: '5' });
    const drop = await maintainPartitions(su, { ...spec, retention: { keep: 1, action: 'drop' } }, { now: d('2026-06-10T00:00:00Z'), leadMs: 0 });
    expect(drop.dropped).toEqual(['metrics_hist_p20260401']);
    const left = Object.keys(await bounds('metrics_hist')).sort();
    expect(left).toEqual(['metrics_hist_archive', 'metrics_hist_default', 'metrics_hist_p20260501', 'metrics_hist_p20260601', 'metrics_hist_p20260701', 'metrics_hist_p20260801', 'metrics_hist_p20260901']);
    // Even keep = 1 on the first instant of July keeps June (the last past one) and everything after.
    const edge = await maintainPartitions(su, { ...spec, retention: { keep: 1, action: 'drop' } }, { now: d('2026-07-01T00:00:00Z'), leadMs: 0 });
    expect(edge.dropped).toEqual(['metrics_hist_p20260501']);
  });

  it('adopts a hand-made partition set by its bounds, without duplicates', async () => {
    await asOwner(`CREATE TABLE legacy (tenant_id text NOT NULL, at timestamptz NOT NULL) PARTITION BY RANGE (at);
                   CREATE TABLE legacy_2026_12 PARTITION OF legacy FOR VALUES FROM ('2026-12-01 00:00:00+00') TO ('2027-01-01 00:00:00+00');
                   CREATE TABLE legacy_2027_01 PARTITION OF legacy FOR VALUES FROM ('2027-01-01 00:00:00+00') TO ('2027-02-01 00:00:00+00');
                   CREATE TABLE legacy_q1 PARTITION OF legacy FOR VALUES FROM ('2027-02-01 00:00:00+00') TO ('2027-05-01 00:00:00+00');
                   CREATE TABLE legacy_other PARTITION OF legacy DEFAULT`);
    const r = await maintainPartitions(su, { schema: 'public', table: 'legacy', column: 'at', interval: 'monthly', premake: 5, defaultPartition: true }, { now: d('2026-12-05T00:00:00Z'), leadMs: 0 });
    expect(r.plan?.adopted).toEqual(['legacy_2026_12', 'legacy_2027_01']);
    expect(r.plan?.coveredBy).toEqual(['legacy_q1']);
    expect(r.created).toEqual(['legacy_p20270501']);
    expect(Object.keys(await bounds('legacy')).length).toBe(5);
  });

  it('reports a table that is not range-partitioned by the column instead of touching it', async () => {
    const r = await maintainPartitions(su, { schema: 'public', table: 'audit_trail', column: 'occurred_at', interval: 'monthly', premake: 1, defaultPartition: true });
    expect(r.problem).toMatch(/not PARTITION BY RANGE/);
    const m = await maintainPartitions(su, { schema: 'public', table: 'storage_records', column: 'created_at', interval: 'monthly', premake: 1, defaultPartition: true });
    expect(m.problem).toMatch(/RANGE \(created_at\)/);
  });

  it('a long transaction holding a lock delays maintenance (short lock_timeout, retries) but does not fail it', async () => {
    await asOwner(`CREATE TABLE busy (tenant_id text NOT NULL, at timestamptz NOT NULL) PARTITION BY RANGE (at)`);
    const holder = await fx.admin();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT * FROM busy'); // ACCESS SHARE until commit: CREATE ... PARTITION OF must wait
      const release = setTimeout(() => void holder.query('COMMIT'), 1500);
      const t0 = Date.now();
      const r = await maintainPartitions(su, { schema: 'public', table: 'busy', column: 'at', interval: 'daily', premake: 1, defaultPartition: false }, { now: d('2026-06-01T12:00:00Z'), leadMs: 0, lockTimeoutMs: 100, backoffMs: 100, attempts: 20 });
      clearTimeout(release);
      expect(r.lockWaits).toBeGreaterThan(0);
      expect(r.busy).toEqual([]);
      expect(r.created).toEqual(['busy_p20260601', 'busy_p20260602']);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
      // With fewer retries than the lock lasts, the step is left for the next run, reported, not thrown.
      await holder.query('BEGIN');
      await holder.query('SELECT * FROM busy');
      const short = await maintainPartitions(su, { schema: 'public', table: 'busy', column: 'at', interval: 'daily', premake: 2, defaultPartition: false }, { now: d('2026-06-01T12:00:00Z'), leadMs: 0, lockTimeoutMs: 50, backoffMs: 10, attempts: 2 });
      expect(short.busy).toEqual(['create busy_p20260603']);
      expect(short.created).toEqual([]);
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      await holder.end();
    }
  });
});
