// Pure partition planning: UTC interval arithmetic, names, adoption by bounds, retention selection.
import { MAX_IDENTIFIER_BYTES } from '../../src/postgres/ident.js';
import {
  addIntervals,
  boundLiteral,
  floorToInterval,
  parseRangeBound,
  partitionName,
  planPartitions,
  truncateUtf8,
  type ExistingPartition,
  type PartitionSpec,
} from '../../src/postgres/tenancy/partition-plan.js';

const d = (s: string) => new Date(s);
const iso = (t: Date) => t.toISOString().slice(0, 10);
const grid = (table: string, from: string, to: string): ExistingPartition => ({ schema: 'public', name: `${table}_x${from}`, isDefault: false, from: d(`${from}T00:00:00Z`), to: d(`${to}T00:00:00Z`) });

describe('interval arithmetic in UTC', () => {
  it('floors to day, ISO week (Monday), month and year', () => {
    const t = d('2026-12-31T23:30:00Z'); // a Thursday
    expect(iso(floorToInterval(t, 'daily'))).toBe('2026-12-31');
    expect(iso(floorToInterval(t, 'weekly'))).toBe('2026-12-28');
    expect(iso(floorToInterval(t, 'monthly'))).toBe('2026-12-01');
    expect(iso(floorToInterval(t, 'yearly'))).toBe('2026-01-01');
    expect(iso(floorToInterval(d('2027-01-03T12:00:00Z'), 'weekly'))).toBe('2026-12-28'); // Sunday belongs to the week before
  });

  it('adds calendar months and years across month, year and leap-day ends', () => {
    expect(iso(addIntervals(d('2026-11-01T00:00:00Z'), 'monthly', 3))).toBe('2027-02-01');
    expect(iso(addIntervals(d('2028-02-28T00:00:00Z'), 'daily', 1))).toBe('2028-02-29');
    expect(iso(addIntervals(d('2026-12-28T00:00:00Z'), 'weekly', 1))).toBe('2027-01-04');
    expect(iso(addIntervals(d('2026-01-01T00:00:00Z'), 'yearly', -2))).toBe('2024-01-01');
  });
});

describe('names', () => {
  it('follows pg_partman: <table>_pYYYYMMDD', () => {
    expect(partitionName('storage_records', d('2027-01-01T00:00:00Z'))).toBe('storage_records_p20270101');
  });
  it('cuts long names to 63 bytes on a character boundary, keeping the suffix', () => {
    const long = 'é'.repeat(40); // 80 bytes
    const n = partitionName(long, d('2027-01-01T00:00:00Z'));
    expect(Buffer.byteLength(n)).toBeLessThanOrEqual(MAX_IDENTIFIER_BYTES);
    expect(n.endsWith('_p20270101')).toBe(true);
    expect(n).not.toContain('\uFFFD');
    expect(truncateUtf8('aé', 2)).toBe('a');
  });
});

describe('bounds', () => {
  it('parses what pg_get_expr prints in UTC, for timestamptz, timestamp and date', () => {
    expect(parseRangeBound(`FOR VALUES FROM ('2026-01-01 00:00:00+00') TO ('2026-02-01 00:00:00+00')`)).toEqual({ isDefault: false, from: d('2026-01-01T00:00:00Z'), to: d('2026-02-01T00:00:00Z') });
    expect(parseRangeBound(`FOR VALUES FROM ('2026-01-01') TO (MAXVALUE)`)).toEqual({ isDefault: false, from: d('2026-01-01T00:00:00Z'), to: 'MAXVALUE' });
    expect(parseRangeBound('DEFAULT')).toEqual({ isDefault: true });
    expect(parseRangeBound(`FOR VALUES FROM ('infinity') TO (MAXVALUE)`).from).toEqual({ unknown: `'infinity'` });
  });
  it('writes literals in UTC for the key type', () => {
    const t = d('2027-01-01T00:00:00Z');
    expect(boundLiteral(t, 'timestamp with time zone')).toBe(`'2027-01-01 00:00:00+00'`);
    expect(boundLiteral(t, 'timestamp without time zone')).toBe(`'2027-01-01 00:00:00'`);
    expect(boundLiteral(t, 'date')).toBe(`'2027-01-01'`);
  });
});

describe('planPartitions', () => {
  const monthly: PartitionSpec = { table: 'storage_records', interval: 'monthly', premake: 3, defaultPartition: true };

  it('premakes across the year end, with a default partition', () => {
    const p = planPartitions(monthly, [], d('2026-12-20T12:00:00Z'), 0);
    expect(p.create.map((c) => c.name)).toEqual(['storage_records_p20261201', 'storage_records_p20270101', 'storage_records_p20270201', 'storage_records_p20270301']);
    expect(p.createDefault).toBe('storage_records_default');
    expect(p.nextDue.toISOString()).toBe('2027-01-01T00:00:00.000Z');
  });

  it('plans one interval ahead within the lead, and is due `lead` before the boundary', () => {
    const lead = 6 * 3_600_000;
    const p = planPartitions({ ...monthly, premake: 1 }, [], d('2026-12-31T20:00:00Z'), lead);
    // The current month too: rows still arrive for it until midnight.
    expect(p.create.map((c) => iso(c.from))).toEqual(['2026-12-01', '2027-01-01', '2027-02-01']);
    expect(p.nextDue.toISOString()).toBe('2027-01-31T18:00:00.000Z');
  });

  it('daily, weekly and yearly grids', () => {
    const now = d('2026-02-27T08:00:00Z');
    expect(planPartitions({ ...monthly, interval: 'daily', premake: 2 }, [], now, 0).create.map((c) => c.name)).toEqual(['storage_records_p20260227', 'storage_records_p20260228', 'storage_records_p20260301']);
    expect(planPartitions({ ...monthly, interval: 'weekly', premake: 1 }, [], now, 0).create.map((c) => [iso(c.from), iso(c.to)])).toEqual([['2026-02-23', '2026-03-02'], ['2026-03-02', '2026-03-09']]);
    expect(planPartitions({ ...monthly, interval: 'yearly', premake: 1 }, [], now, 0).create.map((c) => c.name)).toEqual(['storage_records_p20260101', 'storage_records_p20270101']);
  });

  it('adopts existing partitions by their bounds, whatever their names; reports partial overlaps', () => {
    const existing: ExistingPartition[] = [
      grid('hand', '2026-12-01', '2027-01-01'),
      { schema: 'public', name: 'q1_2027', isDefault: false, from: d('2027-01-01T00:00:00Z'), to: d('2027-04-01T00:00:00Z') },
      { schema: 'public', name: 'odd', isDefault: false, from: d('2027-04-15T00:00:00Z'), to: d('2027-05-15T00:00:00Z') },
      { schema: 'public', name: 'storage_records_def', isDefault: true },
    ];
    const p = planPartitions({ ...monthly, premake: 5 }, existing, d('2026-12-20T00:00:00Z'), 0);
    expect(p.adopted).toEqual(['hand_x2026-12-01']);
    expect(p.coveredBy).toEqual(['q1_2027']);
    expect(p.conflicts).toEqual(['20270401-20270501 overlaps odd', '20270501-20270601 overlaps odd']);
    expect(p.create).toEqual([]);
    expect(p.createDefault).toBeUndefined();
  });

  it('retires only grid partitions older than keep intervals, never current, future or foreign ones', () => {
    const existing = [
      grid('t', '2026-01-01', '2026-02-01'),
      grid('t', '2026-02-01', '2026-03-01'),
      grid('t', '2026-03-01', '2026-04-01'),
      grid('t', '2026-04-01', '2026-05-01'),
      grid('t', '2026-05-01', '2026-06-01'), // current
      grid('t', '2026-06-01', '2026-07-01'),
      { schema: 'public', name: 'archive_2025', isDefault: false, from: d('2025-01-01T00:00:00Z'), to: d('2026-01-01T00:00:00Z') } as ExistingPartition,
      { schema: 'public', name: 'ancient', isDefault: false, from: 'MINVALUE', to: d('2025-01-01T00:00:00Z') } as ExistingPartition,
      { schema: 'public', name: 't_default', isDefault: true } as ExistingPartition,
    ];
    const p = planPartitions({ ...monthly, premake: 1, retention: { keep: 2, action: 'drop' } }, existing, d('2026-05-10T00:00:00Z'), 0);
    expect(p.retire.map((r) => [r.name, r.action])).toEqual([['t_x2026-01-01', 'drop'], ['t_x2026-02-01', 'drop']]);
    // Even keep = 1 at the very start of an interval never reaches the current one.
    const q = planPartitions({ ...monthly, premake: 1, retention: { keep: 1, action: 'detach' } }, existing, d('2026-05-01T00:00:00Z'), 0);
    expect(q.retire.map((r) => r.name)).toEqual(['t_x2026-01-01', 't_x2026-02-01', 't_x2026-03-01']);
  });
});
