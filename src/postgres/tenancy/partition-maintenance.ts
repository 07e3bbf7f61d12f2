// Partition maintenance of one range-partitioned table: read its partitions (bounds printed in UTC),
// plan (partition-plan.ts), apply each step in a transaction of its own as the table owner with a short
// lock_timeout and retries, so a busy table delays maintenance instead of queueing the application behind
// an ACCESS EXCLUSIVE lock. New partitions get their row-level security in the same transaction that
// creates them, so no partition is ever visible without its policies.
import type { ClientBase } from 'pg';
import { ident, identList, qualified } from '../ident.js';
import { isLockTimeout, applyBatch, diffRelation } from './rls.js';
import type { TenancyRules } from './policies.js';
import { boundLiteral, parseRangeBound, planPartitions, leadFor, type ExistingPartition, type PartitionPlan, type PartitionSpec, type PlannedPartition } from './partition-plan.js';

export interface MaintenanceTarget extends PartitionSpec {
  schema: string;
  column: string;
}

export interface PartitionedTable {
  owner: string;
  canManage: boolean;
  columnType: string;
  partitions: ExistingPartition[];
  defaultPartition: string | undefined;
  /** Columns a row move must copy (not dropped, not generated), in order. */
  columns: string[];
  /** format_type of the tenant column, when the table has one. */
  tenantColumnType: string | null;
}

const KEY_TYPES = new Set(['timestamp with time zone', 'timestamp without time zone', 'date']);

/** Reads the table, or says in a sentence why it cannot be maintained. */
export async function readPartitionedTable(client: ClientBase, schema: string, table: string, column: string, tenantColumn?: string): Promise<{ table?: PartitionedTable; problem?: string }> {
  await client.query('BEGIN');
  try {
    // Bounds are printed in the session time zone: read them in UTC whatever the server or role says.
    await client.query(`SET LOCAL TimeZone = 'UTC'`);
    const t = await client.query<{ oid: string; relkind: string; owner: string; can_manage: boolean; strat: string | null; natts: number | null; keycol: string | null; keytype: string | null; columns: string[]; tenant_type: string | null }>(
      `SELECT c.oid::int8 AS oid, c.relkind::text AS relkind, pg_get_userbyid(c.relowner) AS owner, pg_has_role(session_user, c.relowner, 'MEMBER') AS can_manage,
              pt.partstrat::text AS strat, pt.partnatts::int AS natts,
              (SELECT a.attname FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum = pt.partattrs[0]) AS keycol,
              (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum = pt.partattrs[0]) AS keytype,
              ARRAY(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum) AS columns,
              (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = $3 AND a.attnum > 0 AND NOT a.attisdropped) AS tenant_type
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_partitioned_table pt ON pt.partrelid = c.oid
        WHERE n.nspname = $1 AND c.relname = $2`,
      [schema, table, tenantColumn ?? null],
    );
    const row = t.rows[0];
    if (!row) return { problem: `table ${schema}.${table} does not exist` };
    if (row.relkind !== 'p' || row.strat !== 'r') return { problem: `table ${schema}.${table} is not PARTITION BY RANGE` };
    if (row.natts !== 1 || row.keycol !== column) return { problem: `table ${schema}.${table} is not partitioned by RANGE (${column}) alone` };
    if (!row.keytype || !KEY_TYPES.has(row.keytype)) return { problem: `partition key ${column} of ${schema}.${table} is ${row.keytype}; timestamptz, timestamp or date are supported` };
    const parts = await client.query<{ schema: string; name: string; bound: string }>(
      `SELECT n.nspname AS schema, c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE i.inhparent = $1 ORDER BY 2`,
      [row.oid],
    );
    const partitions: ExistingPartition[] = parts.rows.map((p) => ({ schema: p.schema, name: p.name, ...parseRangeBound(p.bound) }));
    return {
      table: {
        owner: row.owner,
        canManage: row.can_manage,
        columnType: row.keytype,
        partitions,
        defaultPartition: partitions.find((p) => p.isDefault)?.name,
        columns: row.columns,
        tenantColumnType: row.tenant_type,
      },
    };
  } finally {
    await client.query('COMMIT').catch(() => undefined);
  }
}

export interface MaintenanceOptions {
  now?: Date;
  lockTimeoutMs?: number;
  /** Attempts per step when the lock cannot be had within lockTimeoutMs. */
  attempts?: number;
  /** Pause before attempt n is min(backoffMs * 2^(n-1), 5 s). */
  backoffMs?: number;
  /** Row-level security of new partitions, when the table is a tenant table. */
  tenancy?: TenancyRules | undefined;
  /** Look-ahead; defaults to leadFor(interval). */
  leadMs?: number;
  /** Epoch ms after which a lock wait is not retried (a pass over many busy tables must not hold a worker). */
  deadline?: number;
}

export interface MaintenanceResult {
  problem?: string;
  plan?: PartitionPlan;
  created: string[];
  detached: string[];
  dropped: string[];
  rowsMoved: number;
  /** Steps left undone because the table stayed locked; the next run picks them up. */
  busy: string[];
  /** Lock timeouts met (and retried) on the way. */
  lockWaits: number;
  ddl: number;
  /** Range partitions attached after this run. */
  attached: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Creates, retires: brings one table's partitions in line with its spec at `now`. */
export async function maintainPartitions(client: ClientBase, target: MaintenanceTarget, opts: MaintenanceOptions = {}): Promise<MaintenanceResult> {
  const res: MaintenanceResult = { created: [], detached: [], dropped: [], rowsMoved: 0, busy: [], lockWaits: 0, ddl: 0, attached: 0 };
  const read = await readPartitionedTable(client, target.schema, target.table, target.column, opts.tenancy?.tenantColumn);
  if (!read.table) return { ...res, problem: read.problem ?? 'unreadable' };
  const t = read.table;
  const now = opts.now ?? new Date();
  const plan = planPartitions(target, t.partitions, now, opts.leadMs ?? leadFor(target.interval));
  res.plan = plan;
  res.attached = t.partitions.filter((p) => !p.isDefault).length;
  const work = plan.create.length + (plan.createDefault ? 1 : 0) + plan.retire.length;
  if (work === 0) return res;
  if (!t.canManage) return { ...res, problem: `table ${target.schema}.${target.table} is owned by ${t.owner}, which the operator's login cannot act as` };
  const tenancy = opts.tenancy && t.tenantColumnType !== null ? opts.tenancy : undefined;
  const parent = qualified(target.schema, target.table);

  const step = async (label: string, fn: () => Promise<void>): Promise<boolean> => {
    const attempts = opts.attempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      try {
        // One round trip opens the step: the transaction, its lock budget, UTC, the owner's role.
        await client.query(`BEGIN; SET LOCAL lock_timeout = ${Math.max(1, Math.floor(opts.lockTimeoutMs ?? 1000))}; SET LOCAL TimeZone = 'UTC'; SET LOCAL ROLE ${ident(t.owner)}`);
        await fn();
        await client.query('COMMIT');
        return true;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        if (!isLockTimeout(err)) throw err;
        res.lockWaits++;
        const pause = Math.min((opts.backoffMs ?? 250) * 2 ** (attempt - 1), 5000);
        if (attempt >= attempts || (opts.deadline !== undefined && Date.now() + pause > opts.deadline)) {
          res.busy.push(label);
          return false;
        }
        await sleep(pause);
      }
    }
  };

  const withRls = async (names: string[]) => {
    if (!tenancy || names.length === 0) return;
    const changes = names.map((name) =>
      diffRelation(
        { root: { schema: target.schema, name: target.table }, schema: target.schema, name, oid: 0, relkind: 'r', isPartition: true, owner: t.owner, canManage: true, columnType: t.tenantColumnType, rls: false, force: false, policies: [], bypassGrants: [] },
        tenancy,
      ),
    );
    res.ddl += await applyBatch(client, changes);
    await client.query(`SET LOCAL ROLE ${ident(t.owner)}`);
  };

  const col = ident(target.column);
  const def = t.defaultPartition ? qualified(t.partitions.find((x) => x.isDefault)!.schema, t.defaultPartition) : undefined;
  // Every new partition of the table in one transaction: they all wait for the same lock on the parent.
  const newNames = [...plan.create.map((p) => p.name), ...(plan.createDefault ? [plan.createDefault] : [])];
  if (newNames.length) {
    let moved = 0;
    let ddl = 0;
    const ok = await step(`create ${newNames.join(', ')}`, async () => {
      moved = 0;
      ddl = 0;
      const parked = def ? await parkedRanges(client, def, col, plan.create, t.columnType) : new Set<number>();
      const plain = plan.create.filter((_, i) => !parked.has(i)).map((p) => createRangeSql(parent, target.schema, p, t.columnType));
      if (plan.createDefault) plain.push(`CREATE TABLE ${qualified(target.schema, plan.createDefault)} PARTITION OF ${parent} DEFAULT`);
      if (plain.length) await client.query(plain.join(';\n'));
      ddl += plain.length;
      if (parked.size) {
        const r = await moveParked(client, parent, def!, target.schema, [...parked].map((i) => plan.create[i]!), t, col);
        moved += r.moved;
        ddl += r.ddl;
      }
      await withRls(newNames);
    });
    if (!ok) return res; // the table is busy: leave the rest for the next run
    res.ddl += ddl;
    res.rowsMoved += moved;
    res.created.push(...newNames);
    res.attached += plan.create.length;
  }
  if (plan.retire.length) {
    const ok = await step(plan.retire.map((r) => `${r.action} ${r.name}`).join(', '), async () => {
      await client.query(
        plan.retire.map((r) => (r.action === 'drop' ? `DROP TABLE ${qualified(r.schema, r.name)}` : `ALTER TABLE ${parent} DETACH PARTITION ${qualified(r.schema, r.name)}`)).join(';\n'),
      );
    });
    if (!ok) return res;
    res.ddl += plan.retire.length;
    for (const r of plan.retire) (r.action === 'drop' ? res.dropped : res.detached).push(r.name);
    res.attached -= plan.retire.length;
  }
  return res;
}

function createRangeSql(parent: string, schema: string, p: PlannedPartition, columnType: string): string {
  return `CREATE TABLE ${qualified(schema, p.name)} PARTITION OF ${parent} FOR VALUES FROM (${boundLiteral(p.from, columnType)}) TO (${boundLiteral(p.to, columnType)})`;
}

/** Indexes (into `ranges`) of the ranges the default partition holds rows of; one query for all. */
async function parkedRanges(client: ClientBase, def: string, col: string, ranges: PlannedPartition[], columnType: string): Promise<Set<number>> {
  if (ranges.length === 0) return new Set();
  // columnType is one of KEY_TYPES (checked when the table was read); bounds are generated literals.
  const values = ranges.map((p, i) => `(${i}, ${boundLiteral(p.from, columnType)}::${columnType}, ${boundLiteral(p.to, columnType)}::${columnType})`).join(', ');
  const r = await client.query<{ i: number }>(`SELECT v.i FROM (VALUES ${values}) AS v(i, f, t) WHERE EXISTS (SELECT 1 FROM ONLY ${def} d WHERE d.${col} >= v.f AND d.${col} < v.t)`);
  return new Set(r.rows.map((x) => Number(x.i)));
}

/**
 * New range partitions whose rows sit in the default partition. PostgreSQL refuses to create them
 * ("updated partition constraint for default partition would be violated"): the default is detached, the
 * partitions created, the rows moved into them and the default attached again, all in the caller's
 * transaction, so no row is lost or seen twice.
 */
async function moveParked(client: ClientBase, parent: string, def: string, schema: string, ranges: PlannedPartition[], t: PartitionedTable, col: string): Promise<{ moved: number; ddl: number }> {
  const cols = identList(t.columns);
  let moved = 0;
  await client.query(`ALTER TABLE ${parent} DETACH PARTITION ${def}`);
  for (const p of ranges) {
    await client.query(createRangeSql(parent, schema, p, t.columnType));
    const from = boundLiteral(p.from, t.columnType);
    const to = boundLiteral(p.to, t.columnType);
    const r = await client.query(
      `WITH moved AS (DELETE FROM ONLY ${def} WHERE ${col} >= ${from} AND ${col} < ${to} RETURNING ${cols}) INSERT INTO ${qualified(schema, p.name)} (${cols}) OVERRIDING SYSTEM VALUE SELECT ${cols} FROM moved`,
    );
    moved += r.rowCount ?? 0;
  }
  await client.query(`ALTER TABLE ${parent} ATTACH PARTITION ${def} DEFAULT`);
  return { moved, ddl: ranges.length + 2 };
}
