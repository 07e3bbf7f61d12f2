// A golang-migrate suite against real PostgreSQL: taken over from golang-migrate's schema_migrations
// (its one version row, read only), then the rest applied: an empty script is a step that does nothing,
// a title with a dot is a name like any other, CREATE INDEX CONCURRENTLY runs outside a transaction as
// golang-migrate's single query would, a missing down script matters only going down past it, and a
// down script holding DROP INDEX CONCURRENTLY runs outside a transaction. A dirty version stalls.
import { cleanUp, freshDatabase, history, indexes, runSuite, snapshot, tables, versions } from './formats-fixture.js';

afterAll(cleanUp);

const suite = {
  '000001_create_users.up.sql': 'CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);',
  '000001_create_users.down.sql': 'DROP TABLE users;',
  '000002_seed.up.sql': "INSERT INTO users VALUES (1, 'a@example.com');",
  '000002_seed.down.sql': '', // golang-migrate: an empty file is a step that does nothing
  '000003_upgrade_channels_v6.0.up.sql': 'CREATE TABLE channels (id bigint PRIMARY KEY, version text);',
  '000003_upgrade_channels_v6.0.down.sql': 'DROP TABLE channels;',
  '000004_noop.up.sql': '',
  '000004_noop.down.sql': '-- nothing to undo\n',
  '000005_users_email_idx.up.sql': 'CREATE INDEX CONCURRENTLY users_email_idx ON users (email);',
  '000005_users_email_idx.down.sql': 'DROP INDEX CONCURRENTLY users_email_idx;',
  '000006_audit.up.sql': 'CREATE TABLE audit (id bigint);',
};

test('adopts schema_migrations, applies the rest (empty, dotted, concurrent), goes down honouring the down script, reports a dirty version', async () => {
  const db = await freshDatabase('fgm');
  // What golang-migrate left: steps 1 and 2 applied, its table owned by the role that ran it.
  await db.sql(`CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL); INSERT INTO users VALUES (1, 'a@example.com');
    ALTER TABLE users OWNER TO ${db.owner};
    CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL); INSERT INTO schema_migrations VALUES (2, false)`);
  const before = await snapshot(db, 'public.schema_migrations');

  // The migration login cannot read it yet: said so, with the GRANT, and nothing runs.
  const denied = await runSuite(db, 'golang-migrate', suite, {}, { tool: 'golang-migrate' });
  expect(denied.outcome === 'stalled' && [denied.reason, denied.message]).toEqual(['AdoptionUnreadable', expect.stringContaining(`GRANT SELECT ON "public"."schema_migrations" TO "${db.owner}"`)]);
  await db.sql(`GRANT SELECT ON schema_migrations TO ${db.owner}`);

  const up = await runSuite(db, 'golang-migrate', suite, {}, { tool: 'golang-migrate' });
  expect(up.outcome === 'failed' ? up.failure : up.outcome).toBe('succeeded');
  expect(versions(up)).toEqual(['up:000003', 'up:000004', 'up:000005', 'up:000006']);
  expect(up.maintenance).toEqual(["adopted 2 applied steps from golang-migrate's history (public.schema_migrations)"]);
  expect(await tables(db)).toEqual(['audit', 'channels', 'schema_migrations', 'users']);
  expect(await indexes(db)).toContain('users_email_idx');
  const h = await history(db);
  expect(h.map((r) => [r.version, r.name, r.state])).toEqual([
    ['000001', 'create_users', 'success'],
    ['000002', 'seed', 'success'],
    ['000003', 'upgrade_channels_v6.0', 'success'],
    ['000004', 'noop', 'success'],
    ['000005', 'users_email_idx', 'success'],
    ['000006', 'audit', 'success'],
  ]);
  expect(h[0]?.applied_by).toMatch(/^adopted from golang-migrate public.schema_migrations; test$/);
  expect(await snapshot(db, 'public.schema_migrations')).toEqual(before);

  // Down past step 6 needs its down script: none, so nothing runs.
  const noDown = await runSuite(db, 'golang-migrate', suite, { targetVersion: '3', allowDown: true });
  expect(noDown.outcome === 'stalled' && noDown.reason).toBe('MissingDownScript');
  const { '000006_audit.up.sql': _audit, ...withoutAudit } = suite;
  await db.sql('DROP TABLE audit');
  await db.sql(`DELETE FROM tenantdb.schema_migrations WHERE version = '000006'`);
  // DROP INDEX CONCURRENTLY cannot run in a transaction: the down script runs as the tool would send it.
  const down = await runSuite(db, 'golang-migrate', withoutAudit, { targetVersion: '1', allowDown: true });
  expect(down.outcome).toBe('succeeded');
  expect(versions(down)).toEqual(['down:000005', 'down:000004', 'down:000003', 'down:000002']);
  expect(await indexes(db)).not.toContain('users_email_idx');
  expect(await tables(db)).toEqual(['schema_migrations', 'users']);
  expect((await history(db)).map((r) => r.version)).toEqual(['000001']);

  // A dirty version in the old table is reported, never guessed past.
  const dirty = await freshDatabase('fgmd');
  await dirty.sql(`CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL); INSERT INTO schema_migrations VALUES (3, true); GRANT SELECT ON schema_migrations TO ${dirty.owner}`);
  const stalled = await runSuite(dirty, 'golang-migrate', suite, {}, { tool: 'golang-migrate' });
  expect(stalled.outcome === 'stalled' && [stalled.reason, stalled.message]).toEqual(['AdoptedHistoryDirty', expect.stringMatching(/version 3 is dirty .*migrate force 3/)]);
  expect(await tables(dirty)).toEqual(['schema_migrations']);
});
