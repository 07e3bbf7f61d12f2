// Pure pieces of the RLS sync: the desired policy set, the fail-closed predicate and the diff against
// a relation as the catalog query returns it.
import type { TenantRelation } from '../../src/postgres/tenancy/catalog.js';
import { desiredPolicies, policyComment, tenantPredicate, type TenancyRules } from '../../src/postgres/tenancy/policies.js';
import { diffRelation, planTenancy } from '../../src/postgres/tenancy/rls.js';

const rules: TenancyRules = { roles: { owner: 'o', application: 'app', admin: 'adm', analytics: 'ro' }, tenantColumn: 'tenant_id', tenantSetting: 'app.current_tenant_id' };

const rel = (over: Partial<TenantRelation> = {}): TenantRelation => ({
  root: { schema: 'public', name: 't' },
  schema: 'public',
  name: 't',
  oid: 1,
  relkind: 'r',
  isPartition: false,
  owner: 'o',
  canManage: true,
  columnType: 'text',
  rls: true,
  force: true,
  policies: [],
  bypassGrants: [],
  ...over,
});

describe('desired policies', () => {
  it('fails closed: NULLIF turns an empty setting into NULL, missing_ok an unset one', () => {
    expect(tenantPredicate('tenant_id', 'app.current_tenant_id', 'character varying(100)')).toBe(`("tenant_id" = NULLIF(current_setting('app.current_tenant_id', true), ''))`);
    expect(tenantPredicate('tenant_id', 'app.t', 'uuid')).toBe(`("tenant_id" = (NULLIF(current_setting('app.t', true), ''))::uuid)`);
  });

  it('application (permissive and restrictive), owner, admin, analytics (SELECT only)', () => {
    const ps = desiredPolicies(rules, 'text');
    expect(ps.map((p) => [p.name, p.permissive, p.command, p.role])).toEqual([
      ['tenantdb_application', true, 'ALL', 'app'],
      ['tenantdb_application_guard', false, 'ALL', 'app'],
      ['tenantdb_owner', true, 'ALL', 'o'],
      ['tenantdb_admin', true, 'ALL', 'adm'],
      ['tenantdb_analytics', true, 'SELECT', 'ro'],
    ]);
    expect(desiredPolicies({ ...rules, roles: { owner: 'o', application: 'app' } }, 'text').map((p) => p.name)).toEqual(['tenantdb_application', 'tenantdb_application_guard', 'tenantdb_owner']);
    // The fingerprint follows the spec.
    expect(desiredPolicies({ ...rules, tenantSetting: 'app.other' }, 'text')[0]!.hash).not.toBe(desiredPolicies(rules, 'text')[0]!.hash);
  });
});

describe('diffRelation', () => {
  const inShape = (): TenantRelation =>
    rel({ policies: desiredPolicies(rules, 'text').map((p) => ({ name: p.name, permissive: p.permissive, cmd: '*', roles: [p.role], comment: policyComment(p.hash, 'abc'), actual: 'abc' })) });

  it('a relation in shape needs nothing', () => {
    expect(diffRelation(inShape(), rules)).toMatchObject({ statements: [], create: [] });
  });

  it('RLS off, an edited policy, a missing one and bypassing grants become statements; foreign policies are only reported', () => {
    const r = inShape();
    r.rls = false;
    r.force = false;
    r.policies[0]!.actual = 'edited';
    r.policies.splice(1, 1);
    r.policies.push({ name: 'their_policy', permissive: true, cmd: '*', roles: ['public'], comment: null, actual: 'x' });
    r.bypassGrants = [{ grantee: 'app', privilege: 'TRUNCATE' }, { grantee: 'PUBLIC', privilege: 'REFERENCES' }, { grantee: 'app', privilege: 'TRIGGER' }];
    const d = diffRelation(r, rules);
    expect(d.statements).toEqual([
      'ALTER TABLE "public"."t" ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY',
      'DROP POLICY IF EXISTS "tenantdb_application" ON "public"."t"',
      expect.stringMatching(/^CREATE POLICY "tenantdb_application" ON "public"."t" AS PERMISSIVE FOR ALL TO "app" USING/),
      expect.stringMatching(/^CREATE POLICY "tenantdb_application_guard" ON "public"."t" AS RESTRICTIVE FOR ALL TO "app" USING/),
      'REVOKE TRUNCATE, TRIGGER ON "public"."t" FROM "app"',
      'REVOKE REFERENCES ON "public"."t" FROM PUBLIC',
    ]);
    expect(planTenancy([r], rules).foreignPolicies).toEqual([{ table: 'public.t', policy: 'their_policy', roles: ['public'], permissive: true }]);
  });

  it('its own policies no longer asked for are dropped', () => {
    const d = diffRelation(inShape(), { ...rules, roles: { owner: 'o', application: 'app', admin: 'adm' } });
    expect(d.statements).toEqual(['DROP POLICY IF EXISTS "tenantdb_analytics" ON "public"."t"']);
  });

  it('scope: missing, without the column, not manageable, owned by the application', () => {
    const plan = planTenancy(
      [rel({ name: 'gone', oid: null }), rel({ name: 'nocol', columnType: null }), rel({ name: 'theirs', canManage: false, rls: false }), rel({ name: 'apps', owner: 'app' }), rel({ name: 'ft', relkind: 'f' })],
      rules,
    );
    expect(plan.missingTables).toEqual(['public.gone']);
    expect(plan.withoutTenantColumn).toEqual(['public.nocol']);
    expect(plan.unmanageable).toEqual([expect.stringContaining('public.theirs'), expect.stringContaining('public.ft')]);
    expect(plan.ownedByRestricted).toEqual(['public.apps']);
  });
});
