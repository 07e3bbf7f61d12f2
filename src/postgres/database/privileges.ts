// The privileges each managed role should hold, and the pure diff from what the catalog says they hold
// to the GRANT/REVOKE statements that close the gap both ways (missing ones granted, extra ones revoked,
// grant options someone added taken back). Only the managed grantees are compared: privileges of roles
// the operator does not manage are never touched. Statements group objects that need the same change,
// so a new database with many tables costs a handful of statements, and a converged one none.
import { ident } from '../ident.js';

export type ObjectKind = 'DATABASE' | 'SCHEMA' | 'TABLE' | 'SEQUENCE' | 'ROUTINE';
/** Kinds ALTER DEFAULT PRIVILEGES knows, keyed as pg_default_acl.defaclobjtype. */
export type DefaultKind = 'TABLES' | 'SEQUENCES' | 'FUNCTIONS';
export const DEFAULT_KIND_BY_OBJTYPE: Record<string, DefaultKind> = { r: 'TABLES', S: 'SEQUENCES', f: 'FUNCTIONS' };

/** The grantee PUBLIC (aclexplode reports it as grantee oid 0). */
export const PUBLIC = '\u0000PUBLIC';

export type RoleKind = 'application' | 'admin' | 'analytics';

/** What each login role holds on the objects of its database. Anything beyond is revoked. */
export const ROLE_PRIVILEGES: Record<RoleKind, Record<ObjectKind, readonly string[]>> = {
  application: {
    DATABASE: ['CONNECT', 'TEMPORARY'],
    SCHEMA: ['USAGE'],
    TABLE: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
    // USAGE for nextval/currval, SELECT for reading the sequence (pg_dump, last_value).
    SEQUENCE: ['USAGE', 'SELECT'],
    ROUTINE: ['EXECUTE'],
  },
  admin: {
    DATABASE: ['CONNECT', 'TEMPORARY'],
    SCHEMA: ['USAGE'],
    TABLE: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
    SEQUENCE: ['USAGE', 'SELECT'],
    ROUTINE: ['EXECUTE'],
  },
  // Read only: no TEMPORARY (no writes at all), no EXECUTE beyond what PUBLIC has.
  analytics: {
    DATABASE: ['CONNECT'],
    SCHEMA: ['USAGE'],
    TABLE: ['SELECT'],
    SEQUENCE: ['SELECT'],
    ROUTINE: [],
  },
};

export const DEFAULT_KIND_OF: Record<DefaultKind, ObjectKind> = { TABLES: 'TABLE', SEQUENCES: 'SEQUENCE', FUNCTIONS: 'ROUTINE' };

/** One privilege a grantee holds on an object, as aclexplode() reports it. */
export interface AclEntry {
  grantee: string; // role name, or PUBLIC
  privilege: string;
  grantable: boolean;
}

/** An object and the managed grantees' entries on it. `target` is SQL already quoted with ident(). */
export interface ObjectAcl {
  kind: ObjectKind;
  target: string;
  entries: AclEntry[];
  /**
   * A materialized view: it has no row-level security, so a view over tenant tables would hand the
   * application every tenant's rows. The application gets nothing on it; the cross-tenant roles read it.
   */
  materialized?: boolean;
  /**
   * A view without security_invoker: it reads its tables with its owner's rights and policies (the
   * owner's policy sees every tenant), so the application gets nothing on it, as on a materialized view.
   */
  definerView?: boolean;
}

/** Desired privileges per grantee (role name or PUBLIC); grantees absent from the map are not managed. */
export type DesiredGrants = Map<string, ReadonlySet<string>>;

export interface PrivilegeChange {
  action: 'GRANT' | 'REVOKE' | 'REVOKE GRANT OPTION FOR';
  kind: ObjectKind;
  grantee: string;
  privileges: string[];
  targets: string[];
}

function granteeSql(g: string): string {
  return g === PUBLIC ? 'PUBLIC' : ident(g);
}

/** The changes that make every object's managed entries equal the desired ones. */
export function diffObjectAcls(objects: readonly ObjectAcl[], desiredByKind: (kind: ObjectKind, target: string, obj: ObjectAcl) => DesiredGrants): PrivilegeChange[] {
  // key: action|kind|grantee|privs -> targets
  const groups = new Map<string, PrivilegeChange>();
  const add = (action: PrivilegeChange['action'], kind: ObjectKind, grantee: string, privileges: string[], target: string) => {
    if (privileges.length === 0) return;
    const sorted = [...privileges].sort();
    const key = [action, kind, grantee, sorted.join(',')].join('\u0001');
    const g = groups.get(key);
    if (g) g.targets.push(target);
    else groups.set(key, { action, kind, grantee, privileges: sorted, targets: [target] });
  };
  for (const obj of objects) {
    const desired = desiredByKind(obj.kind, obj.target, obj);
    for (const [grantee, want] of desired) {
      const have = obj.entries.filter((e) => e.grantee === grantee);
      const haveSet = new Set(have.map((e) => e.privilege));
      add('GRANT', obj.kind, grantee, [...want].filter((p) => !haveSet.has(p)), obj.target);
      add('REVOKE', obj.kind, grantee, [...haveSet].filter((p) => !want.has(p)), obj.target);
      // Nobody was given the right to pass these privileges on: a grant option is drift too.
      add('REVOKE GRANT OPTION FOR', obj.kind, grantee, have.filter((e) => e.grantable && want.has(e.privilege)).map((e) => e.privilege), obj.target);
    }
  }
  return [...groups.values()];
}

export function changeSql(c: PrivilegeChange): string {
  const privs = c.privileges.join(', ');
  const targets = c.targets.join(', ');
  if (c.action === 'GRANT') return `GRANT ${privs} ON ${c.kind} ${targets} TO ${granteeSql(c.grantee)}`;
  return `${c.action} ${privs} ON ${c.kind} ${targets} FROM ${granteeSql(c.grantee)}`;
}

/** Default privileges of the owner (global, or in one schema) for one object type. */
export interface DefaultAcl {
  schema: string | null;
  kind: DefaultKind;
  entries: AclEntry[];
}

export interface DefaultPrivilegeChange {
  action: 'GRANT' | 'REVOKE';
  schema: string | null;
  kind: DefaultKind;
  grantee: string;
  privileges: string[];
}

/**
 * Global defaults give each managed role its set; schema-level defaults only add to the global ones, so
 * any managed-role entry there is drift. `existing` holds the rows pg_default_acl has for the owner.
 */
export function diffDefaultAcls(existing: readonly DefaultAcl[], desired: (kind: DefaultKind) => DesiredGrants): DefaultPrivilegeChange[] {
  const out: DefaultPrivilegeChange[] = [];
  const kinds: DefaultKind[] = ['TABLES', 'SEQUENCES', 'FUNCTIONS'];
  for (const kind of kinds) {
    const want = desired(kind);
    const global = existing.find((d) => d.schema === null && d.kind === kind);
    for (const [grantee, privs] of want) {
      const have = new Set((global?.entries ?? []).filter((e) => e.grantee === grantee).map((e) => e.privilege));
      const missing = [...privs].filter((p) => !have.has(p)).sort();
      const extra = [...have].filter((p) => !privs.has(p)).sort();
      if (missing.length) out.push({ action: 'GRANT', schema: null, kind, grantee, privileges: missing });
      if (extra.length) out.push({ action: 'REVOKE', schema: null, kind, grantee, privileges: extra });
    }
    for (const d of existing.filter((e) => e.schema !== null && e.kind === kind)) {
      for (const grantee of want.keys()) {
        const extra = [...new Set(d.entries.filter((e) => e.grantee === grantee).map((e) => e.privilege))].sort();
        if (extra.length) out.push({ action: 'REVOKE', schema: d.schema, kind, grantee, privileges: extra });
      }
    }
  }
  return out;
}

export function defaultChangeSql(owner: string, c: DefaultPrivilegeChange): string {
  const scope = `ALTER DEFAULT PRIVILEGES FOR ROLE ${ident(owner)}${c.schema !== null ? ` IN SCHEMA ${ident(c.schema)}` : ''}`;
  const privs = c.privileges.join(', ');
  return c.action === 'GRANT' ? `${scope} GRANT ${privs} ON ${c.kind} TO ${granteeSql(c.grantee)}` : `${scope} REVOKE ${privs} ON ${c.kind} FROM ${granteeSql(c.grantee)}`;
}

/** The desired grants on objects of `kind` for the managed login roles present. */
/** On a materialized view (no row-level security): nothing for the application, SELECT for the cross-tenant roles. */
export function desiredForMaterializedView(roles: Partial<Record<RoleKind, string>>): DesiredGrants {
  const m = new Map<string, ReadonlySet<string>>();
  if (roles.application) m.set(roles.application, new Set());
  for (const rk of ['admin', 'analytics'] as const) if (roles[rk]) m.set(roles[rk] as string, new Set(['SELECT']));
  return m;
}

/**
 * The owner's default privileges: as desiredFor, except that the application gets nothing on new tables
 * (and views). A new table is opened to the application together with its row-level-security policies
 * (by the migration runner in the step that creates it, or by a later pass), never at CREATE TABLE.
 */
export function desiredDefaultFor(kind: DefaultKind, roles: Partial<Record<RoleKind, string>>): DesiredGrants {
  const m = new Map(desiredFor(DEFAULT_KIND_OF[kind], roles));
  if (kind === 'TABLES' && roles.application) m.set(roles.application, new Set());
  return m;
}

export function desiredFor(kind: ObjectKind, roles: Partial<Record<RoleKind, string>>): DesiredGrants {
  const m = new Map<string, ReadonlySet<string>>();
  for (const rk of Object.keys(ROLE_PRIVILEGES) as RoleKind[]) {
    const name = roles[rk];
    if (name) m.set(name, new Set(ROLE_PRIVILEGES[rk][kind]));
  }
  return m;
}
