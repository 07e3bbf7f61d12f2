// Row-level security as the operator sets it up, attacked as the application role: tenant A reads and
// writes only A's rows through the parent, each partition directly, a security_invoker view, COPY TO,
// RETURNING and ON CONFLICT; an unset, NULL or empty setting sees nothing; it cannot TRUNCATE, switch RLS
// off or drop a policy; and tenant B's rows stay byte for byte the same. Real PostgreSQL throughout.
import { spawnSync } from 'node:child_process';
import type pg from 'pg';
import { ident } from '../../src/postgres/ident.js';
import { syncTenancy, type TenancyInput } from '../../src/postgres/tenancy/rls.js';
import { testEnv } from '../../dev/env/testenv.js';
import { COMPLIANCE_TABLES, clientConfig, createFixture, installDdlCounter, type TenancyFixture } from './fixture.js';

let fx: TenancyFixture;
let su: pg.Client;
let input: TenancyInput;

const A = 'tenant-a';
const B = 'tenant-b';
const hash = (i: number) => (i.toString(16).padStart(2, '0').repeat(32)).slice(0, 64);

async function seed(c: pg.Client): Promise<void> {
  for (const [t, n] of [[A, 0], [B, 50]] as const) {
    await c.query(`INSERT INTO tenant_configs (tenant_id) VALUES ($1)`, [t]);
    for (let i = 0; i < 6; i++) {
      // Spread over January, February and one parked in the default partition (2027).
      const at = ['2026-01-05T10:00:00Z', '2026-01-20T00:00:00Z', '2026-02-01T00:00:00Z', '2026-02-28T23:59:59Z', '2027-06-01T00:00:00Z', '2026-01-31T23:59:59.999Z'][i];
      await c.query(
        `INSERT INTO storage_records (tenant_id, source_data_hash, mapped_data, model_version, detector_type, recorded_at) VALUES ($1, $2, '{}', 'v1', 'pii', $3)`,
        [t, hash(n + i), at],
      );
      await c.query(`INSERT INTO audit_trail (tenant_id, table_name, record_id, operation) VALUES ($1, 'storage_records', gen_random_uuid(), 'INSERT')`, [t]);
      await c.query(`INSERT INTO model_metrics (model_version, tenant_id, metric_type, metric_value) VALUES ('v1', $1, 'latency', $2)`, [t, i]);
      await c.query(`INSERT INTO detector_executions (tenant_id, detector_type, execution_time_ms, success) VALUES ($1, 'pii', $2, true)`, [t, i]);
    }
  }
}

/** Every row of tenant B in every table, as text, read as the superuser (no RLS). */
async function snapshotB(): Promise<string> {
  const parts: string[] = [];
  for (const t of COMPLIANCE_TABLES) {
    const r = await su.query<{ s: string | null }>(`SELECT string_agg(x::text, E'\\n' ORDER BY x::text) AS s FROM ${ident(t)} x WHERE tenant_id = $1`, [B]);
    parts.push(`${t}:${r.rows[0]?.s ?? ''}`);
  }
  return parts.join('\n');
}

async function asApp(setting?: string | null): Promise<pg.Client> {
  const c = await fx.as('application');
  if (setting !== undefined && setting !== null) await c.query(`SELECT set_config('app.current_tenant_id', $1, false)`, [setting]);
  return c;
}

async function tenantsSeen(c: pg.Client, rel: string): Promise<string[]> {
  const r = await c.query<{ tenant_id: string }>(`SELECT DISTINCT tenant_id FROM ${rel} ORDER BY 1`);
  return r.rows.map((x) => x.tenant_id);
}

beforeAll(async () => {
  fx = await createFixture('rls');
  su = await fx.admin();
  await su.query(`SET ROLE ${ident(fx.roles.owner)}`);
  for (const [name, from, to] of [['storage_records_p20260101', '2026-01-01', '2026-02-01'], ['storage_records_p20260201', '2026-02-01', '2026-03-01']]) {
    await su.query(`CREATE TABLE ${ident(name!)} PARTITION OF storage_records FOR VALUES FROM ('${from} 00:00:00+00') TO ('${to} 00:00:00+00')`);
  }
  await su.query(`CREATE TABLE storage_records_default PARTITION OF storage_records DEFAULT`);
  // What default privileges of a migration typically do: the application may query partitions directly.
  await su.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON storage_records_p20260101, storage_records_p20260201, storage_records_default TO ${ident(fx.roles.application)}`);
  // A careless grant the operator must take back: TRUNCATE ignores row-level security.
  await su.query(`GRANT TRUNCATE, REFERENCES, TRIGGER ON audit_trail, storage_records_p20260101 TO ${ident(fx.roles.application)}`);
  await su.query(`CREATE VIEW records_invoker WITH (security_invoker = on) AS SELECT * FROM storage_records`);
  await su.query(`GRANT SELECT ON records_invoker TO ${ident(fx.roles.application)}`);
  await su.query('RESET ROLE');
  await seed(su);
  input = {
    roles: fx.roles,
    tenantColumn: 'tenant_id',
    tenantSetting: 'app.current_tenant_id',
    tables: COMPLIANCE_TABLES.map((name) => ({ schema: 'public', name })),
    schemas: [],
  };
});

afterAll(async () => {
  await su?.end();
  await fx?.drop();
});

describe('row-level security sync', () => {
  it('enables and forces RLS with the operator policies on every table and partition, and revokes bypassing privileges', async () => {
    const r = await syncTenancy(su, input);
    expect(r.missingRoles).toEqual([]);
    expect(r.plan.missingTables).toEqual([]);
    expect(r.plan.coveredTables.sort()).toEqual(COMPLIANCE_TABLES.map((t) => `public.${t}`).sort());
    expect(r.plan.covered).toBe(8); // five tables + three partitions
    // The example migration's own policies are left alone and reported.
    expect(r.plan.foreignPolicies.map((p) => p.policy)).toEqual(expect.arrayContaining(['tenant_isolation', 'admin_bypass', 'analytics_read_only']));
    const rels = await su.query<{ relname: string; relrowsecurity: boolean; relforcerowsecurity: boolean; n: string }>(
      `SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname LIKE 'tenantdb\\_%') AS n
         FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND c.relname <> '_ddl_log'`,
    );
    for (const row of rels.rows) {
      expect({ t: row.relname, rls: row.relrowsecurity, force: row.relforcerowsecurity, n: Number(row.n) }).toEqual({ t: row.relname, rls: true, force: true, n: 5 });
    }
    const grants = await su.query(`SELECT 1 FROM information_schema.table_privileges WHERE grantee = $1 AND privilege_type IN ('TRUNCATE', 'REFERENCES', 'TRIGGER')`, [fx.roles.application]);
    expect(grants.rowCount).toBe(0);
  });

  it('a second sync of a converged database runs no DDL', async () => {
    const counter = await installDdlCounter(su);
    await counter.reset();
    const r = await syncTenancy(su, input);
    expect(r.apply.ddl).toBe(0);
    expect(r.plan.changes).toEqual([]);
    expect(await counter.count()).toBe(0);
    await su.query('DROP EVENT TRIGGER _ddl_count');
  });
});

describe('the application role with tenant A set', () => {
  let before: string;
  let app: pg.Client;
  beforeAll(async () => {
    before = await snapshotB();
    app = await asApp(A);
  });
  afterAll(async () => {
    await app.end();
  });

  it('reads only A through every table, every partition directly and a security_invoker view', async () => {
    for (const t of COMPLIANCE_TABLES) expect(await tenantsSeen(app, ident(t))).toEqual([A]);
    for (const p of ['storage_records_p20260101', 'storage_records_p20260201', 'storage_records_default']) expect(await tenantsSeen(app, ident(p))).toEqual([A]);
    expect(await tenantsSeen(app, 'records_invoker')).toEqual([A]);
    const n = await app.query<{ n: string }>('SELECT count(*) AS n FROM storage_records');
    expect(Number(n.rows[0]!.n)).toBe(6);
    // A filter naming B finds nothing rather than B's rows.
    expect((await app.query(`SELECT * FROM storage_records_p20260101 WHERE tenant_id = $1`, [B])).rowCount).toBe(0);
  });

  it('sees no row at all with the setting unset, NULL or empty', async () => {
    const unset = await asApp(undefined);
    try {
      for (const t of [...COMPLIANCE_TABLES, 'storage_records_p20260101', 'storage_records_default']) expect(await tenantsSeen(unset, ident(t))).toEqual([]);
      await unset.query(`SET app.current_tenant_id = ''`);
      for (const t of COMPLIANCE_TABLES) expect(await tenantsSeen(unset, ident(t))).toEqual([]);
      await unset.query(`SELECT set_config('app.current_tenant_id', NULL, false)`);
      for (const t of COMPLIANCE_TABLES) expect(await tenantsSeen(unset, ident(t))).toEqual([]);
      await unset.query(`RESET app.current_tenant_id`);
      for (const t of COMPLIANCE_TABLES) expect(await tenantsSeen(unset, ident(t))).toEqual([]);
      // Writes fail closed too.
      await expect(unset.query(`INSERT INTO tenant_configs (tenant_id) VALUES ('tenant-c')`)).rejects.toThrow(/row-level security/);
    } finally {
      await unset.end();
    }
  });

  it('COPY ... TO exports only A; COPY ... FROM is refused', () => {
    const cfg = clientConfig(fx.database, fx.roles.application, fx.passwords[fx.roles.application]);
    const conninfo = `host=${cfg.host} port=${cfg.port} dbname=${fx.database} user=${cfg.user} sslmode=verify-ca sslrootcert=${testEnv().postgres.caFile}`;
    const env = { ...process.env, PGPASSWORD: String(cfg.password) };
    const out = spawnSync('psql', [conninfo, '-X', '-v', 'ON_ERROR_STOP=1', '-c', `SET app.current_tenant_id = '${A}'`, '-c', 'COPY audit_trail (tenant_id) TO STDOUT', '-c', 'COPY storage_records_p20260101 (tenant_id) TO STDOUT', '-c', 'COPY (SELECT tenant_id FROM storage_records) TO STDOUT'], { env, encoding: 'utf8' });
    expect(out.stderr).toBe('');
    const lines = out.stdout.split('\n').filter((l) => l && l !== 'SET');
    // COPY of a partitioned table itself copies only the parent's own (no) rows, hence COPY (SELECT ...).
    expect(lines.length).toBe(6 + 3 + 6);
    expect(new Set(lines)).toEqual(new Set([A]));
    const from = spawnSync('psql', [conninfo, '-X', '-v', 'ON_ERROR_STOP=1', '-c', `SET app.current_tenant_id = '${B}'`, '-c', 'COPY tenant_configs (tenant_id) FROM STDIN'], { env, encoding: 'utf8', input: 'tenant-z\n\\.\n' });
    expect(from.status).not.toBe(0);
    expect(from.stderr).toMatch(/row-level security/);
  });

  it('RETURNING shows only A rows; writes naming B are refused or touch nothing', async () => {
    const upd = await app.query<{ tenant_id: string }>(`UPDATE storage_records SET metadata = '{"touched": true}' RETURNING tenant_id`);
    expect(upd.rowCount).toBe(6);
    expect(new Set(upd.rows.map((r) => r.tenant_id))).toEqual(new Set([A]));
    expect((await app.query(`DELETE FROM audit_trail WHERE tenant_id = $1 RETURNING *`, [B])).rowCount).toBe(0);
    expect((await app.query(`UPDATE storage_records_p20260201 SET metadata = '{}' WHERE tenant_id = $1 RETURNING *`, [B])).rowCount).toBe(0);
    await expect(app.query(`INSERT INTO audit_trail (tenant_id, table_name, record_id, operation) VALUES ($1, 't', gen_random_uuid(), 'INSERT') RETURNING *`, [B])).rejects.toThrow(/row-level security/);
    await expect(app.query(`INSERT INTO storage_records_p20260101 (tenant_id, source_data_hash, mapped_data, model_version, detector_type, recorded_at) VALUES ($1, $2, '{}', 'v', 'd', '2026-01-02Z')`, [B, hash(99)])).rejects.toThrow(/row-level security/);
    // Moving an own row to B is refused by WITH CHECK.
    await expect(app.query(`UPDATE model_metrics SET tenant_id = $1 RETURNING *`, [B])).rejects.toThrow(/row-level security/);
  });

  it('ON CONFLICT cannot reach or create B rows', async () => {
    await expect(app.query(`INSERT INTO tenant_configs (tenant_id) VALUES ($1) ON CONFLICT (tenant_id) DO UPDATE SET audit_level = 'verbose' RETURNING *`, [B])).rejects.toThrow(/row-level security/);
    await expect(app.query(`INSERT INTO tenant_configs (tenant_id) VALUES ($1) ON CONFLICT DO NOTHING`, [B])).rejects.toThrow(/row-level security/);
    const own = await app.query<{ audit_level: string }>(`INSERT INTO tenant_configs (tenant_id) VALUES ($1) ON CONFLICT (tenant_id) DO UPDATE SET audit_level = 'verbose' RETURNING audit_level`, [A]);
    expect(own.rows).toEqual([{ audit_level: 'verbose' }]);
  });

  it('cannot TRUNCATE, disable or drop row-level security', async () => {
    await expect(app.query('TRUNCATE audit_trail')).rejects.toThrow(/permission denied/);
    await expect(app.query('TRUNCATE storage_records_p20260101')).rejects.toThrow(/permission denied/);
    await expect(app.query('ALTER TABLE storage_records DISABLE ROW LEVEL SECURITY')).rejects.toThrow(/must be owner/);
    await expect(app.query('ALTER TABLE storage_records_p20260101 NO FORCE ROW LEVEL SECURITY')).rejects.toThrow(/must be owner/);
    await expect(app.query('DROP POLICY tenantdb_application ON tenant_configs')).rejects.toThrow(/must be owner/);
    await expect(app.query('ALTER POLICY tenantdb_application ON tenant_configs USING (true)')).rejects.toThrow(/must be owner/);
    await expect(app.query(`SET row_security = off`).then(() => app.query('SELECT * FROM tenant_configs'))).rejects.toThrow(/row-level security/);
  });

  it("tenant B's rows are byte for byte the same", async () => {
    expect(await snapshotB()).toBe(before);
  });
});

describe('the other roles', () => {
  it('admin reads and writes all rows, analytics reads all rows, an unlisted role sees none', async () => {
    const admin = await fx.as('admin');
    const analytics = await fx.as('analytics');
    try {
      expect(await tenantsSeen(admin, 'storage_records')).toEqual([A, B]);
      expect(await tenantsSeen(analytics, 'audit_trail')).toEqual([A, B]);
      await expect(analytics.query(`UPDATE audit_trail SET user_id = 'x'`)).rejects.toThrow(/permission denied/);
      expect((await admin.query(`UPDATE audit_trail SET user_id = user_id WHERE tenant_id = $1`, [B])).rowCount).toBe(6);
    } finally {
      await admin.end();
      await analytics.end();
    }
    await su.query(`CREATE ROLE ${ident(fx.roles.owner + 'x')} LOGIN PASSWORD 'x-pass-1'`);
    try {
      await su.query(`GRANT SELECT ON tenant_configs TO ${ident(fx.roles.owner + 'x')}`);
      const other = await (await import('./fixture.js')).connect(fx.database, fx.roles.owner + 'x', 'x-pass-1');
      try {
        expect(await tenantsSeen(other, 'tenant_configs')).toEqual([]);
      } finally {
        await other.end();
      }
    } finally {
      await su.query(`REVOKE ALL ON tenant_configs FROM ${ident(fx.roles.owner + 'x')}; DROP ROLE ${ident(fx.roles.owner + 'x')}`);
    }
  });
});
