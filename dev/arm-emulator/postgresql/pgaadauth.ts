// Azure's `pgaadauth` SQL interface on the emulated servers: Microsoft Entra principals as PostgreSQL
// roles (https://learn.microsoft.com/azure/postgresql/flexible-server/how-to-manage-azure-ad-users):
//   pgaadauth_create_principal_with_oid(roleName, objectId, objectType, isAdmin, isMfa) -> 'Created role for <roleName>'
//   pgaadauth_list_principals(isAdminValue)  -> (rolname, principalType, objectId, tenantId, isMfa, isAdmin)
//   and DROP ROLE to remove one.
// Azure keeps the role -> object id mapping in a security label ('aadauth,oid=<id>,type=<user|group|service>[,admin]').
// PostgreSQL has no label provider without a C module, and role comments are the operator's own records, so
// the emulator keeps the same string as a cluster-wide role setting (`pgaadauth.label`, in the shared
// pg_db_role_setting catalog), where the token check (entra/database-login.ts) reads it. Every principal is
// also a member of `pgaadauth_principals`, the group the server's pg_hba.conf sends to the token check.
import type pg from 'pg';

export const PRINCIPALS_GROUP = 'pgaadauth_principals';
export const LABEL_SETTING = 'pgaadauth.label';

/** Installed in `postgres` and `template1` (so in every new database); idempotent. */
export const PGAADAUTH_SQL = `
DO $do$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = '${PRINCIPALS_GROUP}') THEN
    CREATE ROLE ${PRINCIPALS_GROUP} NOLOGIN;
  END IF;
END $do$;
CREATE OR REPLACE FUNCTION pg_catalog.pgaadauth_label_of(role_name name) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $fn$
  SELECT substr(c, length('${LABEL_SETTING}=') + 1)
  FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole, unnest(s.setconfig) c
  WHERE s.setdatabase = 0 AND r.rolname = role_name AND c LIKE '${LABEL_SETTING}=%'
$fn$;
REVOKE ALL ON FUNCTION pg_catalog.pgaadauth_label_of(name) FROM PUBLIC;
CREATE OR REPLACE FUNCTION pg_catalog.pgaadauth_create_principal_with_oid(roleName text, objectId text, objectType text, isAdmin boolean, isMfa boolean) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $fn$
DECLARE
  caller_label text := pg_catalog.pgaadauth_label_of(session_user);
  label text;
BEGIN
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = session_user) AND coalesce(caller_label, '') !~ ',admin(,|$)' THEN
    RAISE EXCEPTION 'permission denied to create Microsoft Entra principal "%"', roleName
      USING ERRCODE = '42501', DETAIL = 'Only a Microsoft Entra administrator of the server can create Microsoft Entra principals.';
  END IF;
  IF lower(objectType) NOT IN ('user', 'group', 'service') THEN
    RAISE EXCEPTION 'invalid objectType "%": expected user, group or service', objectType USING ERRCODE = '22023';
  END IF;
  -- GUID-shaped; letters beyond f are let through because the published ARM examples use placeholders
  -- such as oooooooo-oooo-oooo-oooo-oooooooooooo, which the emulator must accept as Azure's API does.
  IF objectId !~* '^[0-9a-z]{8}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{12}$' THEN
    RAISE EXCEPTION 'invalid objectId "%": expected a GUID', objectId USING ERRCODE = '22023';
  END IF;
  EXECUTE format('CREATE ROLE %I LOGIN IN ROLE ${PRINCIPALS_GROUP}', roleName);
  IF isAdmin THEN
    EXECUTE format('ALTER ROLE %I CREATEDB CREATEROLE', roleName);
    EXECUTE format('GRANT azure_pg_admin TO %I', roleName);
  END IF;
  label := format('aadauth,oid=%s,type=%s', lower(objectId), lower(objectType))
    || CASE WHEN isAdmin THEN ',admin' ELSE '' END || CASE WHEN isMfa THEN ',mfa' ELSE '' END;
  EXECUTE format('ALTER ROLE %I SET ${LABEL_SETTING} = %L', roleName, label);
  RETURN 'Created role for ' || roleName;
END
$fn$;
CREATE OR REPLACE FUNCTION pg_catalog.pgaadauth_list_principals(isAdminValue boolean)
RETURNS TABLE (rolname name, principalType text, objectId text, tenantId text, isMfa integer, isAdmin integer)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $fn$
  SELECT r.rolname,
         substring(l FROM 'type=([a-z]+)'),
         substring(l FROM 'oid=([0-9a-z-]+)'),
         NULL::text,
         (l ~ ',mfa(,|$)')::int,
         (l ~ ',admin(,|$)')::int
  FROM pg_roles r, LATERAL (SELECT pg_catalog.pgaadauth_label_of(r.rolname) AS l) x
  WHERE l IS NOT NULL AND (NOT isAdminValue OR l ~ ',admin(,|$)')
  ORDER BY r.rolname
$fn$;
`;

export interface PrincipalLabel {
  objectId: string;
  type: 'user' | 'group' | 'service';
  admin: boolean;
}

/** Parses Azure's label format ('aadauth,oid=<id>,type=<type>[,admin][,mfa]'). */
export function parseLabel(label: string | null | undefined): PrincipalLabel | undefined {
  if (!label) return undefined;
  const parts = label.split(',');
  if (parts[0] !== 'aadauth') return undefined;
  const oid = parts.find((p) => p.startsWith('oid='))?.slice(4);
  const type = parts.find((p) => p.startsWith('type='))?.slice(5);
  if (!oid || (type !== 'user' && type !== 'group' && type !== 'service')) return undefined;
  return { objectId: oid.toLowerCase(), type, admin: parts.includes('admin') };
}

/** The principal a login role maps to, read by the instance's superuser. */
export async function principalOf(c: pg.Client, role: string): Promise<PrincipalLabel | undefined> {
  const r = await c.query<{ l: string | null }>('SELECT pg_catalog.pgaadauth_label_of($1) AS l', [role]);
  return parseLabel(r.rows[0]?.l);
}

/** ARM's principalType (User, Group, ServicePrincipal) as pgaadauth's objectType. */
export function objectTypeOf(principalType: unknown): 'user' | 'group' | 'service' {
  const t = String(principalType ?? 'User').toLowerCase();
  return t === 'group' ? 'group' : t === 'user' || t === 'unknown' ? 'user' : 'service';
}
