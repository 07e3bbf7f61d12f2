// The one catalog query of the row-level-security sync: every tenant table (listed, or in a tenancy
// schema with the tenant column) and every partition below it, with its RLS flags, its policies (with
// the fingerprint comment and the fingerprint of the policy as it stands) and the RLS-bypassing
// privileges the application and analytics roles hold on it. Listed tables that do not exist come back
// as rows without an oid. All values travel as bind parameters.
import type { ClientBase } from 'pg';
import { ACTUAL_POLICY_HASH_SQL, BYPASS_PRIVILEGES } from './policies.js';

export interface TableRef {
  schema: string;
  name: string;
}

export interface ActualPolicy {
  name: string;
  permissive: boolean;
  /** pg_policy.polcmd: r, a, w, d or * */
  cmd: string;
  roles: string[];
  comment: string | null;
  actual: string;
}

export interface TenantRelation {
  /** The listed table or tenancy-schema table this relation belongs to. */
  root: TableRef;
  schema: string;
  name: string;
  oid: number | null;
  /** r = table, p = partitioned table; null when a listed table does not exist; others are reported. */
  relkind: string | null;
  isPartition: boolean;
  owner: string | null;
  /** The connecting role may act as the owner (SET ROLE). */
  canManage: boolean;
  /** format_type of the tenant column, null when the relation has no such column. */
  columnType: string | null;
  rls: boolean;
  force: boolean;
  policies: ActualPolicy[];
  /** RLS-bypassing privileges held by the application/analytics roles or PUBLIC. */
  bypassGrants: Array<{ grantee: string; privilege: string }>;
}

export interface TenancyScope {
  tables: TableRef[];
  schemas: string[];
  tenantColumn: string;
  /** Roles that must not hold BYPASS_PRIVILEGES (application, analytics). */
  restrictedRoles: string[];
}

export const TENANT_RELATIONS_SQL = `
WITH listed AS (
  SELECT l.schema, l.name, c.oid
    FROM unnest($1::text[], $2::text[]) AS l(schema, name)
    LEFT JOIN pg_namespace n ON n.nspname = l.schema
    LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = l.name AND c.relkind IN ('r', 'p', 'f')
), in_schemas AS (
  SELECT c.oid
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = $4 AND a.attnum > 0 AND NOT a.attisdropped
   WHERE n.nspname = ANY($3::text[]) AND c.relkind IN ('r', 'p')
), roots AS (
  SELECT oid FROM listed WHERE oid IS NOT NULL
  UNION
  SELECT oid FROM in_schemas
), tree AS (
  -- Partitions do not inherit RLS: every level of every partition tree is a relation of its own.
  -- (pg_partition_tree returns nothing for a table that is neither partitioned nor a partition.)
  SELECT DISTINCT ON (t.oid) t.root, t.oid
    FROM (SELECT r.oid AS root, r.oid, 0 AS level FROM roots r
          UNION ALL
          SELECT r.oid, p.relid, p.level FROM roots r, LATERAL pg_partition_tree(r.oid) p) t
   ORDER BY t.oid, t.level
), restricted AS (
  SELECT oid, rolname FROM pg_roles WHERE rolname = ANY($5::text[])
)
SELECT rn.nspname AS root_schema, rc.relname AS root_name, n.nspname AS schema, c.relname AS name, c.oid::int8 AS oid,
       c.relkind::text AS relkind, c.relispartition AS is_partition, pg_get_userbyid(c.relowner) AS owner,
       pg_has_role(session_user, c.relowner, 'MEMBER') AS can_manage,
       (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
         WHERE a.attrelid = c.oid AND a.attname = $4 AND a.attnum > 0 AND NOT a.attisdropped) AS column_type,
       c.relrowsecurity AS rls, c.relforcerowsecurity AS force,
       coalesce((SELECT json_agg(json_build_object(
                   'name', p.polname, 'permissive', p.polpermissive, 'cmd', p.polcmd::text,
                   'roles', (SELECT coalesce(array_agg(CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r) END ORDER BY r), '{}') FROM unnest(p.polroles) r),
                   'comment', obj_description(p.oid, 'pg_policy'),
                   'actual', ${ACTUAL_POLICY_HASH_SQL}) ORDER BY p.polname)
                   FROM pg_policy p WHERE p.polrelid = c.oid), '[]') AS policies,
       coalesce((SELECT json_agg(DISTINCT jsonb_build_object('grantee', CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE rr.rolname END, 'privilege', x.privilege_type))
                   FROM aclexplode(c.relacl) x LEFT JOIN restricted rr ON rr.oid = x.grantee
                  WHERE x.privilege_type IN (${BYPASS_PRIVILEGES.map((p) => `'${p}'`).join(', ')})
                    AND (x.grantee = 0 OR rr.oid IS NOT NULL)), '[]') AS bypass_grants
  FROM tree t
  JOIN pg_class c ON c.oid = t.oid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_class rc ON rc.oid = t.root
  JOIN pg_namespace rn ON rn.oid = rc.relnamespace
UNION ALL
SELECT l.schema, l.name, l.schema, l.name, NULL, NULL, false, NULL, false, NULL, false, false, '[]', '[]'
  FROM listed l WHERE l.oid IS NULL
ORDER BY 3, 4`;

interface Row {
  root_schema: string;
  root_name: string;
  schema: string;
  name: string;
  oid: string | null;
  relkind: string | null;
  is_partition: boolean;
  owner: string | null;
  can_manage: boolean;
  column_type: string | null;
  rls: boolean;
  force: boolean;
  policies: ActualPolicy[];
  bypass_grants: Array<{ grantee: string; privilege: string }>;
}

export async function readTenantRelations(client: Pick<ClientBase, 'query'>, scope: TenancyScope): Promise<TenantRelation[]> {
  const res = await client.query<Row>(TENANT_RELATIONS_SQL, [
    scope.tables.map((t) => t.schema),
    scope.tables.map((t) => t.name),
    scope.schemas,
    scope.tenantColumn,
    scope.restrictedRoles,
  ]);
  return res.rows.map((r) => ({
    root: { schema: r.root_schema, name: r.root_name },
    schema: r.schema,
    name: r.name,
    oid: r.oid === null ? null : Number(r.oid),
    relkind: r.relkind,
    isPartition: r.is_partition,
    owner: r.owner,
    canManage: r.can_manage,
    columnType: r.column_type,
    rls: r.rls,
    force: r.force,
    policies: r.policies,
    bypassGrants: r.bypass_grants,
  }));
}

/** Which of the named roles do not exist (policies cannot name a role that is not there). */
export async function missingRoles(client: Pick<ClientBase, 'query'>, roles: string[]): Promise<string[]> {
  const res = await client.query<{ name: string }>('SELECT r AS name FROM unnest($1::text[]) r WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r)', [roles]);
  return res.rows.map((r) => r.name);
}
