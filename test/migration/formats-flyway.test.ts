// A Flyway suite against real PostgreSQL: taken over from flyway_schema_history (checksums compared
// with Flyway's CRC32), versions with dots and underscores, an empty script, CREATE INDEX CONCURRENTLY
// outside a transaction as Flyway's PostgreSQL parser would, undo scripts (U) with their own
// executeInTransaction=false, a repeatable (R__) re-applied after the versioned steps when its checksum
// changes. A checksum that differs, and a failed entry, stall.
import { flywayChecksum } from '../../src/migrations/formats/index.js';
import { cleanUp, freshDatabase, history, indexes, runSuite, snapshot, tables, versions } from './formats-fixture.js';
import type { TestDatabase } from './pg.js';

afterAll(cleanUp);

const suite: Record<string, string> = {
  'V1__init.sql': 'CREATE TABLE users (id bigint PRIMARY KEY);\n',
  'V1_1__add_email.sql': 'ALTER TABLE users ADD COLUMN email text;\n',
  'V2__nothing.sql': '',
  'U2__nothing.sql': '',
  'V3__upgrade_channels_v6.0.sql': 'CREATE TABLE channels (id bigint);\n',
  'U3__upgrade_channels_v6.0.sql': 'DROP TABLE channels;\n',
  'V4__email_idx.sql': 'CREATE INDEX CONCURRENTLY users_email_idx ON users (email);\n',
  'U4__email_idx.sql': 'DROP INDEX CONCURRENTLY users_email_idx;\n',
  'U4__email_idx.sql.conf': 'executeInTransaction=false\n',
  'R__views.sql': 'CREATE OR REPLACE VIEW user_emails AS SELECT email FROM users;\n',
};

const FLYWAY_TABLE = `CREATE TABLE flyway_schema_history (
  installed_rank integer NOT NULL PRIMARY KEY, version varchar(50), description varchar(200) NOT NULL, type varchar(20) NOT NULL,
  script varchar(1000) NOT NULL, checksum integer, installed_by varchar(100) NOT NULL, installed_on timestamp NOT NULL DEFAULT now(),
  execution_time integer NOT NULL, success boolean NOT NULL)`;

async function flywayRan(db: TestDatabase, rows: Array<[string | null, string, string, string, number | null, boolean]>): Promise<void> {
  await db.sql(FLYWAY_TABLE);
  let rank = 1;
  for (const [version, description, type, script, checksum, success] of rows) {
    await db.sql(`INSERT INTO flyway_schema_history VALUES ($1, $2, $3, $4, $5, $6, 'flyway', now(), 5, $7)`, [rank++, version, description, type, script, checksum, success]);
  }
  await db.sql(`GRANT SELECT ON flyway_schema_history TO ${db.owner}`);
}

test('adopts flyway_schema_history with its checksums, applies the rest and the repeatable, undoes honouring the undo script configuration', async () => {
  const db = await freshDatabase('ffw');
  await db.sql(`CREATE TABLE users (id bigint PRIMARY KEY, email text); ALTER TABLE users OWNER TO ${db.owner};
    CREATE VIEW user_emails AS SELECT email FROM users WHERE id < 0; ALTER VIEW user_emails OWNER TO ${db.owner}`);
  await flywayRan(db, [
    [null, '<< Flyway Schema Creation >>', 'SCHEMA', '"public"', null, true],
    ['1', 'init', 'SQL', 'V1__init.sql', flywayChecksum(suite['V1__init.sql'] as string), true],
    ['1.1', 'add email', 'SQL', 'V1_1__add_email.sql', flywayChecksum(suite['V1_1__add_email.sql'] as string), true],
    [null, 'views', 'SQL', 'R__views.sql', flywayChecksum('CREATE VIEW user_emails AS SELECT email FROM users WHERE id < 0;'), true],
  ]);
  const before = await snapshot(db, 'public.flyway_schema_history');

  // A script edited since Flyway applied it is caught by Flyway's own checksum.
  const edited = await runSuite(db, 'flyway', { ...suite, 'V1__init.sql': 'CREATE TABLE users (id int PRIMARY KEY);\n' }, {}, { tool: 'flyway' });
  expect(edited.outcome === 'stalled' && [edited.reason, edited.message]).toEqual(['ChecksumMismatch', expect.stringContaining('step 1 differs from the script flyway applied')]);

  const up = await runSuite(db, 'flyway', suite, {}, { tool: 'flyway' });
  expect(up.outcome === 'failed' ? up.failure : up.outcome).toBe('succeeded');
  // The repeatable changed since Flyway ran it: applied again, after the versioned steps.
  expect(versions(up)).toEqual(['up:2', 'up:3', 'up:4', 'up:R__views']);
  expect(await indexes(db)).toContain('users_email_idx');
  expect((await db.sql<{ d: string }>(`SELECT pg_get_viewdef('user_emails') AS d`))[0]?.d).not.toMatch(/< 0/);
  expect((await history(db)).map((r) => [r.version, r.type, r.applied_by.startsWith('adopted from flyway public.flyway_schema_history')])).toEqual([
    ['1', 'up', true],
    ['1.1', 'up', true],
    ['2', 'up', false],
    ['3', 'up', false],
    ['4', 'up', false],
    ['R__views', 'repeatable', false],
  ]);
  expect(await snapshot(db, 'public.flyway_schema_history')).toEqual(before);

  // Converged: nothing runs again, the repeatable included.
  expect(versions(await runSuite(db, 'flyway', suite, {}, { tool: 'flyway' }))).toEqual([]);

  // Undo down to 1.1: U4 runs outside a transaction (its .conf), U2 is empty, U3 drops the table.
  const down = await runSuite(db, 'flyway', suite, { targetVersion: '1.1', allowDown: true }, { tool: 'flyway' });
  expect(down.outcome === 'failed' ? down.failure : down.outcome).toBe('succeeded');
  expect(versions(down)).toEqual(['down:4', 'down:3', 'down:2']);
  expect(await indexes(db)).not.toContain('users_email_idx');
  expect(await tables(db)).toEqual(['flyway_schema_history', 'users']);
  // Without its configuration the undo would run in a transaction, which PostgreSQL refuses for it.
  const { 'U4__email_idx.sql.conf': _conf, ...noConf } = suite;
  expect(versions(await runSuite(db, 'flyway', noConf, {}, { tool: 'flyway' }))).toEqual(['up:2', 'up:3', 'up:4']);
  const inTx = await runSuite(db, 'flyway', { ...noConf, 'U4__email_idx.sql.conf': 'executeInTransaction=true' }, { targetVersion: '3', allowDown: true });
  expect(inTx.outcome === 'failed' && inTx.failure).toMatchObject({ version: '4', direction: 'down', code: '25001' });
});

test('a failed Flyway entry is reported, never guessed past', async () => {
  const db = await freshDatabase('ffwf');
  await flywayRan(db, [
    ['1', 'init', 'SQL', 'V1__init.sql', flywayChecksum(suite['V1__init.sql'] as string), true],
    ['1.1', 'add email', 'SQL', 'V1_1__add_email.sql', flywayChecksum(suite['V1_1__add_email.sql'] as string), false],
  ]);
  const r = await runSuite(db, 'flyway', suite, {}, { tool: 'flyway' });
  expect(r.outcome === 'stalled' && [r.reason, r.message]).toEqual(['AdoptedHistoryDirty', expect.stringMatching(/version 1.1 \(V1_1__add_email.sql\) failed .*flyway repair/)]);
  expect(await tables(db)).toEqual(['flyway_schema_history']);
});

test('a history table made before dotted versions and repeatables gets its checks brought up to date once, its rows kept', async () => {
  const db = await freshDatabase('ffwu');
  // The table as earlier releases created it (as the administrator), with a step already recorded.
  await db.sql(`SET ROLE ${db.admin}; CREATE SCHEMA tenantdb; CREATE TABLE tenantdb.schema_migrations (
    migration text NOT NULL, version text NOT NULL CHECK (version ~ '^[0-9]{1,18}$'), name text NOT NULL, checksum text,
    type text NOT NULL CHECK (type IN ('up', 'baseline')), state text NOT NULL CHECK (state IN ('success', 'dirty')),
    started_at timestamptz NOT NULL, applied_at timestamptz, execution_ms integer, applied_by text NOT NULL, PRIMARY KEY (migration, version));
    INSERT INTO tenantdb.schema_migrations VALUES ('other/m', '7', 'seven', NULL, 'up', 'success', now(), now(), 1, 'old')`);
  const r = await runSuite(db, 'flyway', suite);
  expect(r.outcome === 'failed' ? r.failure : r.outcome).toBe('succeeded');
  expect(versions(r)).toEqual(['up:1', 'up:1.1', 'up:2', 'up:3', 'up:4', 'up:R__views']);
  const checks = await db.sql<{ n: string }>(`SELECT conname AS n FROM pg_constraint WHERE conrelid = 'tenantdb.schema_migrations'::regclass AND contype = 'c' ORDER BY 1`);
  expect(checks.map((c) => c.n)).toEqual(['schema_migrations_state_check', 'schema_migrations_type_check2', 'schema_migrations_version_check2']);
  expect(await db.sql(`SELECT version FROM tenantdb.schema_migrations WHERE migration = 'other/m'`)).toEqual([{ version: '7' }]);
  // A dotted version is still checked: the new checks hold.
  await expect(db.sql(`INSERT INTO tenantdb.schema_migrations VALUES ('x/y', '1..2', 'bad', NULL, 'up', 'success', now(), now(), 1, 't')`)).rejects.toThrow(/schema_migrations_version_check2/);
});
