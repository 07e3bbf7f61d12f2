// The steps that bring a database, its roles and their privileges in shape, each a catalog read, a pure
// diff and the statements that close it (nothing when converged). Server-level steps run connected to the
// maintenance database as the server administrator; in-database steps connected to the tenant database.
// Grants run as the owner (SET LOCAL ROLE), so the owner is their grantor and later revokes match them.
// Every statement run is recorded (passwords never appear: only SCRAM verifiers, and the log redacts those).
import { ident, literal } from '../ident.js';
import { readCurrentUser, readDatabase, readDefaultAcls, readExtensions, readMembership, readOwnedObjects, readRoles, readSchemas, type DatabaseInfo, type Queryable, type RoleInfo } from './catalog.js';
import { changeSql, defaultChangeSql, desiredDefaultFor, desiredFor, desiredForMaterializedView, diffDefaultAcls, diffObjectAcls, PUBLIC, ROLE_PRIVILEGES, type DesiredGrants, type ObjectAcl, type RoleKind } from './privileges.js';
import { scramVerifier } from './scram.js';

export interface ManagedRoles {
  owner: string;
  application: string;
  admin?: string | undefined;
  analytics?: string | undefined;
}

export function loginRoles(r: ManagedRoles): Array<{ kind: RoleKind; name: string }> {
  const out: Array<{ kind: RoleKind; name: string }> = [{ kind: 'application', name: r.application }];
  if (r.admin) out.push({ kind: 'admin', name: r.admin });
  if (r.analytics) out.push({ kind: 'analytics', name: r.analytics });
  return out;
}

export function allRoleNames(r: ManagedRoles): string[] {
  return [r.owner, ...loginRoles(r).map((l) => l.name)];
}

/** Statements run, for logs and tests; verifiers replaced by a placeholder. */
export class StatementLog {
  readonly statements: string[] = [];
  record(sql: string): void {
    this.statements.push(sql.replace(/'SCRAM-SHA-256\$[^']*'/g, "'<scram verifier>'"));
  }
  async run(db: Queryable, sql: string): Promise<void> {
    await db.query(sql);
    this.record(sql);
  }
}

/** A condition-worthy problem: reason for the condition, message a person can act on. */
export class SyncError extends Error {
  override name = 'SyncError';
  constructor(
    readonly reason: 'RoleConflict' | 'DatabaseConflict' | 'RoleExists' | 'DatabaseExists' | 'InsufficientPrivilege' | 'InvalidPassword',
    message: string,
  ) {
    super(message);
  }
}

/**
 * The comment that marks roles and databases the operator created, written when it creates them (in the
 * CREATE ROLE transaction; right after CREATE DATABASE, which cannot run in one). It names the owning
 * object by its UID: a later object of the same name is another object and owns none of it.
 */
export function ownershipMarker(namespace: string, name: string, uid: string): string {
  return `${CREATED_PREFIX} for TenantDatabase ${namespace}/${name} (uid ${uid})`;
}

/** The comment an adopted role gets: managed by the object, never dropped by it. */
export function adoptionMarker(namespace: string, name: string, uid: string): string {
  return adoptionMarkerOf(ownershipMarker(namespace, name, uid));
}

const adoptionMarkerOf = (marker: string) => ADOPTED_PREFIX + marker.slice(CREATED_PREFIX.length);

const CREATED_PREFIX = 'managed by tenantdb-operator';
const ADOPTED_PREFIX = 'adopted by tenantdb-operator';
/**
 * Whether the comment is the marker of another object. The marker of this object's name written by
 * versions before the UID was recorded (which could also mark a database it had only taken over) counts
 * as no marker: such a thing is managed only when adopted, and then never dropped.
 */
const isOtherObjectsMarker = (comment: string | null, marker: string) =>
  comment !== null && (comment.startsWith(CREATED_PREFIX) || comment.startsWith(ADOPTED_PREFIX)) && comment !== marker.replace(/ \(uid [^)]*\)$/, '');

/** Roles that existed before and that the spec adopts explicitly (by name). */
export interface Adoption {
  names: ReadonlySet<string>;
}

export const NO_ADOPTION: Adoption = { names: new Set() };

/**
 * Whether an existing role may be managed: created by this object (marker), or adopted by the spec and
 * not another object's. Anything else is refused before a single statement runs.
 */
export function checkExistingRole(have: RoleInfo, marker: string, adopt: Adoption): 'ours' | 'adopted' {
  if (have.comment === marker) return 'ours';
  if (isOtherObjectsMarker(have.comment, marker) && have.comment !== adoptionMarkerOf(marker)) {
    throw new SyncError('RoleConflict', `role ${have.name} belongs to another object (${have.comment}); choose another role name`);
  }
  // A privileged role that is not ours is someone's administrator: never taken over (and stripped).
  const elevated = (['superuser', 'createRole', 'createDb', 'replication', 'bypassRls'] as const).filter((k) => have[k]);
  if (elevated.length) {
    throw new SyncError('RoleConflict', `role ${have.name} already exists with ${elevated.map((k) => ATTR_SQL[k][0]).join(', ')} and was not created by the operator; it will not take over a privileged role, choose another name`);
  }
  if (!adopt.names.has(have.name)) {
    throw new SyncError('RoleExists', `role ${have.name} exists and was not created by this object; set spec.roles.adopt to manage it (it is never dropped), or choose another name`);
  }
  return 'adopted';
}

/** Whether an existing database may be managed: created by this object (marker), or adopted by the spec. */
export function checkExistingDatabase(info: DatabaseInfo, marker: string, adopt: boolean): 'ours' | 'adopted' {
  if (info.comment === marker) return 'ours';
  if (isOtherObjectsMarker(info.comment, marker)) throw new SyncError('DatabaseConflict', `database ${info.name} belongs to another object (${info.comment})`);
  if (!adopt) throw new SyncError('DatabaseExists', `database ${info.name} exists and was not created by this object; set spec.database.adopt to manage it (it is never dropped), or choose another name`);
  return 'adopted';
}

/** One read: refuses (SyncError) when the database exists and may not be managed, before roles are made. */
export async function checkDatabase(db: Queryable, database: string, marker: string, adopt: boolean, creator?: DatabaseCreator): Promise<void> {
  // A database that appeared from a create this process started is judged by syncDatabase (it marks it).
  if (creator?.started(database)) return;
  const info = await readDatabase(db, database, []);
  if (info) checkExistingDatabase(info, marker, adopt);
}

const ROLE_ATTRS = (login: boolean) => ({ superuser: false, createDb: false, createRole: false, replication: false, bypassRls: false, inherit: true, canLogin: login });
const ATTR_SQL: Record<keyof ReturnType<typeof ROLE_ATTRS>, [string, string]> = {
  superuser: ['SUPERUSER', 'NOSUPERUSER'],
  createDb: ['CREATEDB', 'NOCREATEDB'],
  createRole: ['CREATEROLE', 'NOCREATEROLE'],
  replication: ['REPLICATION', 'NOREPLICATION'],
  bypassRls: ['BYPASSRLS', 'NOBYPASSRLS'],
  inherit: ['INHERIT', 'NOINHERIT'],
  canLogin: ['LOGIN', 'NOLOGIN'],
};

export interface RolesResult {
  created: string[];
  /** Roles that exist carrying our marker (created by us, now or earlier): the ones Delete may drop. */
  ours: string[];
}

/**
 * Roles: created when absent (with the password given for login roles, as a SCRAM verifier), attributes
 * put back when someone changed them, memberships in other managed roles revoked, and the administrator
 * made a member of the owner (SET and INHERIT) so grants, row-level security, partitions and maintenance are
 * made as the owner (SET ROLE); migrations log in as the owner's migration login instead (migrations/migrator.ts).
 * `passwordFor(role)` supplies the password of a login role that has to be created.
 */
export async function syncRoles(db: Queryable, roles: ManagedRoles, marker: string, passwordFor: (role: string) => string, log: StatementLog, adopt: Adoption = NO_ADOPTION): Promise<RolesResult> {
  const me = await readCurrentUser(db);
  const names = allRoleNames(roles);
  const existing = await readRoles(db, names);
  const logins = new Set(loginRoles(roles).map((l) => l.name));
  if (names.includes(me.name)) throw new SyncError('RoleConflict', `role ${me.name} is the server administrator the operator connects as; it cannot also be a role of the database`);
  // Every existing role is judged before anything is written: a refusal leaves the server as it was.
  const standing = new Map([...existing].map(([n, have]) => [n, checkExistingRole(have, marker, adopt)]));
  const created: string[] = [];
  const ranBefore = log.statements.length;
  for (const name of names) {
    const have = existing.get(name);
    const login = logins.has(name);
    const want = ROLE_ATTRS(login);
    if (!have) {
      const attrs = (Object.keys(want) as Array<keyof typeof want>).map((k) => ATTR_SQL[k][want[k] ? 0 : 1]);
      const password = login ? ` PASSWORD ${literal(scramVerifier(passwordFor(name)))}` : '';
      await db.query('BEGIN');
      try {
        // PostgreSQL 16+: the creator's automatic membership comes with SET and INHERIT, so the
        // administrator can act as the owner without a grant to itself.
        if (me.serverVersionNum >= 160000 && !me.superuser) await db.query(`SET LOCAL createrole_self_grant = 'set, inherit'`);
        await log.run(db, `CREATE ROLE ${ident(name)} WITH ${attrs.join(' ')}${password}`);
        await log.run(db, `COMMENT ON ROLE ${ident(name)} IS ${literal(marker)}`);
        await db.query('COMMIT');
      } catch (err) {
        await db.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
      created.push(name);
      continue;
    }
    // Adoption is recorded on the role, so a later pass knows it is ours to manage (never to drop).
    if (standing.get(name) === 'adopted' && have.comment !== adoptionMarkerOf(marker)) await log.run(db, `COMMENT ON ROLE ${ident(name)} IS ${literal(adoptionMarkerOf(marker))}`);
    const drift = (Object.keys(want) as Array<keyof typeof want>).filter((k) => have[k] !== want[k]);
    if (drift.length) {
      if (have.superuser && !me.superuser) throw new SyncError('InsufficientPrivilege', `role ${name} is a superuser; only a superuser can take that back (ALTER ROLE ${name} NOSUPERUSER)`);
      await log.run(db, `ALTER ROLE ${ident(name)} WITH ${drift.map((k) => ATTR_SQL[k][want[k] ? 0 : 1]).join(' ')}`);
    }
    // A managed role must not be a member of another managed role (application acting as owner).
    for (const g of have.memberOf.filter((m) => names.includes(m))) {
      // From PostgreSQL 16 a membership is one grant per grantor; each is revoked by naming its grantor
      // (a CREATEROLE administrator holds ADMIN on the roles it created, which allows that).
      const grantors = me.serverVersionNum >= 160000 ? await membershipGrantors(db, g, name) : [undefined];
      for (const by of grantors) {
        try {
          await log.run(db, `REVOKE ${ident(g)} FROM ${ident(name)}${by ? ` GRANTED BY ${ident(by)}` : ''}`);
        } catch (err) {
          throw new SyncError('InsufficientPrivilege', `role ${name} is a member of ${g} (granted by ${by ?? 'another role'}) and the administrator cannot revoke that: ${(err as Error).message}`);
        }
      }
    }
  }
  const after = log.statements.length > ranBefore ? await readRoles(db, names) : existing;
  for (const name of names) {
    const left = (after.get(name) as RoleInfo).memberOf.filter((m) => names.includes(m));
    if (left.length) throw new SyncError('InsufficientPrivilege', `role ${name} is still a member of ${left.join(', ')} (granted by a role the administrator cannot revoke for)`);
  }
  if (!me.superuser) {
    const m = await readMembership(db, roles.owner, me.serverVersionNum);
    if (!m.set || !m.usage) {
      const opts = me.serverVersionNum >= 160000 ? ' WITH INHERIT TRUE, SET TRUE' : '';
      await log.run(db, `GRANT ${ident(roles.owner)} TO ${ident(me.name)}${opts}`);
    }
  }
  const ours = names.filter((n) => (after.get(n)?.comment ?? null) === marker);
  return { created, ours };
}

async function membershipGrantors(db: Queryable, role: string, member: string): Promise<string[]> {
  const r = await db.query<{ g: string }>(
    `SELECT pg_get_userbyid(m.grantor) AS g FROM pg_auth_members m WHERE m.roleid = (SELECT oid FROM pg_roles WHERE rolname = $1) AND m.member = (SELECT oid FROM pg_roles WHERE rolname = $2)`,
    [role, member],
  );
  return r.rows.map((x) => x.g);
}

/** Sets a login role's password (as a SCRAM verifier computed here). */
export async function setPassword(db: Queryable, role: string, password: string, log: StatementLog): Promise<void> {
  await log.run(db, `ALTER ROLE ${ident(role)} WITH PASSWORD ${literal(scramVerifier(password))}`);
}

export interface DatabaseCreator {
  ensure(name: string): Promise<'exists' | 'created' | 'creating'>;
  /** A create of `name` was started by this process and not yet seen finished (ensure then says which). */
  started(name: string): boolean;
}

/** An Azure database create was started and is running (no worker waits for it): the pass comes back. */
export class DatabaseCreating extends Error {
  override name = 'DatabaseCreating';
  constructor(readonly database: string) {
    super(`database ${database} is being created in Azure`);
  }
}

export interface DatabaseResult {
  created: boolean;
  /** The database carries our marker (Delete may drop it). */
  ours: boolean;
}

/**
 * The database: created when absent (through `creator` on Azure, CREATE DATABASE elsewhere), owned by the
 * owner, CONNECT/TEMPORARY taken from PUBLIC, the login roles' database privileges converged.
 */
export async function syncDatabase(db: Queryable, name: string, roles: ManagedRoles, marker: string, log: StatementLog, creator?: DatabaseCreator, adopt = false): Promise<DatabaseResult> {
  const grantees = loginRoles(roles).map((l) => l.name);
  let info = await readDatabase(db, name, grantees);
  let created = false;
  if (!info || creator?.started(name)) {
    // Created by this pass: marked right away (CREATE DATABASE cannot share a transaction with it). A
    // database found without the marker later, even one this object made before a crash, is not ours.
    let made: 'exists' | 'created' | 'creating' = 'created';
    if (creator) made = await creator.ensure(name);
    else await log.run(db, `CREATE DATABASE ${ident(name)} WITH OWNER ${ident(roles.owner)}`);
    if (made === 'creating') throw new DatabaseCreating(name);
    if (made === 'created') {
      await log.run(db, `COMMENT ON DATABASE ${ident(name)} IS ${literal(marker)}`);
      created = true;
    }
    info = await readDatabase(db, name, grantees);
    if (!info) throw new Error(`database ${name} does not exist right after it was created`);
  }
  const standing = checkExistingDatabase(info, marker, adopt);
  if (info.owner !== roles.owner) await log.run(db, `ALTER DATABASE ${ident(name)} OWNER TO ${ident(roles.owner)}`);
  const desired: DesiredGrants = new Map([[PUBLIC, new Set<string>()], ...desiredFor('DATABASE', roles)]);
  const changes = diffObjectAcls([{ kind: 'DATABASE', target: ident(name), entries: info.acl }], () => desired);
  if (changes.length) await asOwner(db, roles.owner, log, changes.map(changeSql));
  return { created, ours: standing === 'ours' };
}

/** Runs statements in one transaction as the owner, so the owner is the grantor of what they grant. */
export async function asOwner(db: Queryable, owner: string, log: StatementLog, statements: string[]): Promise<void> {
  await db.query('BEGIN');
  try {
    await db.query(`SET LOCAL ROLE ${ident(owner)}`);
    // Never queue behind an application's or a migration's lock for long (and block everyone behind us).
    await db.query(`SET LOCAL lock_timeout = '5s'`);
    for (const s of statements) await log.run(db, s);
    await db.query('COMMIT');
  } catch (err) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

export interface ExtensionFailure {
  name: string;
  message: string;
  code?: string;
}

/** Extensions: each missing one created; one that cannot be is reported, the others still created. */
export async function syncExtensions(db: Queryable, wanted: readonly string[], log: StatementLog): Promise<{ created: string[]; failed: ExtensionFailure[] }> {
  const have = await readExtensions(db);
  const created: string[] = [];
  const failed: ExtensionFailure[] = [];
  for (const ext of wanted) {
    if (have.has(ext)) continue;
    try {
      await log.run(db, `CREATE EXTENSION IF NOT EXISTS ${ident(ext)}`);
      created.push(ext);
    } catch (err) {
      const e = err as { message?: string; code?: string };
      failed.push({ name: ext, message: e.message ?? String(err), ...(e.code ? { code: e.code } : {}) });
    }
  }
  return { created, failed };
}

/**
 * Inside the database: public owned by the owner with CREATE taken from PUBLIC, and the login roles'
 * privileges on the owner's schemas, tables, sequences and routines and the owner's default privileges
 * converged both ways. `closeNewTables` (a database with row-level security): the owner's default
 * privileges give the application nothing on new tables; they are opened with their policies.
 */
export async function syncGrants(db: Queryable, roles: ManagedRoles, log: StatementLog, opts: { closeNewTables?: boolean } = {}): Promise<void> {
  const grantees = loginRoles(roles).map((l) => l.name);
  const schemas = await readSchemas(db, roles.owner, grantees);
  const pub = schemas.find((s) => s.name === 'public');
  if (pub && pub.owner !== roles.owner) await log.run(db, `ALTER SCHEMA public OWNER TO ${ident(roles.owner)}`);
  const statements: string[] = [];
  if (pub?.acl.some((e) => e.grantee === PUBLIC && e.privilege === 'CREATE')) statements.push('REVOKE CREATE ON SCHEMA public FROM PUBLIC');
  const schemaAcls: ObjectAcl[] = schemas.map((s) => ({ kind: 'SCHEMA', target: ident(s.name), entries: s.acl.filter((e) => e.grantee !== PUBLIC) }));
  const objects = await readOwnedObjects(db, roles.owner, grantees);
  const byKind = new Map((['SCHEMA', 'TABLE', 'SEQUENCE', 'ROUTINE'] as const).map((k) => [k, desiredFor(k, roles)]));
  const matview = desiredForMaterializedView(roles);
  // A view without security_invoker reads with its owner's rights and policies (every tenant): the
  // application is not granted it (the isolation audit names it, with the fix); it is with security_invoker.
  const closed = (o: ObjectAcl) => o.materialized === true || o.definerView === true;
  statements.push(...diffObjectAcls([...schemaAcls, ...objects], (k, _t, o) => (closed(o) ? matview : (byKind.get(k as 'SCHEMA') as DesiredGrants))).map(changeSql));
  const defaults = await readDefaultAcls(db, roles.owner, grantees);
  // With row-level security (closeNewTables) a new table is not the application's before its policies.
  const defaultChanges = diffDefaultAcls(defaults, (k) => (opts.closeNewTables ? desiredDefaultFor(k, roles) : desiredFor(k === 'TABLES' ? 'TABLE' : k === 'SEQUENCES' ? 'SEQUENCE' : 'ROUTINE', roles)));
  statements.push(...defaultChanges.map((c) => defaultChangeSql(roles.owner, c)));
  if (statements.length) await asOwner(db, roles.owner, log, statements);
}

/** NOLOGIN for the roles carrying our marker, so nobody new connects while sessions are ended. */
export async function blockLogins(db: Queryable, names: readonly string[], marker: string, log: StatementLog): Promise<void> {
  const existing = await readRoles(db, names);
  for (const [name, r] of existing) if (r.comment === marker && r.canLogin) await log.run(db, `ALTER ROLE ${ident(name)} WITH NOLOGIN`);
}

/** Ends the sessions connected to a database (before DROP DATABASE), except our own. */
export async function terminateSessions(db: Queryable, database: string): Promise<number> {
  const r = await db.query<{ ok: boolean }>('SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database]);
  return r.rows.filter((x) => x.ok).length;
}

export async function dropDatabase(db: Queryable, database: string, log: StatementLog): Promise<void> {
  await log.run(db, `DROP DATABASE IF EXISTS ${ident(database)}`);
}

/** Drops roles (login roles first, the owner last); each must own nothing left on the server. */
export async function dropRoles(db: Queryable, names: readonly string[], log: StatementLog): Promise<void> {
  for (const n of names) await log.run(db, `DROP ROLE IF EXISTS ${ident(n)}`);
}

export { ROLE_PRIVILEGES };
