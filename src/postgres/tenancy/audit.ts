// The isolation audit: ways tenant data leaks around row-level security that RLS does not close by
// itself, found from the catalogs. Each finding names the object and the fix; the operator rewrites no
// user object. Read-only: catalog queries with bind parameters.
import type { ClientBase } from 'pg';
import type { TenancyRoles } from './policies.js';

export type FindingKind =
  | 'ViewWithoutSecurityInvoker'
  | 'SecurityDefinerFunction'
  | 'MaterializedViewReadable'
  | 'ForeignKeyWithoutTenantColumn'
  | 'LeakproofFunction'
  | 'RoleBypassesRowSecurity'
  | 'RoleMembershipBypass'
  | 'TableOwnedByRestrictedRole';

export interface Finding {
  kind: FindingKind;
  /** The object, quoted as SQL would name it. */
  object: string;
  fix: string;
}

export interface AuditInput {
  /** oids of every tenant relation (tables and partitions). */
  tenantOids: number[];
  tenantColumn: string;
  roles: TenancyRoles;
  /** Tenant tables owned by the application or analytics role (from the sync's catalog read). */
  ownedByRestricted?: string[];
}

// Views and materialized views over tenant tables, through any depth of views.
const VIEWS_SQL = `
WITH RECURSIVE deps AS (
  SELECT DISTINCT rw.ev_class AS oid
    FROM pg_depend dp JOIN pg_rewrite rw ON rw.oid = dp.objid
   WHERE dp.classid = 'pg_rewrite'::regclass AND dp.refclassid = 'pg_class'::regclass
     AND dp.refobjid = ANY($1::oid[]) AND rw.ev_class <> dp.refobjid
  UNION
  SELECT rw.ev_class
    FROM deps d JOIN pg_depend dp ON dp.refobjid = d.oid AND dp.refclassid = 'pg_class'::regclass AND dp.classid = 'pg_rewrite'::regclass
    JOIN pg_rewrite rw ON rw.oid = dp.objid
   WHERE rw.ev_class <> d.oid
)
SELECT format('%I.%I', n.nspname, c.relname) AS object, c.relkind::text AS relkind, pg_get_userbyid(c.relowner) AS owner,
       coalesce((SELECT lower(option_value) IN ('on', 'true', '1', 'yes') FROM pg_options_to_table(c.reloptions) WHERE option_name = 'security_invoker'), false) AS invoker,
       CASE WHEN r.oid IS NULL THEN false ELSE has_table_privilege(r.oid, c.oid, 'SELECT') END AS app_reads
  FROM deps d JOIN pg_class c ON c.oid = d.oid JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_roles r ON r.rolname = $2
 WHERE c.relkind IN ('v', 'm')
 ORDER BY 1`;

// SECURITY DEFINER functions the application may call, owned by a role that sees every row.
const DEFINER_SQL = `
WITH wide AS (SELECT oid FROM pg_roles WHERE rolname = ANY($2::text[]))
SELECT p.oid::regprocedure::text AS object, pg_get_userbyid(p.proowner) AS owner
  FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace
  JOIN pg_roles o ON o.oid = p.proowner
  JOIN pg_roles app ON app.rolname = $1
 WHERE p.prosecdef
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype)
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
   AND has_function_privilege(app.oid, p.oid, 'EXECUTE')
   AND (o.rolsuper OR o.rolbypassrls
        OR EXISTS (SELECT 1 FROM wide w WHERE pg_has_role(p.proowner, w.oid, 'USAGE'))
        OR EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = ANY($3::oid[]) AND c.relowner = p.proowner))
 ORDER BY 1`;

const FOREIGN_KEYS_SQL = `
SELECT format('%s on %s', quote_ident(con.conname), con.conrelid::regclass::text) AS object, con.confrelid::regclass::text AS referenced
  FROM pg_constraint con
 WHERE con.contype = 'f' AND con.conparentid = 0 AND con.confrelid = ANY($1::oid[])
   AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = con.confrelid AND a.attname = $2 AND a.attnum = ANY(con.confkey))
 ORDER BY 1`;

const LEAKPROOF_SQL = `
SELECT p.oid::regprocedure::text AS object FROM pg_proc p WHERE p.proleakproof AND p.oid >= 16384 ORDER BY 1`;

const ROLES_SQL = `
SELECT r.rolname, r.rolsuper, r.rolbypassrls,
       ARRAY(SELECT w.rolname::text FROM pg_roles w WHERE w.rolname = ANY($2::text[]) AND w.oid <> r.oid AND pg_has_role(r.oid, w.oid, 'MEMBER') ORDER BY 1) AS member_of
  FROM pg_roles r WHERE r.rolname = ANY($1::text[]) ORDER BY 1`;

export async function auditIsolation(client: Pick<ClientBase, 'query'>, input: AuditInput): Promise<Finding[]> {
  const { roles } = input;
  const findings: Finding[] = [];
  const wide = [roles.owner, roles.admin, roles.analytics].filter((r): r is string => r !== undefined);
  const restricted = [roles.application, ...(roles.analytics ? [roles.analytics] : [])];

  const views = await client.query<{ object: string; relkind: string; owner: string; invoker: boolean; app_reads: boolean }>(VIEWS_SQL, [input.tenantOids, roles.application]);
  for (const v of views.rows) {
    if (v.relkind === 'v' && !v.invoker) {
      findings.push({
        kind: 'ViewWithoutSecurityInvoker',
        object: v.object,
        fix: `runs with the privileges and policies of its owner ${v.owner}${v.app_reads ? ', and the application may read it' : ''}: ALTER VIEW ${v.object} SET (security_invoker = on)`,
      });
    }
    if (v.relkind === 'm' && v.app_reads) {
      findings.push({
        kind: 'MaterializedViewReadable',
        object: v.object,
        fix: `a materialized view has no row-level security and holds every tenant's rows: REVOKE SELECT ON ${v.object} FROM ${roles.application} (and PUBLIC), or serve it through a security_invoker view with a tenant filter`,
      });
    }
  }

  const definers = await client.query<{ object: string; owner: string }>(DEFINER_SQL, [roles.application, wide, input.tenantOids]);
  for (const f of definers.rows) {
    findings.push({
      kind: 'SecurityDefinerFunction',
      object: f.object,
      fix: `runs as ${f.owner}, which sees every tenant's rows, and the application may call it: ALTER FUNCTION ${f.object} SECURITY INVOKER, or REVOKE EXECUTE ON FUNCTION ${f.object} FROM PUBLIC, ${roles.application}`,
    });
  }

  const fks = await client.query<{ object: string; referenced: string }>(FOREIGN_KEYS_SQL, [input.tenantOids, input.tenantColumn]);
  for (const k of fks.rows) {
    findings.push({
      kind: 'ForeignKeyWithoutTenantColumn',
      object: k.object,
      fix: `references tenant table ${k.referenced} without ${input.tenantColumn}: foreign-key checks bypass row-level security, so rows of one tenant can point at (and probe) another's; make the key (${input.tenantColumn}, ...) on both sides`,
    });
  }

  for (const l of (await client.query<{ object: string }>(LEAKPROOF_SQL)).rows) {
    findings.push({
      kind: 'LeakproofFunction',
      object: l.object,
      fix: `LEAKPROOF lets the planner run it on rows before the policies filter them, so whatever it reveals (errors, timing) leaks other tenants' values: ALTER FUNCTION ${l.object} NOT LEAKPROOF unless it was proven leak-free`,
    });
  }

  const rs = await client.query<{ rolname: string; rolsuper: boolean; rolbypassrls: boolean; member_of: string[] }>(ROLES_SQL, [restricted, wide]);
  for (const r of rs.rows) {
    if (r.rolsuper || r.rolbypassrls) {
      findings.push({ kind: 'RoleBypassesRowSecurity', object: r.rolname, fix: `role ${r.rolname} is ${r.rolsuper ? 'a superuser' : 'BYPASSRLS'} and sees every row: ALTER ROLE ${r.rolname} NOSUPERUSER NOBYPASSRLS` });
    }
    for (const m of r.member_of) {
      findings.push({ kind: 'RoleMembershipBypass', object: r.rolname, fix: `role ${r.rolname} is a member of ${m}, whose policies see every row (SET ROLE ${m}): REVOKE ${m} FROM ${r.rolname}` });
    }
  }

  for (const t of input.ownedByRestricted ?? []) {
    findings.push({ kind: 'TableOwnedByRestrictedRole', object: t, fix: `the owner of a table can switch its row-level security off: ALTER TABLE ${t} OWNER TO ${roles.owner}` });
  }
  return findings;
}
