// Pure planning of time-range partitions: interval arithmetic in UTC, pg_partman-style names, which
// partitions to create ahead, which existing ones are adopted by their bounds, and which fall out of
// retention. No I/O: maintenance (partition-maintenance.ts) reads the catalog, calls this, applies.
import { MAX_IDENTIFIER_BYTES } from '../ident.js';

export type PartitionInterval = 'daily' | 'weekly' | 'monthly' | 'yearly';

const DAY_MS = 86_400_000;

/** Start of the interval that contains `t`, in UTC (weeks start on Monday, as date_trunc('week') does). */
export function floorToInterval(t: Date, interval: PartitionInterval): Date {
  const y = t.getUTCFullYear();
  const m = t.getUTCMonth();
  const d = t.getUTCDate();
  switch (interval) {
    case 'daily':
      return new Date(Date.UTC(y, m, d));
    case 'weekly': {
      const day = new Date(Date.UTC(y, m, d));
      const sinceMonday = (day.getUTCDay() + 6) % 7;
      return new Date(day.getTime() - sinceMonday * DAY_MS);
    }
    case 'monthly':
      return new Date(Date.UTC(y, m, 1));
    case 'yearly':
      return new Date(Date.UTC(y, 0, 1));
  }
}

/** `t` (an interval start) moved by n intervals; calendar arithmetic, so months and years have their real lengths. */
export function addIntervals(t: Date, interval: PartitionInterval, n: number): Date {
  switch (interval) {
    case 'daily':
      return new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate() + n));
    case 'weekly':
      return new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate() + 7 * n));
    case 'monthly':
      return new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth() + n, 1));
    case 'yearly':
      return new Date(Date.UTC(t.getUTCFullYear() + n, 0, 1));
  }
}

/** Nominal length of an interval, for scheduling only. */
export function intervalMs(interval: PartitionInterval): number {
  return { daily: DAY_MS, weekly: 7 * DAY_MS, monthly: 28 * DAY_MS, yearly: 365 * DAY_MS }[interval];
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');
export const yyyymmdd = (t: Date) => `${pad(t.getUTCFullYear(), 4)}${pad(t.getUTCMonth() + 1)}${pad(t.getUTCDate())}`;

/** Cuts a string to at most `bytes` UTF-8 bytes without splitting a character. */
export function truncateUtf8(s: string, bytes: number): string {
  if (Buffer.byteLength(s, 'utf8') <= bytes) return s;
  let out = '';
  let used = 0;
  for (const ch of s) {
    const b = Buffer.byteLength(ch, 'utf8');
    if (used + b > bytes) break;
    out += ch;
    used += b;
  }
  return out;
}

/** `<table><suffix>` within PostgreSQL's 63 bytes: the table part is cut (on a character boundary), never the suffix. */
export function childName(table: string, suffix: string): string {
  return truncateUtf8(table, MAX_IDENTIFIER_BYTES - Buffer.byteLength(suffix, 'utf8')) + suffix;
}

/** pg_partman's naming scheme: `<table>_pYYYYMMDD` of the partition's lower bound. */
export function partitionName(table: string, from: Date): string {
  return childName(table, `_p${yyyymmdd(from)}`);
}

export function defaultPartitionName(table: string): string {
  return childName(table, '_default');
}

/** A bound as read from the catalog: a time, or MINVALUE/MAXVALUE, or something not understood. */
export type Bound = Date | 'MINVALUE' | 'MAXVALUE' | { unknown: string };

export interface ExistingPartition {
  schema: string;
  name: string;
  isDefault: boolean;
  from?: Bound;
  to?: Bound;
}

export interface PartitionSpec {
  table: string;
  interval: PartitionInterval;
  premake: number;
  defaultPartition: boolean;
  retention?: { keep: number; action: 'detach' | 'drop' } | undefined;
}

export interface PlannedPartition {
  name: string;
  from: Date;
  to: Date;
}

export interface PartitionPlan {
  /** Start of the current interval (real now). */
  current: Date;
  create: PlannedPartition[];
  /** Desired ranges an existing partition already has exactly (adopted whatever its name). */
  adopted: string[];
  /** Desired ranges covered by a wider existing partition (left as they are). */
  coveredBy: string[];
  /** Desired ranges that overlap an existing partition partially: reported, never forced. */
  conflicts: string[];
  createDefault: string | undefined;
  retire: Array<{ name: string; schema: string; action: 'detach' | 'drop'; from: Date; to: Date }>;
  /** When the next maintenance is due: `lead` before the window moves on. */
  nextDue: Date;
}

const isDate = (b: Bound | undefined): b is Date => b instanceof Date;
/** a < b; unknown bounds compare as "less" both ways, so they count as overlapping everything. */
function lt(a: Bound, b: Bound): boolean {
  if (typeof a === 'string' && a === b) return false;
  if (a === 'MINVALUE' || b === 'MAXVALUE') return true;
  if (a === 'MAXVALUE' || b === 'MINVALUE') return false;
  if (isDate(a) && isDate(b)) return a.getTime() < b.getTime();
  return true;
}
const overlaps = (p: ExistingPartition, from: Date, to: Date) => p.from !== undefined && p.to !== undefined && lt(p.from, to) && lt(from, p.to);
const covers = (p: ExistingPartition, from: Date, to: Date) =>
  p.from !== undefined && p.to !== undefined && (p.from === 'MINVALUE' || (isDate(p.from) && p.from.getTime() <= from.getTime())) && (p.to === 'MAXVALUE' || (isDate(p.to) && p.to.getTime() >= to.getTime()));

/** A partition exactly one interval of this spec's grid wide: the only kind retention may touch. */
export function isGridPartition(p: ExistingPartition, interval: PartitionInterval): p is ExistingPartition & { from: Date; to: Date } {
  return isDate(p.from) && isDate(p.to) && floorToInterval(p.from, interval).getTime() === p.from.getTime() && addIntervals(p.from, interval, 1).getTime() === p.to.getTime();
}

/**
 * The maintenance plan at `now`. Partitions are planned `lead` ahead (so the one for the next interval
 * exists before its boundary arrives); retention counts from the real current interval, so the current
 * and future partitions are never retired, nor anything not exactly on this spec's grid.
 */
export function planPartitions(spec: PartitionSpec, existing: ExistingPartition[], now: Date, leadMs: number): PartitionPlan {
  const current = floorToInterval(now, spec.interval);
  const ahead = floorToInterval(new Date(now.getTime() + leadMs), spec.interval);
  const ranged = existing.filter((p) => !p.isDefault);
  const names = new Set(existing.map((p) => p.name));
  const plan: PartitionPlan = { current, create: [], adopted: [], coveredBy: [], conflicts: [], createDefault: undefined, retire: [], nextDue: new Date(addIntervals(ahead, spec.interval, 1).getTime() - leadMs) };
  // The current interval (rows arrive for it now) through `premake` intervals past the one `lead` ahead.
  const last = addIntervals(ahead, spec.interval, spec.premake);
  for (let from = current; from.getTime() <= last.getTime(); from = addIntervals(from, spec.interval, 1)) {
    const to = addIntervals(from, spec.interval, 1);
    const exact = ranged.find((p) => isDate(p.from) && isDate(p.to) && p.from.getTime() === from.getTime() && p.to.getTime() === to.getTime());
    if (exact) {
      plan.adopted.push(exact.name);
      continue;
    }
    const wider = ranged.find((p) => covers(p, from, to));
    if (wider) {
      plan.coveredBy.push(wider.name);
      continue;
    }
    const clash = ranged.find((p) => overlaps(p, from, to));
    if (clash) {
      plan.conflicts.push(`${yyyymmdd(from)}-${yyyymmdd(to)} overlaps ${clash.name}`);
      continue;
    }
    const name = partitionName(spec.table, from);
    if (names.has(name)) {
      plan.conflicts.push(`${name} exists with other bounds`);
      continue;
    }
    plan.create.push({ name, from, to });
    names.add(name);
  }
  if (spec.defaultPartition && !existing.some((p) => p.isDefault)) plan.createDefault = defaultPartitionName(spec.table);
  if (spec.retention) {
    const cutoff = addIntervals(current, spec.interval, -spec.retention.keep);
    for (const p of ranged) {
      if (!isGridPartition(p, spec.interval)) continue;
      if (p.to.getTime() > cutoff.getTime() || p.to.getTime() > current.getTime()) continue;
      plan.retire.push({ name: p.name, schema: p.schema, action: spec.retention.action, from: p.from, to: p.to });
    }
    plan.retire.sort((a, b) => a.from.getTime() - b.from.getTime());
  }
  plan.coveredBy = [...new Set(plan.coveredBy)];
  return plan;
}

/**
 * How far ahead of a boundary maintenance runs: a quarter of the interval, at most six hours (so a daily
 * table gets its next partition by 18:00 UTC the day before).
 */
export function leadFor(interval: PartitionInterval): number {
  return Math.min(intervalMs(interval) / 4, 6 * 3_600_000);
}

/**
 * Parses pg_get_expr(relpartbound) as printed in a session with TimeZone UTC: `DEFAULT` or
 * `FOR VALUES FROM ('2026-01-01 00:00:00+00') TO (MAXVALUE)`. Timestamps without time zone and dates
 * are read as UTC. Anything else (multi-column keys, infinity) comes back as unknown bounds.
 */
export function parseRangeBound(expr: string): { isDefault: boolean; from?: Bound; to?: Bound } {
  if (expr.trim() === 'DEFAULT') return { isDefault: true };
  const m = /^FOR VALUES FROM \((.*)\) TO \((.*)\)$/.exec(expr.trim());
  if (!m) return { isDefault: false, from: { unknown: expr }, to: { unknown: expr } };
  return { isDefault: false, from: parseOne(m[1]!), to: parseOne(m[2]!) };
}

function parseOne(s: string): Bound {
  if (s === 'MINVALUE' || s === 'MAXVALUE') return s;
  const m = /^'(\d{4})-(\d{2})-(\d{2})(?: (\d{2}):(\d{2}):(\d{2})(\.\d+)?)?(?:\+00(?::00)?)?'$/.exec(s);
  if (!m) return { unknown: s };
  const ms = m[7] ? Math.round(Number(m[7]) * 1000) : 0;
  return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0), ms));
}

/** A bound literal for the partition key's type; only digits, '-', ':', ' ' and '+', so inert in SQL. */
export function boundLiteral(t: Date, columnType: string): string {
  const date = `${pad(t.getUTCFullYear(), 4)}-${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())}`;
  if (columnType === 'date') return `'${date}'`;
  const time = `${date} ${pad(t.getUTCHours())}:${pad(t.getUTCMinutes())}:${pad(t.getUTCSeconds())}`;
  return columnType === 'timestamp with time zone' ? `'${time}+00'` : `'${time}'`;
}
