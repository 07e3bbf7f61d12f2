// An Atlas suite against real PostgreSQL: atlas.sum verified, taken over from
// atlas_schema_revisions (hashes compared with atlas.sum's), `-- atlas:txmode none` honoured, a dotted
// name; Atlas keeps no down scripts, so going down is refused before anything runs. A revision that
// stopped part-way stalls.
import { atlasHashes } from '../../src/migrations/formats/index.js';
import { cleanUp, freshDatabase, history, indexes, runSuite, snapshot, tables, versions } from './formats-fixture.js';
import type { TestDatabase } from './pg.js';

afterAll(cleanUp);

const files: Record<string, string> = {
  '20240101000000_create_users.sql': 'CREATE TABLE users (id bigint PRIMARY KEY, email text);\n',
  '20240102000000_upgrade_channels_v6.0.sql': 'CREATE TABLE channels (id bigint);\n',
  '20240103000000_email_idx.sql': '-- atlas:txmode none\n\nCREATE INDEX CONCURRENTLY users_email_idx ON users (email);\n',
};
const hashes = atlasHashes(Object.keys(files).sort().map((name) => ({ name, text: files[name] as string })));
const suite = { ...files, 'atlas.sum': [`h1:${hashes.sum}`, ...[...hashes.hashes].map(([n, h]) => `${n} h1:${h}`)].join('\n') + '\n' };

const REVISIONS = `CREATE SCHEMA atlas_schema_revisions; CREATE TABLE atlas_schema_revisions.atlas_schema_revisions (
  version varchar NOT NULL PRIMARY KEY, description varchar NOT NULL, type bigint NOT NULL DEFAULT 2, applied bigint NOT NULL DEFAULT 0,
  total bigint NOT NULL DEFAULT 0, executed_at timestamptz NOT NULL, execution_time bigint NOT NULL, error text NULL, error_stmt text NULL,
  hash varchar NOT NULL, partial_hashes jsonb NULL, operator_version varchar NOT NULL)`;

async function atlasRan(db: TestDatabase, rows: Array<[string, string, number, number, number, string | null, string]>): Promise<void> {
  await db.sql(REVISIONS);
  for (const [version, description, type, applied, total, error, hash] of rows) {
    await db.sql(`INSERT INTO atlas_schema_revisions.atlas_schema_revisions VALUES ($1, $2, $3, $4, $5, now(), 1, $6, NULL, $7, NULL, 'Atlas CLI v0.x')`, [version, description, type, applied, total, error, hash]);
  }
  await db.sql(`GRANT USAGE ON SCHEMA atlas_schema_revisions TO ${db.owner}; GRANT SELECT ON atlas_schema_revisions.atlas_schema_revisions TO ${db.owner}`);
}

test('verifies atlas.sum, adopts atlas_schema_revisions by hash, applies the rest honouring txmode none; no down scripts', async () => {
  const db = await freshDatabase('fat');
  await db.sql(`CREATE TABLE users (id bigint PRIMARY KEY, email text); ALTER TABLE users OWNER TO ${db.owner}`);
  await atlasRan(db, [['20240101000000', 'create_users', 2, 1, 1, null, hashes.hashes.get('20240101000000_create_users.sql') as string]]);
  const before = await snapshot(db, 'atlas_schema_revisions.atlas_schema_revisions');

  const up = await runSuite(db, 'atlas', suite, {}, { tool: 'atlas' });
  expect(up.outcome === 'failed' ? up.failure : up.outcome).toBe('succeeded');
  expect(versions(up)).toEqual(['up:20240102000000', 'up:20240103000000']);
  expect(await indexes(db)).toContain('users_email_idx');
  expect((await history(db)).map((r) => [r.version, r.name, r.applied_by.startsWith('adopted from atlas atlas_schema_revisions.atlas_schema_revisions')])).toEqual([
    ['20240101000000', 'create_users', true],
    ['20240102000000', 'upgrade_channels_v6.0', false],
    ['20240103000000', 'email_idx', false],
  ]);
  expect(await snapshot(db, 'atlas_schema_revisions.atlas_schema_revisions')).toEqual(before);
  const down = await runSuite(db, 'atlas', suite, { targetVersion: '20240101000000', allowDown: true });
  expect(down.outcome === 'stalled' && down.reason).toBe('MissingDownScript');
  expect(await tables(db)).toEqual(['channels', 'users']);
});

test('a hash that differs from atlas.sum, or a revision that stopped part-way, stalls', async () => {
  const db = await freshDatabase('fatd');
  await atlasRan(db, [['20240101000000', 'create_users', 2, 1, 1, null, 'not-the-hash']]);
  const mismatch = await runSuite(db, 'atlas', suite, {}, { tool: 'atlas' });
  expect(mismatch.outcome === 'stalled' && mismatch.reason).toBe('ChecksumMismatch');
  const partial = await freshDatabase('fatp');
  await atlasRan(partial, [['20240101000000', 'create_users', 2, 0, 1, 'relation "users" already exists', hashes.hashes.get('20240101000000_create_users.sql') as string]]);
  const r = await runSuite(partial, 'atlas', suite, {}, { tool: 'atlas' });
  expect(r.outcome === 'stalled' && [r.reason, r.message]).toEqual(['AdoptedHistoryDirty', expect.stringMatching(/20240101000000 stopped part-way \(0 of 1 statements: relation "users" already exists\).*atlas migrate set/)]);
  expect(await tables(partial)).toEqual([]);
});
