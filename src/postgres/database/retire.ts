// Roles that lose their place: taken out of the spec, or left behind by a deleted object whose database
// stays. They are found by the marker the object wrote on them (created or adopted), never by a name read
// back from status or a Secret. Retiring takes LOGIN away, ends their sessions and revokes every privilege
// they hold on the database and on the owner's schemas, tables, sequences, routines and default
// privileges; dropping is a separate step, only for roles the object created. Each step reads first and
// writes only what differs, so a role already retired costs reads only.
import { ident } from '../ident.js';
import { readDatabase, readDefaultAcls, readOwnedObjects, readRoles, readSchemas, type Queryable } from './catalog.js';
import { changeSql, defaultChangeSql, diffDefaultAcls, diffObjectAcls, PUBLIC, type DesiredGrants, type ObjectAcl } from './privileges.js';
import { asOwner, type StatementLog } from './sync.js';

const nothingFor = (names: readonly string[]): DesiredGrants => new Map(names.map((n) => [n, new Set<string>()]));

/**
 * On the maintenance database: NOLOGIN, sessions ended (those the administrator may end), and the
 * privileges on `database` revoked (as its owner, the grantor of what the operator granted).
 */
export async function retireLogins(db: Queryable, names: readonly string[], database: string, owner: string, log: StatementLog): Promise<void> {
  if (!names.length) return;
  const roles = await readRoles(db, names);
  const blocked: string[] = [];
  for (const [name, r] of roles) {
    if (!r.canLogin) continue;
    await log.run(db, `ALTER ROLE ${ident(name)} WITH NOLOGIN`);
    blocked.push(name);
  }
  if (blocked.length) {
    await db.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ANY($1::text[]) AND pid <> pg_backend_pid() AND pg_has_role(current_user, usesysid, 'USAGE')`,
      [blocked],
    );
  }
  const info = await readDatabase(db, database, names);
  if (!info) return;
  const acl: ObjectAcl = { kind: 'DATABASE', target: ident(database), entries: info.acl.filter((e) => e.grantee !== PUBLIC) };
  const changes = diffObjectAcls([acl], () => nothingFor(names));
  if (changes.length) await asOwner(db, owner, log, changes.map(changeSql));
}

/** Inside the database: every privilege of `names` on the owner's objects and default privileges revoked. */
export async function revokeInDatabase(db: Queryable, names: readonly string[], owner: string, log: StatementLog): Promise<void> {
  if (!names.length) return;
  const schemas = await readSchemas(db, owner, names);
  const objects = await readOwnedObjects(db, owner, names);
  const acls: ObjectAcl[] = [...schemas.map((s): ObjectAcl => ({ kind: 'SCHEMA', target: ident(s.name), entries: s.acl.filter((e) => e.grantee !== PUBLIC) })), ...objects];
  const statements = diffObjectAcls(acls, () => nothingFor(names)).map(changeSql);
  const defaults = await readDefaultAcls(db, owner, names);
  statements.push(...diffDefaultAcls(defaults, () => nothingFor(names)).map((c) => defaultChangeSql(owner, c)));
  if (statements.length) await asOwner(db, owner, log, statements);
}

/**
 * Drops the roles; one that still owns something or holds privileges elsewhere (2BP01) is kept and
 * returned, for the next pass or for a person (a policy naming it, objects a migration gave it).
 */
export async function dropRolesLeft(db: Queryable, names: readonly string[], log: StatementLog): Promise<{ dropped: string[]; kept: Array<{ name: string; why: string }> }> {
  const dropped: string[] = [];
  const kept: Array<{ name: string; why: string }> = [];
  for (const n of names) {
    try {
      await log.run(db, `DROP ROLE IF EXISTS ${ident(n)}`);
      dropped.push(n);
    } catch (err) {
      const e = err as { code?: string; message?: string };
      if (e.code !== '2BP01') throw err;
      kept.push({ name: n, why: e.message ?? 'objects depend on it' });
    }
  }
  return { dropped, kept };
}
