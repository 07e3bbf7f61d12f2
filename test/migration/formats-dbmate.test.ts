// A dbmate suite against real PostgreSQL: taken over from dbmate's schema_migrations (one row per
// applied version), `-- migrate:up` / `-- migrate:down` sections, an empty section, a dotted name, and
// `transaction:false` honoured on each section for itself (a down section with it runs DROP INDEX
// CONCURRENTLY; one without it runs in a transaction).
import { cleanUp, freshDatabase, history, indexes, runSuite, snapshot, tables, versions } from './formats-fixture.js';

afterAll(cleanUp);

const suite: Record<string, string> = {
  '20240101000000_create_users.sql': '-- migrate:up\nCREATE TABLE users (id bigint PRIMARY KEY, email text);\n\n-- migrate:down\nDROP TABLE users;\n',
  '20240102000000_upgrade_channels_v6.0.sql': '-- migrate:up\nCREATE TABLE channels (id bigint);\n\n-- migrate:down\nDROP TABLE channels;\n',
  '20240103000000_nothing.sql': '-- migrate:up\n\n-- migrate:down\n',
  '20240104000000_email_idx.sql': '-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY users_email_idx ON users (email);\n\n-- migrate:down transaction:false\nDROP INDEX CONCURRENTLY users_email_idx;\n',
};

test('adopts schema_migrations, applies the rest, goes down honouring transaction:false on the down section', async () => {
  const db = await freshDatabase('fdm');
  await db.sql(`CREATE TABLE users (id bigint PRIMARY KEY, email text); ALTER TABLE users OWNER TO ${db.owner};
    CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY); INSERT INTO schema_migrations VALUES ('20240101000000');
    GRANT SELECT ON schema_migrations TO ${db.owner}`);
  const before = await snapshot(db, 'public.schema_migrations');

  const up = await runSuite(db, 'dbmate', suite, {}, { tool: 'dbmate' });
  expect(up.outcome === 'failed' ? up.failure : up.outcome).toBe('succeeded');
  expect(versions(up)).toEqual(['up:20240102000000', 'up:20240103000000', 'up:20240104000000']);
  expect(await indexes(db)).toContain('users_email_idx');
  expect((await history(db)).map((r) => [r.version, r.name, r.applied_by.startsWith('adopted from dbmate')])).toEqual([
    ['20240101000000', 'create_users', true],
    ['20240102000000', 'upgrade_channels_v6.0', false],
    ['20240103000000', 'nothing', false],
    ['20240104000000', 'email_idx', false],
  ]);
  expect(await snapshot(db, 'public.schema_migrations')).toEqual(before);

  const down = await runSuite(db, 'dbmate', suite, { targetVersion: '20240101000000', allowDown: true });
  expect(down.outcome === 'failed' ? down.failure : down.outcome).toBe('succeeded');
  expect(versions(down)).toEqual(['down:20240104000000', 'down:20240103000000', 'down:20240102000000']);
  expect(await indexes(db)).not.toContain('users_email_idx');
  expect(await tables(db)).toEqual(['schema_migrations', 'users']);

  // The same down section without transaction:false runs in a transaction, which PostgreSQL refuses.
  await runSuite(db, 'dbmate', suite);
  const inTx = { ...suite, '20240104000000_email_idx.sql': (suite['20240104000000_email_idx.sql'] as string).replace('-- migrate:down transaction:false', '-- migrate:down') };
  const refused = await runSuite(db, 'dbmate', inTx, { targetVersion: '20240103000000', allowDown: true });
  expect(refused.outcome === 'failed' && refused.failure).toMatchObject({ version: '20240104000000', direction: 'down', code: '25001' });
});
