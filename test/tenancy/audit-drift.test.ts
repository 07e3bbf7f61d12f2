// The isolation audit finds the holes RLS leaves open (each shown to leak first), and drift is repaired:
// a dropped or edited policy, RLS switched off on a partition, a new table in a tenancy schema. A
// converged sync runs no DDL (counted by an event trigger).
import type pg from 'pg';
import { ident } from '../../src/postgres/ident.js';
import { auditIsolation } from '../../src/postgres/tenancy/audit.js';
import { syncTenancy, type TenancyInput } from '../../src/postgres/tenancy/rls.js';
import { COMPLIANCE_TABLES, createFixture, installDdlCounter, type TenancyFixture } from './fixture.js';

let fx: TenancyFixture;
let su: pg.Client;
let input: TenancyInput;

async function asOwner(sql: string): Promise<void> {
  await su.query(`SET ROLE ${ident(fx.roles.owner)}`);
  try {
    await su.query(sql);
  } finally {
    await su.query('RESET ROLE');
  }
}

beforeAll(async () => {
  fx = await createFixture('audit');
  su = await fx.admin();
  await asOwner(`CREATE TABLE storage_records_p20260101 PARTITION OF storage_records FOR VALUES FROM ('2026-01-01 00:00:00+00') TO ('2026-02-01 00:00:00+00');
                 CREATE TABLE lookup_codes (code text PRIMARY KEY);
                 CREATE SCHEMA tenant_data`);
  await su.query(`INSERT INTO tenant_configs (tenant_id) VALUES ('tenant-a'), ('tenant-b')`);
  input = {
    roles: fx.roles,
    tenantColumn: 'tenant_id',
    tenantSetting: 'app.current_tenant_id',
    tables: [...COMPLIANCE_TABLES.map((name) => ({ schema: 'public', name })), { schema: 'public', name: 'lookup_codes' }, { schema: 'public', name: 'not_there_yet' }],
    schemas: ['tenant_data'],
  };
});

afterAll(async () => {
  await su?.end();
  await fx?.drop();
});

describe('scope', () => {
  it('reports a listed table without the tenant column and a listed table that does not exist, and guesses nothing', async () => {
    const r = await syncTenancy(su, input);
    expect(r.plan.withoutTenantColumn).toEqual(['public.lookup_codes']);
    expect(r.plan.missingTables).toEqual(['public.not_there_yet']);
    const rls = await su.query<{ relrowsecurity: boolean }>(`SELECT relrowsecurity FROM pg_class WHERE oid = 'lookup_codes'::regclass`);
    expect(rls.rows[0]?.relrowsecurity).toBe(false);
  });
});

describe('isolation audit', () => {
  it('finds a security-definer view and function (both shown to leak), a readable materialized view, a foreign key without the tenant column and a LEAKPROOF function', async () => {
    const app = ident(fx.roles.application);
    await asOwner(`CREATE VIEW public.all_configs AS SELECT * FROM tenant_configs;
                   GRANT SELECT ON public.all_configs TO ${app};
                   CREATE VIEW public.safe_configs WITH (security_invoker = on) AS SELECT * FROM tenant_configs;
                   CREATE FUNCTION public.config_of(t text) RETURNS SETOF tenant_configs LANGUAGE sql SECURITY DEFINER AS 'SELECT * FROM tenant_configs WHERE tenant_id = t';
                   GRANT SELECT ON tenant_performance_summary TO ${app};
                   CREATE TABLE public.record_links (id int PRIMARY KEY, record_id uuid REFERENCES audit_trail (id));`);
    await su.query(`CREATE FUNCTION public.eq_leaky(a text, b text) RETURNS boolean LANGUAGE sql IMMUTABLE LEAKPROOF AS 'SELECT a = b'`);
    // The holes are real: tenant A reads tenant B's configuration through both.
    const c = await fx.as('application');
    try {
      await c.query(`SET app.current_tenant_id = 'tenant-a'`);
      expect((await c.query(`SELECT tenant_id FROM tenant_configs`)).rows).toEqual([{ tenant_id: 'tenant-a' }]);
      expect((await c.query(`SELECT tenant_id FROM public.all_configs ORDER BY 1`)).rows).toEqual([{ tenant_id: 'tenant-a' }, { tenant_id: 'tenant-b' }]);
      expect((await c.query(`SELECT tenant_id FROM public.config_of('tenant-b')`)).rows).toEqual([{ tenant_id: 'tenant-b' }]);
    } finally {
      await c.end();
    }
    const r = await syncTenancy(su, input);
    const findings = await auditIsolation(su, { tenantOids: r.plan.oids, tenantColumn: 'tenant_id', roles: fx.roles, ownedByRestricted: r.plan.ownedByRestricted });
    const by = (kind: string) => findings.filter((f) => f.kind === kind).map((f) => f.object);
    expect(by('ViewWithoutSecurityInvoker')).toEqual(['public.all_configs']);
    expect(by('SecurityDefinerFunction')).toEqual(['config_of(text)']);
    expect(by('MaterializedViewReadable')).toEqual(['public.tenant_performance_summary']);
    expect(by('ForeignKeyWithoutTenantColumn')).toEqual(['record_links_record_id_fkey on record_links']);
    expect(by('LeakproofFunction')).toEqual(['eq_leaky(text,text)']);
    for (const f of findings) expect(f.fix.length).toBeGreaterThan(20);
  });

  it('finds an application role that can become a role seeing every row', async () => {
    await su.query(`GRANT ${ident(fx.roles.admin)} TO ${ident(fx.roles.application)}`);
    try {
      const r = await syncTenancy(su, input);
      const findings = await auditIsolation(su, { tenantOids: r.plan.oids, tenantColumn: 'tenant_id', roles: fx.roles });
      expect(findings.filter((f) => f.kind === 'RoleMembershipBypass').map((f) => f.fix)).toEqual([expect.stringContaining(`member of ${fx.roles.admin}`)]);
    } finally {
      await su.query(`REVOKE ${ident(fx.roles.admin)} FROM ${ident(fx.roles.application)}`);
    }
  });
});

describe('drift', () => {
  it('repairs a dropped policy, an edited policy, RLS disabled on a partition, and covers a new table in a tenancy schema; then runs no DDL', async () => {
    await syncTenancy(su, input);
    await asOwner(`DROP POLICY tenantdb_application ON tenant_configs;
                   ALTER POLICY tenantdb_application_guard ON audit_trail USING (true);
                   ALTER TABLE storage_records_p20260101 DISABLE ROW LEVEL SECURITY;
                   ALTER TABLE storage_records_p20260101 NO FORCE ROW LEVEL SECURITY;
                   CREATE TABLE tenant_data.notes (id serial PRIMARY KEY, tenant_id text NOT NULL, body text);
                   CREATE TABLE tenant_data.countries (code text PRIMARY KEY)`);
    const r = await syncTenancy(su, input);
    expect(r.plan.changes.map((c) => `${c.schema}.${c.name}`).sort()).toEqual(['public.audit_trail', 'public.storage_records_p20260101', 'public.tenant_configs', 'tenant_data.notes']);
    expect(r.plan.coveredTables).toContain('tenant_data.notes');
    expect(r.plan.coveredTables).not.toContain('tenant_data.countries');
    const state = await su.query<{ rel: string; rls: boolean; force: boolean; policies: string[] }>(
      `SELECT c.oid::regclass::text AS rel, c.relrowsecurity AS rls, c.relforcerowsecurity AS force,
              ARRAY(SELECT polname::text FROM pg_policy WHERE polrelid = c.oid AND polname LIKE 'tenantdb%' ORDER BY 1) AS policies
         FROM pg_class c WHERE c.oid IN ('tenant_configs'::regclass, 'audit_trail'::regclass, 'storage_records_p20260101'::regclass, 'tenant_data.notes'::regclass) ORDER BY 1`,
    );
    const five = ['tenantdb_admin', 'tenantdb_analytics', 'tenantdb_application', 'tenantdb_application_guard', 'tenantdb_owner'];
    for (const s of state.rows) expect(s).toEqual({ rel: s.rel, rls: true, force: true, policies: five });
    const guard = await su.query<{ q: string }>(`SELECT pg_get_expr(polqual, polrelid) AS q FROM pg_policy WHERE polrelid = 'audit_trail'::regclass AND polname = 'tenantdb_application_guard'`);
    expect(guard.rows[0]!.q).toMatch(/current_setting/);

    const counter = await installDdlCounter(su);
    await counter.reset();
    const again = await syncTenancy(su, input);
    expect(again.apply.ddl).toBe(0);
    expect(await counter.count()).toBe(0);
    await su.query('DROP EVENT TRIGGER _ddl_count');
  });

  it('replaces its policies when the spec changes (a role removed) and leaves foreign policies alone', async () => {
    const before = await su.query(`SELECT polname FROM pg_policy WHERE polrelid = 'audit_trail'::regclass AND polname NOT LIKE 'tenantdb%' ORDER BY 1`);
    const r = await syncTenancy(su, { ...input, roles: { ...fx.roles, analytics: undefined } });
    expect(r.apply.ddl).toBeGreaterThan(0);
    const left = await su.query<{ polname: string }>(`SELECT polname FROM pg_policy WHERE polrelid = 'audit_trail'::regclass AND polname = 'tenantdb_analytics'`);
    expect(left.rowCount).toBe(0);
    expect((await su.query(`SELECT polname FROM pg_policy WHERE polrelid = 'audit_trail'::regclass AND polname NOT LIKE 'tenantdb%' ORDER BY 1`)).rows).toEqual(before.rows);
    expect(r.plan.foreignPolicies.filter((p) => p.table === 'public.audit_trail').map((p) => p.policy).sort()).toEqual(['admin_bypass', 'analytics_read_only', 'tenant_isolation']);
  });
});

describe('locks', () => {
  it('a table held by a long transaction is left for the next sync; the others in its batch are done', async () => {
    await syncTenancy(su, input); // converge after the spec change above
    await asOwner(`CREATE TABLE tenant_data.held (tenant_id text NOT NULL); CREATE TABLE tenant_data.free (tenant_id text NOT NULL)`);
    const holder = await fx.admin();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT * FROM tenant_data.held');
      const r = await syncTenancy(su, input, { lockTimeoutMs: 100, attempts: 2 });
      expect(r.apply.busy).toEqual(['tenant_data.held']);
      expect(r.apply.changed).toEqual(['tenant_data.free']);
      await holder.query('COMMIT');
      const again = await syncTenancy(su, input, { lockTimeoutMs: 100, attempts: 2 });
      expect(again.apply.changed).toEqual(['tenant_data.held']);
    } finally {
      await holder.end();
    }
  });
});

describe('tenant columns of other types', () => {
  it('a uuid tenant column compares with the setting cast to uuid, and an unset, empty or malformed setting fails closed', async () => {
    await asOwner(`CREATE TABLE tenant_data.by_uuid (id int PRIMARY KEY, tenant_id uuid NOT NULL);
                   GRANT USAGE ON SCHEMA tenant_data TO ${ident(fx.roles.application)};
                   GRANT SELECT, INSERT ON tenant_data.by_uuid TO ${ident(fx.roles.application)}`);
    await su.query(`INSERT INTO tenant_data.by_uuid VALUES (1, '00000000-0000-0000-0000-00000000000a'), (2, '00000000-0000-0000-0000-00000000000b')`);
    await syncTenancy(su, input);
    const c = await fx.as('application');
    try {
      expect((await c.query('SELECT id FROM tenant_data.by_uuid')).rows).toEqual([]);
      await c.query(`SET app.current_tenant_id = ''`);
      expect((await c.query('SELECT id FROM tenant_data.by_uuid')).rows).toEqual([]);
      await c.query(`SET app.current_tenant_id = '00000000-0000-0000-0000-00000000000a'`);
      expect((await c.query('SELECT id FROM tenant_data.by_uuid')).rows).toEqual([{ id: 1 }]);
      await c.query(`SET app.current_tenant_id = 'not-a-uuid'`);
      await expect(c.query('SELECT id FROM tenant_data.by_uuid')).rejects.toThrow(/invalid input syntax for type uuid/);
    } finally {
      await c.end();
    }
  });
});

describe('in the transaction that creates a table', () => {
  it('syncTenancyInTransaction isolates a new table in the same commit that makes it visible', async () => {
    const { syncTenancyInTransaction } = await import('../../src/postgres/tenancy/rls.js');
    await su.query('BEGIN');
    await su.query(`SET LOCAL ROLE ${ident(fx.roles.owner)}`);
    await su.query(`CREATE TABLE tenant_data.from_migration (tenant_id text NOT NULL, v int)`);
    const r = await syncTenancyInTransaction(su, input);
    expect(r.apply.changed).toEqual(['tenant_data.from_migration']);
    await su.query('COMMIT');
    const row = await su.query<{ relrowsecurity: boolean; relforcerowsecurity: boolean; n: string }>(
      `SELECT relrowsecurity, relforcerowsecurity, (SELECT count(*) FROM pg_policy WHERE polrelid = c.oid) AS n FROM pg_class c WHERE c.oid = 'tenant_data.from_migration'::regclass`,
    );
    expect(row.rows[0]).toEqual({ relrowsecurity: true, relforcerowsecurity: true, n: '5' });
  });
});
