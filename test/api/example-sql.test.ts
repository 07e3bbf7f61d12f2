// The reference-schema Migration example is real SQL: applied step by step to a real PostgreSQL 17
// as the owner role (as the operator will run it), it builds the partitioned, constrained tables with
// row-level security that isolates tenants; its down steps take it all away again.
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { validateMigration, type MigrationStep } from '../../src/api/index.js';
import { testEnv } from '../../dev/env/testenv.js';
import { example } from './objects.js';

const ROLES = { owner: 'compliance_owner', app: 'compliance_app', admin: 'compliance_admin', analytics: 'compliance_analytics' };
const TABLES = ['audit_trail', 'detector_executions', 'model_metrics', 'storage_records', 'tenant_configs'];
const DB = `api_example_${randomBytes(4).toString('hex')}`;

function clientConfig(database: string): pg.ClientConfig {
  const env = testEnv().postgres;
  const url = new URL(env.url);
  return {
    host: env.host,
    port: env.port,
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    database,
    ssl: { ca: fs.readFileSync(env.caFile, 'utf8') },
  };
}

function steps(): MigrationStep[] {
  const r = validateMigration(example('migration-compliance-schema.yaml'));
  if (!r.ok) throw r.error;
  return r.value.spec.migrations ?? [];
}

async function run(c: pg.Client, step: { sql: string; transactional: boolean }): Promise<void> {
  if (!step.transactional) {
    await c.query(step.sql);
    return;
  }
  await c.query('BEGIN');
  try {
    await c.query(step.sql);
    await c.query('COMMIT');
  } catch (e) {
    await c.query('ROLLBACK');
    throw e;
  }
}

const hash = (s: string) => s.padEnd(64, '0');
let admin: pg.Client;
let db: pg.Client;

beforeAll(async () => {
  admin = new pg.Client(clientConfig('postgres'));
  await admin.connect();
  for (const role of Object.values(ROLES)) {
    // Roles are cluster-wide and other test files may use the example too: create only if missing.
    try {
      await admin.query(`CREATE ROLE ${role} NOLOGIN`);
    } catch (e) {
      if ((e as { code?: string }).code !== '42710') throw e;
    }
  }
  await admin.query(`CREATE DATABASE ${DB} OWNER ${ROLES.owner}`);
  db = new pg.Client(clientConfig(DB));
  await db.connect();
});

afterAll(async () => {
  await db?.end();
  await admin?.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
  await admin?.end();
});

describe('the compliance-schema Migration example on PostgreSQL 17', () => {
  it('applies every up step as the owner role', async () => {
    await db.query(`SET ROLE ${ROLES.owner}`);
    for (const s of steps()) await run(db, { sql: s.up, transactional: s.transactional });

    const tables = await db.query<{ relname: string; relkind: string; relrowsecurity: boolean; owner: string }>(
      `SELECT c.relname, c.relkind, c.relrowsecurity, pg_get_userbyid(c.relowner) AS owner
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY c.relname`,
    );
    expect(tables.rows).toEqual(
      TABLES.map((t) => ({ relname: t, relkind: t === 'storage_records' ? 'p' : 'r', relrowsecurity: true, owner: ROLES.owner })),
    );
    const idx = await db.query(`SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND indexname = 'idx_audit_trail_correlation'`);
    expect(idx.rowCount).toBe(1);
  });

  it('enforces the CHECK constraints', async () => {
    // The operator keeps the partitions; here one DEFAULT partition stands in for them.
    await db.query('CREATE TABLE storage_records_default PARTITION OF storage_records DEFAULT');
    await db.query(`SET ROLE ${ROLES.admin}`);
    const insert = (tenant: string, score: number | null, hashValue = hash('ab')) =>
      db.query(
        `INSERT INTO storage_records (tenant_id, source_data_hash, mapped_data, model_version, detector_type, confidence_score)
         VALUES ($1, $2, '{}', 'v1', 'pii', $3)`,
        [tenant, hashValue, score],
      );
    await expect(insert('t1', 1.5)).rejects.toMatchObject({ code: '23514' });
    await expect(insert('', 0.5)).rejects.toMatchObject({ code: '23514' });
    await expect(insert('t1', 0.5, 'not-a-sha256')).rejects.toMatchObject({ code: '23514' });
    await expect(
      db.query(`INSERT INTO tenant_configs (tenant_id, audit_level) VALUES ('t1', 'everything')`),
    ).rejects.toMatchObject({ code: '23514' });
    await insert('t1', 0.9);
    await insert('t2', 0.4);
    await db.query(`INSERT INTO tenant_configs (tenant_id) VALUES ('t1'), ('t2')`);
  });

  it('isolates tenants for the application role, bypasses for admin, reads only for analytics', async () => {
    await db.query(`SET ROLE ${ROLES.app}`);
    // No tenant set: current_setting(..., true) is NULL and nothing is visible.
    expect((await db.query('SELECT count(*)::int AS n FROM storage_records')).rows[0]).toEqual({ n: 0 });
    await db.query(`SET app.current_tenant_id = 't1'`);
    expect((await db.query('SELECT tenant_id FROM storage_records')).rows).toEqual([{ tenant_id: 't1' }]);
    expect((await db.query('SELECT tenant_id FROM tenant_configs')).rows).toEqual([{ tenant_id: 't1' }]);
    await expect(
      db.query(
        `INSERT INTO storage_records (tenant_id, source_data_hash, mapped_data, model_version, detector_type) VALUES ('t2', $1, '{}', 'v1', 'pii')`,
        [hash('cd')],
      ),
    ).rejects.toMatchObject({ code: '42501' });
    await db.query('RESET app.current_tenant_id');

    await db.query(`SET ROLE ${ROLES.admin}`);
    expect((await db.query('SELECT tenant_id FROM storage_records ORDER BY tenant_id')).rows).toEqual([{ tenant_id: 't1' }, { tenant_id: 't2' }]);

    await db.query(`SET ROLE ${ROLES.analytics}`);
    expect((await db.query('SELECT count(*)::int AS n FROM storage_records')).rows[0]).toEqual({ n: 2 });
    await expect(db.query(`DELETE FROM tenant_configs`)).rejects.toMatchObject({ code: '42501' });

    await db.query(`SET ROLE ${ROLES.owner}`);
    await db.query('REFRESH MATERIALIZED VIEW tenant_performance_summary');
    await db.query(`SET ROLE ${ROLES.analytics}`);
    const summary = await db.query('SELECT tenant_id, total_requests::int AS n FROM tenant_performance_summary ORDER BY tenant_id');
    expect(summary.rows).toEqual([
      { tenant_id: 't1', n: 1 },
      { tenant_id: 't2', n: 1 },
    ]);
    await db.query(`SET ROLE ${ROLES.app}`);
    await expect(db.query('SELECT * FROM tenant_performance_summary')).rejects.toMatchObject({ code: '42501' });
  });

  it('reverts every step with its down script, newest first', async () => {
    await db.query(`SET ROLE ${ROLES.owner}`);
    for (const s of [...steps()].reverse()) {
      expect([s.version, s.down === undefined]).toEqual([s.version, false]);
      await run(db, { sql: s.down ?? '', transactional: s.transactional });
    }
    const left = await db.query(`SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'`);
    expect(left.rows).toEqual([]);
    const acl = await db.query<{ acl: string }>(`SELECT coalesce(nspacl::text, '') AS acl FROM pg_namespace WHERE nspname = 'public'`);
    for (const role of [ROLES.app, ROLES.admin, ROLES.analytics]) expect(acl.rows[0]?.acl).not.toContain(role);
  });
});
