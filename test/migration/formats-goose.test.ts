// A goose suite against real PostgreSQL: taken over from goose_db_version (its latest row per version
// decides), Up/Down sections of one file, an empty Down section, a dotted name, StatementBegin/End
// around a function body, and NO TRANSACTION honoured on the up and the down section.
import { cleanUp, freshDatabase, history, indexes, runSuite, snapshot, tables, versions } from './formats-fixture.js';

afterAll(cleanUp);

const suite: Record<string, string> = {
  '00001_create_users.sql': '-- +goose Up\nCREATE TABLE users (id bigint PRIMARY KEY, email text);\n\n-- +goose Down\nDROP TABLE users;\n',
  '00002_seed.sql': "-- +goose Up\nINSERT INTO users VALUES (1, 'a@example.com');\n\n-- +goose Down\n",
  '00003_upgrade_channels_v6.0.sql': [
    '-- +goose Up',
    '-- +goose StatementBegin',
    'CREATE FUNCTION channel_version() RETURNS text LANGUAGE plpgsql AS $$',
    'BEGIN',
    "  RETURN '6.0';",
    'END $$;',
    '-- +goose StatementEnd',
    '',
    '-- +goose Down',
    'DROP FUNCTION channel_version();',
  ].join('\n'),
  '00004_email_idx.sql': '-- +goose NO TRANSACTION\n\n-- +goose Up\nCREATE INDEX CONCURRENTLY users_email_idx ON users (email);\n\n-- +goose Down\nDROP INDEX CONCURRENTLY users_email_idx;\n',
};

test('adopts goose_db_version, applies the rest, goes down honouring NO TRANSACTION on the down section', async () => {
  const db = await freshDatabase('fgo');
  // goose applied 1 and 2, rolled 2 back, applied it again; then applied and rolled back 3.
  await db.sql(`CREATE TABLE users (id bigint PRIMARY KEY, email text); INSERT INTO users VALUES (1, 'a@example.com'); ALTER TABLE users OWNER TO ${db.owner};
    CREATE TABLE goose_db_version (id serial PRIMARY KEY, version_id bigint NOT NULL, is_applied boolean NOT NULL, tstamp timestamp DEFAULT now());
    INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true), (1, true), (2, true), (2, false), (2, true), (3, true), (3, false);
    GRANT SELECT ON goose_db_version TO ${db.owner}`);
  const before = await snapshot(db, 'public.goose_db_version');

  const up = await runSuite(db, 'goose', suite, {}, { tool: 'goose' });
  expect(up.outcome === 'failed' ? up.failure : up.outcome).toBe('succeeded');
  expect(versions(up)).toEqual(['up:00003', 'up:00004']);
  expect(up.maintenance).toEqual(["adopted 2 applied steps from goose's history (public.goose_db_version)"]);
  expect((await db.sql<{ v: string }>('SELECT channel_version() AS v'))[0]?.v).toBe('6.0');
  expect(await indexes(db)).toContain('users_email_idx');
  expect((await history(db)).map((r) => [r.version, r.name])).toEqual([
    ['00001', 'create_users'],
    ['00002', 'seed'],
    ['00003', 'upgrade_channels_v6.0'],
    ['00004', 'email_idx'],
  ]);
  expect(await snapshot(db, 'public.goose_db_version')).toEqual(before);

  const down = await runSuite(db, 'goose', suite, { targetVersion: '1', allowDown: true });
  expect(down.outcome === 'failed' ? down.failure : down.outcome).toBe('succeeded');
  expect(versions(down)).toEqual(['down:00004', 'down:00003', 'down:00002']);
  expect(await indexes(db)).not.toContain('users_email_idx');
  // The empty Down section of 2 did nothing: its row is still there.
  expect((await db.sql<{ n: number }>('SELECT count(*)::int AS n FROM users'))[0]?.n).toBe(1);
  expect(await tables(db)).toEqual(['goose_db_version', 'users']);
});

test('spec.adopt names a table of another schema and name; an old table with nothing applied adopts nothing', async () => {
  const db = await freshDatabase('fgos');
  await db.sql(`CREATE TABLE users (id bigint PRIMARY KEY, email text); ALTER TABLE users OWNER TO ${db.owner};
    CREATE SCHEMA legacy; CREATE TABLE legacy.goose_versions (id serial PRIMARY KEY, version_id bigint NOT NULL, is_applied boolean NOT NULL, tstamp timestamp DEFAULT now());
    INSERT INTO legacy.goose_versions (version_id, is_applied) VALUES (0, true), (1, true);
    GRANT USAGE ON SCHEMA legacy TO ${db.owner}; GRANT SELECT ON legacy.goose_versions TO ${db.owner}`);
  // The default table does not exist there: nothing is adopted, and step 1 would fail (users exists).
  const wrong = await runSuite(db, 'goose', suite, {}, { tool: 'goose' });
  expect(wrong.outcome === 'failed' && wrong.failure).toMatchObject({ version: '00001', code: '42P07' });
  const r = await runSuite(db, 'goose', suite, {}, { tool: 'goose', schema: 'legacy', table: 'goose_versions' });
  expect(r.outcome === 'failed' ? r.failure : r.outcome).toBe('succeeded');
  expect(versions(r)).toEqual(['up:00002', 'up:00003', 'up:00004']);
  expect((await history(db))[0]?.applied_by).toBe('adopted from goose legacy.goose_versions; test');

  // goose's own first row only: nothing to take over, every step runs.
  const fresh = await freshDatabase('fgof');
  await fresh.sql(`CREATE TABLE goose_db_version (id serial PRIMARY KEY, version_id bigint NOT NULL, is_applied boolean NOT NULL, tstamp timestamp DEFAULT now());
    INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true); GRANT SELECT ON goose_db_version TO ${fresh.owner}`);
  const all = await runSuite(fresh, 'goose', suite, {}, { tool: 'goose' });
  expect(versions(all)).toEqual(['up:00001', 'up:00002', 'up:00003', 'up:00004']);
  expect(all.maintenance).toEqual([]);
});
