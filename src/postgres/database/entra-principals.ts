// Microsoft Entra principals as database roles (spec.entraPrincipals): created the way Azure does it
// (pgaadauth_create_principal_with_oid, as the server's Entra administrator), marked as created by this object
// right after creation (the role comment; never inferred later), made a member of the login role whose grants
// they get (application, admin or analytics: tenant isolation applies to them through that membership, as
// policies apply to members; like the application, a principal names its tenant in its session with
// tenancy.tenantSetting and sees nothing without it), and dropped when taken out of the spec, only when this
// object's marker is on them.
import { ident, literal } from '../ident.js';
import { readRolesMarked, type Queryable } from './catalog.js';
import { SyncError, type StatementLog } from './sync.js';

export interface EntraPrincipalWant {
  name: string;
  objectId: string;
  type: 'User' | 'Group' | 'ServicePrincipal';
  /** The managed login role whose grants (and tenant policies) the principal gets. */
  memberOf: string;
}

export interface EntraPrincipalsResult {
  created: string[];
  dropped: string[];
}

const OBJECT_TYPE = { User: 'user', Group: 'group', ServicePrincipal: 'service' } as const;

/** The marker on a principal this object created (distinct from its login roles' marker). */
export function entraPrincipalMarker(created: string): string {
  return `${created} [Microsoft Entra principal]`;
}

async function principalObjectIds(db: Queryable): Promise<Map<string, string>> {
  const r = await db.query<{ rolname: string; objectid: string }>('SELECT rolname, objectid FROM pg_catalog.pgaadauth_list_principals(false)');
  return new Map(r.rows.map((x) => [x.rolname, String(x.objectid).toLowerCase()]));
}

async function memberships(db: Queryable, role: string, among: string[]): Promise<string[]> {
  const r = await db.query<{ g: string }>(
    `SELECT g.rolname AS g FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = $1 AND g.rolname = ANY($2::text[])`,
    [role, among],
  );
  return r.rows.map((x) => x.g);
}

/** Creates, updates and drops this object's principals on the server (a client on any database of it). */
export async function syncEntraPrincipals(db: Queryable, want: EntraPrincipalWant[], marker: string, loginRoles: string[], log: StatementLog): Promise<EntraPrincipalsResult> {
  const out: EntraPrincipalsResult = { created: [], dropped: [] };
  const ours = new Set((await readRolesMarked(db, [marker])).map((r) => r.name));
  const existing = new Set((await db.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE rolname = ANY($1::text[])', [want.map((w) => w.name)])).rows.map((r) => r.rolname));
  const oids = want.length || ours.size ? await principalObjectIds(db) : new Map<string, string>();
  for (const w of want) {
    if (existing.has(w.name) && !ours.has(w.name)) {
      throw new SyncError('RoleExists', `role ${w.name} (spec.entraPrincipals) exists and was not created by this TenantDatabase; it is left untouched`);
    }
    if (ours.has(w.name) && oids.get(w.name) !== w.objectId.toLowerCase()) {
      // Ours, but mapped to another object id (the spec changed it): recreated for the new one.
      await log.run(db, `DROP ROLE ${ident(w.name)}`);
      ours.delete(w.name);
    }
    if (!ours.has(w.name)) {
      await db.query('SELECT pg_catalog.pgaadauth_create_principal_with_oid($1, $2, $3, false, false)', [w.name, w.objectId, OBJECT_TYPE[w.type]]);
      log.record(`SELECT pgaadauth_create_principal_with_oid(${literal(w.name)}, ${literal(w.objectId)}, ${literal(OBJECT_TYPE[w.type])}, false, false)`);
      await log.run(db, `COMMENT ON ROLE ${ident(w.name)} IS ${literal(marker)}`);
      out.created.push(w.name);
    }
    const have = await memberships(db, w.name, loginRoles);
    if (!have.includes(w.memberOf)) await log.run(db, `GRANT ${ident(w.memberOf)} TO ${ident(w.name)}`);
    for (const g of have.filter((x) => x !== w.memberOf)) await log.run(db, `REVOKE ${ident(g)} FROM ${ident(w.name)}`);
  }
  const wanted = new Set(want.map((w) => w.name));
  for (const name of [...ours].filter((n) => !wanted.has(n))) {
    await log.run(db, `DROP ROLE ${ident(name)}`);
    out.dropped.push(name);
  }
  return out;
}
