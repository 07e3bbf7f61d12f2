// spec.maintenance against the real apiserver and PostgreSQL: a bloated table vacuumed and analyzed, an
// index left invalid by a failed CREATE INDEX CONCURRENTLY rebuilt, a bloated index rebuilt smaller, a
// materialized view refreshed CONCURRENTLY while a reader holds it open (and one without a unique index
// refreshed plainly, said in status), a table locked by someone else skipped after the lock budget rather
// than waited for, a window that ends mid-run deferring the rest, a second session holding the
// database's maintenance lock (another replica) making the run stand aside, and a due time recorded
// before a downtime run once.
import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';
import pg from 'pg';
import { Cron } from 'croner';
import { asSuperuser, superuserConfig } from '../postgres/helpers.js';
import { eventually, run } from '../runtime/helpers.js';
import { applyJson, events, externalTd, getTd, startDbHarness, waitReady, type DbHarness } from './db-harness.js';

jest.setTimeout(240_000);

let h: DbHarness;
const NAME = 'maint';
const DB = 'maint_db';
const OWNER = 'maint_owner';

interface LastRun {
  trigger: string;
  outcome: string;
  startedAt: string;
  durationSeconds: number;
  tasks?: Record<string, { done: number; skipped: number; deferred: number }>;
  notes?: Array<{ task: string; object: string; reason: string }>;
  message?: string;
}
type Maint = { nextRun?: string; lastRequest?: string; lastRun?: LastRun };

const maintenanceOf = async (): Promise<Maint | undefined> => ((await getTd(h.ns, NAME))?.status as { maintenance?: Maint } | undefined)?.maintenance;

async function asOwner<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  return asSuperuser(async (c) => {
    await c.query(`SET ROLE ${OWNER}`);
    return fn(c);
  }, DB);
}

/** A session of its own in the database (a reader, a lock holder), as the superuser. */
async function session(): Promise<pg.Client> {
  const c = new pg.Client(superuserConfig(DB));
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

async function ask(request: string, spec?: Record<string, unknown>): Promise<LastRun> {
  if (spec) await run(['patch', 'tenantdatabase', NAME, '-n', h.ns, '--type', 'merge', '-p', JSON.stringify({ spec: { maintenance: spec } })]);
  await run(['annotate', 'tenantdatabase', NAME, '-n', h.ns, `tenantdb.io/run-maintenance=${request}`, '--overwrite']);
  return eventually(`run ${request}`, async () => {
    const m = await maintenanceOf();
    return m?.lastRun?.trigger === `request=${request}` ? m.lastRun : undefined;
  }, 120_000);
}

const BASE = {
  schedule: '0 3 * * 0',
  lockTimeout: 'PT1S',
  vacuum: { minDeadTuples: 500 },
  analyze: { minModifiedRows: 500 },
  reindex: { minBloatPercent: 30, minIndexPages: 100 },
  refreshMaterializedViews: [{ name: 'tenant_totals' }, { name: 'plain_totals' }],
};

beforeAll(async () => {
  h = await startDbHarness('maint');
  const td = externalTd(h.ns, NAME) as ReturnType<typeof externalTd> & { spec: Record<string, unknown> };
  td.spec.maintenance = BASE;
  await applyJson(td);
  await waitReady(h.ns, NAME);
  await asOwner(async (c) => {
    await c.query(`CREATE TABLE events (id int PRIMARY KEY, tenant int, payload text) WITH (autovacuum_enabled = false)`);
    await c.query(`INSERT INTO events SELECT g, g % 10, repeat('x', 50) FROM generate_series(1, 20000) g`);
    await c.query(`DELETE FROM events WHERE id % 2 = 0`);
    await c.query(`CREATE TABLE bloated (id int, v text) WITH (autovacuum_enabled = false)`);
    await c.query(`INSERT INTO bloated SELECT g, 'v' FROM generate_series(1, 100000) g`);
    await c.query(`CREATE INDEX bloated_id ON bloated (id)`);
    await c.query(`DELETE FROM bloated WHERE id % 20 <> 0`);
    await c.query(`CREATE TABLE dups (v int) WITH (autovacuum_enabled = false)`);
    await c.query(`INSERT INTO dups VALUES (1), (1), (2)`);
    await c.query(`CREATE TABLE busy (id int) WITH (autovacuum_enabled = false)`);
    await c.query(`INSERT INTO busy SELECT generate_series(1, 5000)`);
    await c.query(`DELETE FROM busy`);
    await c.query(`CREATE MATERIALIZED VIEW tenant_totals AS SELECT tenant, count(*) AS n FROM events GROUP BY tenant`);
    await c.query(`CREATE UNIQUE INDEX tenant_totals_tenant ON tenant_totals (tenant)`);
    await c.query(`CREATE MATERIALIZED VIEW plain_totals AS SELECT count(*) AS n FROM events`);
  });
  // Fresh statistics for the bloated table: the index now holds 5% of what its pages were sized for.
  await asOwner((c) => c.query('VACUUM ANALYZE bloated'));
  // A unique index built CONCURRENTLY over duplicates fails and stays behind INVALID; then the data is fixed.
  await asOwner((c) => c.query('CREATE UNIQUE INDEX CONCURRENTLY dups_v ON dups (v)').catch(() => undefined));
  await asOwner((c) => c.query('DELETE FROM dups WHERE ctid = (SELECT max(ctid) FROM dups WHERE v = 1)'));
  // Rows the views do not show yet.
  await asOwner((c) => c.query(`INSERT INTO events SELECT g, 99, 'new' FROM generate_series(30001, 30010) g`));
});

afterAll(async () => {
  await h?.stop();
});

test('no run at creation: the next Sunday 03:00 UTC is recorded, Maintained says so', async () => {
  const m = await eventually('nextRun', async () => (await maintenanceOf())?.nextRun, 30_000);
  const expected = new Cron('0 3 * * 0', { timezone: 'UTC' }).nextRun(new Date())!;
  expect(new Date(m).getTime()).toBe(expected.getTime());
  expect((await maintenanceOf())?.lastRun).toBeUndefined();
  const c = (await getTd(h.ns, NAME))?.status?.conditions?.find((x) => x.type === 'Maintained');
  expect(c).toMatchObject({ status: 'True', reason: 'Scheduled' });
});

test('a run vacuums and analyzes, refreshes views under a reader; a locked table and rebuilds needing old snapshots gone are skipped, not waited for', async () => {
  const reader = await session();
  const locker = await session();
  try {
    await reader.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    const seen = await reader.query('SELECT count(*)::int AS n FROM tenant_totals');
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE busy IN ACCESS EXCLUSIVE MODE');

    const last = await ask('r1');
    // The reader kept its view open the whole time and still reads it.
    expect((await reader.query('SELECT count(*)::int AS n FROM tenant_totals')).rows[0].n).toBe(seen.rows[0].n);
    await reader.query('COMMIT');
    await locker.query('COMMIT');

    expect(last.outcome).toBe('Partial');
    expect(last.tasks?.vacuum).toEqual({ done: 1, skipped: 1, deferred: 0 });
    expect(last.tasks?.analyze).toEqual({ done: 1, skipped: 1, deferred: 0 });
    // REINDEX CONCURRENTLY waits for every transaction older than it: the open reader makes both skip.
    expect(last.tasks?.reindex).toEqual({ done: 0, skipped: 2, deferred: 0 });
    expect(last.tasks?.refreshMaterializedViews).toEqual({ done: 2, skipped: 0, deferred: 0 });
    expect(last.notes).toEqual(expect.arrayContaining([
      expect.objectContaining({ task: 'vacuum', object: '"public"."busy"', reason: expect.stringMatching(/^skipped: lock not granted within 1000 ms/) }),
      expect.objectContaining({ task: 'reindex', object: '"public"."bloated_id"', reason: expect.stringMatching(/^skipped: lock not granted/) }),
      expect.objectContaining({ task: 'refreshMaterializedViews', object: '"public"."plain_totals"', reason: expect.stringMatching(/without CONCURRENTLY.*no unique index/) }),
    ]));
    await asOwner(async (c) => {
      const t = (await c.query(`SELECT n_dead_tup::int AS dead, last_vacuum, last_analyze FROM pg_stat_user_tables WHERE relname = 'events'`)).rows[0];
      expect(t.dead).toBe(0);
      expect(t.last_vacuum).not.toBeNull();
      expect(t.last_analyze).not.toBeNull();
      expect((await c.query(`SELECT n FROM tenant_totals WHERE tenant = 99`)).rows[0]?.n).toBe('10');
      expect((await c.query(`SELECT n FROM plain_totals`)).rows[0].n).toBe('10010');
      // A cancelled rebuild leaves nothing behind.
      expect((await c.query(`SELECT count(*)::int AS n FROM pg_class WHERE relname ~ '_cc(new|old)'`)).rows[0].n).toBe(0);
    });
    const ev = await events(h.ns, NAME);
    expect(ev.some((e) => e.reason === 'MaintenancePartial' && /vacuum 1 done, 1 skipped/.test(e.note ?? e.message ?? ''))).toBe(true);
    const td = await getTd(h.ns, NAME);
    expect(td?.status?.conditions?.find((x) => x.type === 'Maintained')).toMatchObject({ status: 'False', reason: 'Partial' });
    expect(td?.status?.conditions?.find((x) => x.type === 'Ready')?.status).toBe('True');
  } finally {
    await reader.end().catch(() => undefined);
    await locker.end().catch(() => undefined);
  }
});

test('the next run does what was skipped: the locked table vacuumed, the invalid index and the bloated one rebuilt', async () => {
  const sizeBefore = await asOwner(async (c) => Number((await c.query(`SELECT pg_relation_size('bloated_id') AS s`)).rows[0].s));
  const last = await ask('r2');
  expect(last.outcome).toBe('Succeeded');
  expect(last.tasks?.vacuum).toEqual({ done: 1, skipped: 0, deferred: 0 });
  expect(last.tasks?.reindex).toEqual({ done: 2, skipped: 0, deferred: 0 });
  await asOwner(async (c) => {
    expect((await c.query(`SELECT n_dead_tup::int AS dead FROM pg_stat_user_tables WHERE relname = 'busy'`)).rows[0].dead).toBe(0);
    expect((await c.query(`SELECT indisvalid FROM pg_index WHERE indexrelid = 'dups_v'::regclass`)).rows[0].indisvalid).toBe(true);
    expect(Number((await c.query(`SELECT pg_relation_size('bloated_id') AS s`)).rows[0].s)).toBeLessThan(sizeBefore / 4);
  });
});

test('a run with nothing past a threshold executes only the view refreshes; a converged pass writes nothing', async () => {
  const last = await ask('r2b');
  expect(last.outcome).toBe('Succeeded');
  expect(Object.keys(last.tasks ?? {})).toEqual(['refreshMaterializedViews']);
  const before = (await getTd(h.ns, NAME)) as unknown as { status: unknown };
  await run(['annotate', 'tenantdatabase', NAME, '-n', h.ns, `test.tenantdb.io/nudge=${Date.now()}`, '--overwrite']);
  await new Promise((r) => setTimeout(r, 3000));
  const after = (await getTd(h.ns, NAME)) as unknown as { status: unknown };
  expect(after.status).toEqual(before.status);
});

test('the window ends mid-run: the statement in progress is cancelled and the rest deferred', async () => {
  await asOwner((c) => c.query(`CREATE FUNCTION slow() RETURNS int LANGUAGE sql AS 'SELECT 1 FROM pg_sleep(6)'`));
  await asOwner((c) => c.query(`CREATE MATERIALIZED VIEW slow_view AS SELECT slow() AS id WITH NO DATA`));
  const last = await ask('r3', { window: 'PT2S', vacuum: null, analyze: null, reindex: null, refreshMaterializedViews: [{ name: 'slow_view' }, { name: 'tenant_totals' }] });
  expect(last.outcome).toBe('Partial');
  expect(last.tasks?.refreshMaterializedViews).toEqual({ done: 0, skipped: 0, deferred: 2 });
  expect(last.durationSeconds).toBeLessThan(6);
  expect(last.notes).toEqual([
    expect.objectContaining({ object: '"public"."slow_view"', reason: expect.stringMatching(/^deferred: the window ended while it ran/) }),
    expect.objectContaining({ object: '"public"."tenant_totals"', reason: expect.stringMatching(/^deferred: the window ended before it started/) }),
  ]);
});

test('another session holding the maintenance lock (a second replica): the run stands aside as Busy', async () => {
  const other = await session();
  try {
    await other.query('SELECT pg_advisory_lock($1, $2)', [0x74646231, 2]);
    const last = await ask('r4', { window: 'PT2H', refreshMaterializedViews: [{ name: 'tenant_totals' }] });
    expect(last.outcome).toBe('Busy');
  } finally {
    await other.end();
  }
});

test('a due time recorded before a downtime runs once when the operator looks again', async () => {
  // As if the operator recorded Sunday's slot and was down through it: the status holds a past occurrence.
  const past = new Cron('0 3 * * 0', { timezone: 'UTC' }).previousRuns(1, new Date())[0]!;
  await run(['patch', 'tenantdatabase', NAME, '-n', h.ns, '--subresource', 'status', '--type', 'merge', '-p', JSON.stringify({ status: { maintenance: { nextRun: past.toISOString() } } })]);
  // The operator looks again (a status edit alone does not wake it; its start or any change does).
  await run(['annotate', 'tenantdatabase', NAME, '-n', h.ns, `test.tenantdb.io/nudge=${Date.now()}`, '--overwrite']);
  const last = await eventually('scheduled run', async () => {
    const m = await maintenanceOf();
    return m?.lastRun?.trigger === 'schedule' ? m : undefined;
  }, 60_000);
  expect(new Date(last.nextRun!).getTime()).toBeGreaterThan(Date.now());
  const runs = (await events(h.ns, NAME)).filter((e) => /maintenance \(schedule\)/.test(e.note ?? e.message ?? ''));
  await new Promise((r) => setTimeout(r, 2000));
  expect((await events(h.ns, NAME)).filter((e) => /maintenance \(schedule\)/.test(e.note ?? e.message ?? '')).length).toBe(runs.length);
  expect(runs.length).toBe(1);
});

test('maintenance taken out of the spec: its status and the Maintained condition go with it', async () => {
  await run(['patch', 'tenantdatabase', NAME, '-n', h.ns, '--type', 'json', '-p', JSON.stringify([{ op: 'remove', path: '/spec/maintenance' }])]);
  const td = await eventually('report removed', async () => {
    const o = await getTd(h.ns, NAME);
    const st = o?.status as { maintenance?: unknown; conditions?: Array<{ type: string }> } | undefined;
    return st && st.maintenance === undefined && !st.conditions?.some((c) => c.type === 'Maintained') ? o : undefined;
  }, 30_000);
  expect(td.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
});
