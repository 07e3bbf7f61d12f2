// Catalog reads that decide what to change: roles and their attributes and memberships, the database,
// schemas, tables, sequences, routines and default privileges with the managed grantees' ACL entries.
// Everything here is a read with bind parameters; a converged database costs these reads only.
import { qualified } from '../ident.js';
import { DEFAULT_KIND_BY_OBJTYPE, PUBLIC, type AclEntry, type DefaultAcl, type ObjectAcl } from './privileges.js';

/** What the layer needs of a connection: pg.Client, pg.PoolClient and pg.Pool all fit. */
export interface Queryable {
  query<R = Record<string, unknown>>(text: string, values?: unknown[]): Promise<{ rows: R[]; rowCount: number | null }>;
}

export interface RoleInfo {
  name: string;
  superuser: boolean;
  inherit: boolean;
  createRole: boolean;
  createDb: boolean;
  canLogin: boolean;
  replication: boolean;
  bypassRls: boolean;
  comment: string | null;
  memberOf: string[];
}

export async function readRoles(db: Queryable, names: readonly string[]): Promise<Map<string, RoleInfo>> {
  const r = await db.query<{
    rolname: string;
    rolsuper: boolean;
    rolinherit: boolean;
    rolcreaterole: boolean;
    rolcreatedb: boolean;
    rolcanlogin: boolean;
    rolreplication: boolean;
    rolbypassrls: boolean;
    comment: string | null;
    member_of: string[];
  }>(
    `SELECT r.rolname, r.rolsuper, r.rolinherit, r.rolcreaterole, r.rolcreatedb, r.rolcanlogin, r.rolreplication, r.rolbypassrls,
            shobj_description(r.oid, 'pg_authid') AS comment,
            coalesce((SELECT array_agg(DISTINCT g.rolname::text) FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid), '{}'::text[]) AS member_of
       FROM pg_roles r WHERE r.rolname = ANY($1::text[])`,
    [names],
  );
  return new Map(
    r.rows.map((x) => [
      x.rolname,
      {
        name: x.rolname,
        superuser: x.rolsuper,
        inherit: x.rolinherit,
        createRole: x.rolcreaterole,
        createDb: x.rolcreatedb,
        canLogin: x.rolcanlogin,
        replication: x.rolreplication,
        bypassRls: x.rolbypassrls,
        comment: x.comment,
        memberOf: x.member_of,
      },
    ]),
  );
}

/** The roles whose comment is one of `comments` (the markers an object wrote on its roles), with it. */
export async function readRolesMarked(db: Queryable, comments: readonly string[]): Promise<Array<{ name: string; comment: string }>> {
  const r = await db.query<{ rolname: string; description: string }>(
    `SELECT r.rolname, d.description FROM pg_roles r JOIN pg_shdescription d ON d.objoid = r.oid AND d.classoid = 'pg_authid'::regclass
      WHERE d.description = ANY($1::text[]) ORDER BY 1`,
    [comments],
  );
  return r.rows.map((x) => ({ name: x.rolname, comment: x.description }));
}

export interface CurrentUserInfo {
  name: string;
  superuser: boolean;
  createRole: boolean;
  createDb: boolean;
  serverVersion: string;
  serverVersionNum: number;
}

export async function readCurrentUser(db: Queryable): Promise<CurrentUserInfo> {
  const r = await db.query<{ rolname: string; rolsuper: boolean; rolcreaterole: boolean; rolcreatedb: boolean; v: string; n: string }>(
    `SELECT r.rolname, r.rolsuper, r.rolcreaterole, r.rolcreatedb, current_setting('server_version') AS v, current_setting('server_version_num') AS n
       FROM pg_roles r WHERE r.rolname = current_user`,
  );
  const x = r.rows[0];
  if (!x) throw new Error('current_user is not in pg_roles');
  return { name: x.rolname, superuser: x.rolsuper, createRole: x.rolcreaterole, createDb: x.rolcreatedb, serverVersion: x.v, serverVersionNum: Number(x.n) };
}

/** Whether the session user can SET ROLE to `role` and inherits its privileges. */
export async function readMembership(db: Queryable, role: string, serverVersionNum: number): Promise<{ set: boolean; usage: boolean }> {
  // The SET option exists from PostgreSQL 16; before, membership alone allows SET ROLE.
  const setOpt = serverVersionNum >= 160000 ? 'SET' : 'MEMBER';
  const r = await db.query<{ s: boolean; u: boolean }>(`SELECT pg_has_role(current_user, $1::text, '${setOpt}') AS s, pg_has_role(current_user, $1::text, 'USAGE') AS u`, [role]);
  return { set: r.rows[0]?.s ?? false, usage: r.rows[0]?.u ?? false };
}

interface RawEntry {
  grantee: string | null;
  privilege: string;
  grantable: boolean;
}

const entries = (raw: RawEntry[] | null): AclEntry[] => (raw ?? []).map((e) => ({ grantee: e.grantee ?? PUBLIC, privilege: e.privilege, grantable: e.grantable }));

/** ACL entries of the managed grantees (and PUBLIC) from an acl expression; $2 holds the grantee names. */
const aclJson = (aclExpr: string) => `(SELECT json_agg(json_build_object('grantee', CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END, 'privilege', a.privilege_type, 'grantable', a.is_grantable))
      FROM aclexplode(${aclExpr}) a WHERE a.grantee = 0 OR a.grantee IN (SELECT oid FROM pg_roles WHERE rolname = ANY($2::text[])))`;

export interface DatabaseInfo {
  name: string;
  owner: string;
  comment: string | null;
  acl: AclEntry[];
}

export async function readDatabase(db: Queryable, name: string, grantees: readonly string[]): Promise<DatabaseInfo | undefined> {
  const r = await db.query<{ datname: string; owner: string; comment: string | null; acl: RawEntry[] | null }>(
    `SELECT d.datname, pg_get_userbyid(d.datdba) AS owner, shobj_description(d.oid, 'pg_database') AS comment,
            ${aclJson("coalesce(d.datacl, acldefault('d', d.datdba))")} AS acl
       FROM pg_database d WHERE d.datname = $1`,
    [name, grantees],
  );
  const x = r.rows[0];
  return x ? { name: x.datname, owner: x.owner, comment: x.comment, acl: entries(x.acl) } : undefined;
}

export interface SchemaInfo {
  name: string;
  owner: string;
  acl: AclEntry[];
}

const NOT_SYSTEM_SCHEMA = `n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'`;
const NOT_EXTENSION_MEMBER = (classid: string, oid: string) => `NOT EXISTS (SELECT 1 FROM pg_depend dep WHERE dep.classid = '${classid}'::regclass AND dep.objid = ${oid} AND dep.deptype = 'e')`;

/** Schemas the owner owns, plus public (whose ownership the operator gives to the owner). */
export async function readSchemas(db: Queryable, owner: string, grantees: readonly string[]): Promise<SchemaInfo[]> {
  const r = await db.query<{ nspname: string; owner: string; acl: RawEntry[] | null }>(
    `SELECT n.nspname, pg_get_userbyid(n.nspowner) AS owner, ${aclJson("coalesce(n.nspacl, acldefault('n', n.nspowner))")} AS acl
       FROM pg_namespace n
      WHERE ${NOT_SYSTEM_SCHEMA} AND (n.nspowner = (SELECT oid FROM pg_roles WHERE rolname = $1) OR n.nspname = 'public')
        AND ${NOT_EXTENSION_MEMBER('pg_namespace', 'n.oid')}
      ORDER BY n.nspname`,
    [owner, grantees],
  );
  return r.rows.map((x) => ({ name: x.nspname, owner: x.owner, acl: entries(x.acl) }));
}

/** Tables, views, sequences and routines the owner owns (extension members excluded), with managed ACL entries. */
export async function readOwnedObjects(db: Queryable, owner: string, grantees: readonly string[]): Promise<ObjectAcl[]> {
  const rel = await db.query<{ nspname: string; relname: string; relkind: string; acl: RawEntry[] | null; definer: boolean }>(
    `SELECT n.nspname, c.relname, c.relkind, ${aclJson('c.relacl')} AS acl,
            c.relkind = 'v' AND NOT coalesce((SELECT lower(option_value) IN ('on', 'true', '1', 'yes') FROM pg_options_to_table(c.reloptions) WHERE option_name = 'security_invoker'), false) AS definer
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relowner = (SELECT oid FROM pg_roles WHERE rolname = $1) AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
        AND ${NOT_SYSTEM_SCHEMA} AND ${NOT_EXTENSION_MEMBER('pg_class', 'c.oid')}
      ORDER BY 1, 2`,
    [owner, grantees],
  );
  const fn = await db.query<{ nspname: string; proname: string; args: string; acl: RawEntry[] | null }>(
    `SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid) AS args, ${aclJson('p.proacl')} AS acl
       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE p.proowner = (SELECT oid FROM pg_roles WHERE rolname = $1) AND p.prokind IN ('f', 'p')
        AND ${NOT_SYSTEM_SCHEMA} AND ${NOT_EXTENSION_MEMBER('pg_proc', 'p.oid')}
      ORDER BY 1, 2, 3`,
    [owner, grantees],
  );
  return [
    ...rel.rows.map((x): ObjectAcl => ({
      kind: x.relkind === 'S' ? 'SEQUENCE' : 'TABLE',
      target: qualified(x.nspname, x.relname),
      entries: entries(x.acl).filter((e) => e.grantee !== PUBLIC),
      ...(x.relkind === 'm' ? { materialized: true } : {}),
      ...(x.definer ? { definerView: true } : {}),
    })),
    // The argument list is the server's own rendering (names and types quoted by PostgreSQL itself); it
    // identifies the overload and never comes from user input of ours.
    ...fn.rows.map((x): ObjectAcl => ({ kind: 'ROUTINE', target: `${qualified(x.nspname, x.proname)}(${x.args})`, entries: entries(x.acl).filter((e) => e.grantee !== PUBLIC) })),
  ];
}

export async function readDefaultAcls(db: Queryable, owner: string, grantees: readonly string[]): Promise<DefaultAcl[]> {
  const r = await db.query<{ schema: string | null; objtype: string; acl: RawEntry[] | null }>(
    `SELECT CASE WHEN d.defaclnamespace = 0 THEN NULL ELSE n.nspname END AS schema, d.defaclobjtype AS objtype, ${aclJson('d.defaclacl')} AS acl
       FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace
      WHERE d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = $1)`,
    [owner, grantees],
  );
  return r.rows
    .filter((x) => DEFAULT_KIND_BY_OBJTYPE[x.objtype] !== undefined)
    .map((x) => ({ schema: x.schema, kind: DEFAULT_KIND_BY_OBJTYPE[x.objtype]!, entries: entries(x.acl).filter((e) => e.grantee !== PUBLIC) }));
}

export async function readExtensions(db: Queryable): Promise<Set<string>> {
  const r = await db.query<{ extname: string }>('SELECT extname FROM pg_extension');
  return new Set(r.rows.map((x) => x.extname));
}
