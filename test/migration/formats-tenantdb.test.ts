// The operator's own form against real PostgreSQL: strict keys, and `-- tenantdb:transactional false`
// read on the up and the down script each for itself (a down script without it runs as its up script).
import { cleanUp, freshDatabase, history, indexes, runSuite, versions } from './formats-fixture.js';

afterAll(cleanUp);

test('the down script carries its own directive', async () => {
  const db = await freshDatabase('ftd');
  const suite: Record<string, string> = {
    '1_users.up.sql': 'CREATE TABLE users (id bigint PRIMARY KEY, email text);',
    '1_users.down.sql': 'DROP TABLE users;',
    // Up in a transaction; the down script needs to run outside one and says so.
    '2_email_idx.up.sql': 'CREATE INDEX users_email_idx ON users (email);',
    '2_email_idx.down.sql': '-- tenantdb:transactional false\nDROP INDEX CONCURRENTLY users_email_idx;',
    // Up outside a transaction; its down script says nothing and runs the same way.
    '3_id_idx.up.sql': '-- tenantdb:transactional false\nCREATE INDEX CONCURRENTLY users_id_idx ON users (id);',
    '3_id_idx.down.sql': 'DROP INDEX CONCURRENTLY users_id_idx;',
  };
  expect(versions(await runSuite(db, 'tenantdb', suite))).toEqual(['up:1', 'up:2', 'up:3']);
  const down = await runSuite(db, 'tenantdb', suite, { targetVersion: '1', allowDown: true });
  expect(down.outcome === 'failed' ? down.failure : down.outcome).toBe('succeeded');
  expect(versions(down)).toEqual(['down:3', 'down:2']);
  expect(await indexes(db)).toEqual(['users_pkey']);
  expect((await history(db)).map((r) => r.version)).toEqual(['1']);
  // Without the directive the down script of 2 would run in the up script's transaction mode: refused by PostgreSQL.
  await runSuite(db, 'tenantdb', suite);
  const refused = await runSuite(db, 'tenantdb', { ...suite, '2_email_idx.down.sql': 'DROP INDEX CONCURRENTLY users_email_idx;' }, { targetVersion: '1', allowDown: true });
  expect(refused.outcome === 'failed' && refused.failure).toMatchObject({ version: '2', direction: 'down', code: '25001' });
});
