// The history read against the environment's real PostgreSQL: where this process saw the table before,
// the rows are read in one round trip and a table dropped since reads as an empty history; elsewhere the
// table is looked for first, so a database no run has reached yet never gets a failing read (an error
// in its server log on every look).
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { stepsFromInline } from '../../src/migrations/steps.js';
import { ident, literal } from '../../src/postgres/ident.js';
import { readHistoryOf } from '../../src/postgres/migrations/history.js';
import { runMigration } from '../../src/postgres/migrations/runner.js';
import { closeConnections, connections, createTestDatabase, superSql, type TestDatabase } from './pg.js';

const dbs: TestDatabase[] = [];
afterAll(async () => {
  await closeConnections();
  for (const db of dbs) await db.drop().catch(() => undefined);
});

/** Each statement the read sends, and whether the server refused it. */
function counting(c: pg.ClientBase): { db: Pick<pg.ClientBase, 'query'>; sent: Array<{ text: string; failed?: string }> } {
  const sent: Array<{ text: string; failed?: string }> = [];
  const db = {
    query: async (text: string, values?: unknown[]) => {
      const entry: { text: string; failed?: string } = { text };
      sent.push(entry);
      try {
        return await c.query(text, values);
      } catch (err) {
        entry.failed = (err as { code?: string }).code;
        throw err;
      }
    },
  } as Pick<pg.ClientBase, 'query'>;
  return { db, sent };
}

test('one round trip where the table was seen; a missing table reads as empty, with no failing read unless it was seen', async () => {
  const db = await createTestDatabase('hist');
  dbs.push(db);
  await connections().withClient(db.target, async (c) => {
    // No table yet, not seen: looked for, not read (no error on the server).
    let n = counting(c);
    expect(await readHistoryOf(n.db, 'ns/m')).toEqual({ rows: [], exists: false });
    expect(n.sent).toHaveLength(1);
    expect(n.sent[0]?.text).toMatch(/to_regclass/);
    expect(n.sent[0]?.failed).toBeUndefined();

    // Seen, but gone (dropped since): one read, refused as 42P01, an empty history; the session goes on.
    n = counting(c);
    expect(await readHistoryOf(n.db, 'ns/m', { seen: true })).toEqual({ rows: [], exists: false });
    expect(n.sent.map((s) => s.failed)).toEqual(['42P01']);
    expect((await c.query('SELECT 1 AS one')).rows[0]?.one).toBe(1);
  });

  const r = await runMigration(connections(), db.target, {
    migration: 'ns/m',
    steps: stepsFromInline([{ version: '1', name: 'init', up: 'CREATE TABLE t (id int);', transactional: true }]),
    plan: { allowDown: false, outOfOrder: false, repair: false },
    runAsRole: db.owner,
    lockTimeout: '5s',
    appliedBy: 'test',
  });
  expect(r.outcome).toBe('succeeded');

  await connections().withClient(db.target, async (c) => {
    // Not seen: looked for, then read.
    let n = counting(c);
    const looked = await readHistoryOf(n.db, 'ns/m');
    expect(looked.exists).toBe(true);
    expect(looked.rows.map((h) => h.version)).toEqual(['1']);
    expect(n.sent).toHaveLength(2);

    // Seen: the same rows in one round trip.
    n = counting(c);
    expect(await readHistoryOf(n.db, 'ns/m', { seen: true })).toEqual(looked);
    expect(n.sent).toHaveLength(1);
    expect(n.sent[0]?.failed).toBeUndefined();

    // Another Migration on the same database: the table is there, its history empty, one round trip.
    n = counting(c);
    expect(await readHistoryOf(n.db, 'ns/other', { seen: true })).toEqual({ rows: [], exists: true });
    expect(n.sent).toHaveLength(1);
  });

  // A refusal other than a missing table is not an empty history: a role without rights on the table.
  const reader = `${db.database}_reader`;
  const password = randomBytes(18).toString('base64url');
  await superSql(`CREATE ROLE ${ident(reader)} LOGIN PASSWORD ${literal(password)}`);
  try {
    await superSql(`GRANT CONNECT ON DATABASE ${ident(db.database)} TO ${ident(reader)}`);
    await expect(connections().withClient({ ...db.target, user: reader, password }, (c) => readHistoryOf(c, 'ns/m', { seen: true }))).rejects.toMatchObject({ code: '42501' });
  } finally {
    await closeConnections();
    await superSql(`REVOKE ALL ON DATABASE ${ident(db.database)} FROM ${ident(reader)}`).catch(() => undefined);
    await superSql(`DROP ROLE IF EXISTS ${ident(reader)}`);
  }
});
