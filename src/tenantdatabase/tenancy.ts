// The row-level-security input a TenantDatabase asks for: the tenancy part of its controller syncs it on
// every pass, and a Migration run syncs it inside the step that creates tables, so the two agree.
import type { TenantDatabaseSpec } from '../api/tenantdatabase.js';
import type { TenancyInput } from '../postgres/tenancy/rls.js';

export function tenancyInputOf(spec: Pick<TenantDatabaseSpec, 'tenancy' | 'roles'>): TenancyInput | undefined {
  const t = spec.tenancy;
  if (!t) return undefined;
  return {
    roles: spec.roles,
    tenantColumn: t.tenantColumn,
    tenantSetting: t.tenantSetting,
    tables: (t.tables ?? []).map((x) => ({ schema: x.schema, name: x.name })),
    // Tenancy asked for with no scope at all would otherwise isolate nothing, silently: it then means
    // every table with the tenant column in public (reported in status like any other scope).
    schemas: t.schemas?.length || t.tables?.length ? (t.schemas ?? []) : ['public'],
  };
}
