// The database part: database, extensions, roles, grants, passwords and connection Secrets, in steps that
// each read the catalog, diff and apply only what differs (src/postgres/database/). Passwords live in the
// connection Secrets: a Secret that exists keeps its password (set back in PostgreSQL if someone changed
// it there), a missing one gets a new password, and the tenantdb.io/rotate-credentials annotation with a
// new value gives every login role a new one, Secret first and PostgreSQL right after, in the same pass.
import { classifyFailure } from '../../../src/postgres/classify.js';
import { postgresConnections, type DbTarget, type PostgresConnections } from '../../../src/postgres/connections.js';
import { readDatabase, readRolesMarked } from '../../../src/postgres/database/catalog.js';
import { dropRolesLeft, retireLogins, revokeInDatabase } from '../../../src/postgres/database/retire.js';
import { generatePassword, PASSWORD_PATTERN } from '../../../src/postgres/database/scram.js';
import {
  adoptionMarker,
  blockLogins,
  checkDatabase,
  dropDatabase,
  loginRoles,
  ownershipMarker,
  setPassword,
  StatementLog,
  SyncError,
  DatabaseCreating,
  syncDatabase,
  syncExtensions,
  syncGrants,
  syncRoles,
  terminateSessions,
  type Adoption,
  type ManagedRoles,
} from '../../../src/postgres/database/sync.js';
import type { RoleKind } from '../../../src/postgres/database/privileges.js';
import fs from 'node:fs';
import type { KubeObject } from '../../../src/runtime/kubeclient.js';
import type { DatabasePart, FinalizeStep, PartOutcome, ServerConnection, TenantDatabaseContext } from '../context.js';
import { tokenOf } from '../context.js';
import { entraPrincipalMarker, syncEntraPrincipals, type EntraPrincipalWant } from '../../../src/postgres/database/entra-principals.js';
import { principalSecretName, principalWants, syncPrincipalSecrets } from './entra-principals.js';
import { MAINTENANCE_DATABASE } from '../server-external.js';
import { retireRemovedRoles, type Markers } from './removed-roles.js';
import { connectionData, currentSecret, decodeData, deleteSecret, ensureSecret, isOurs, releaseSecret, ROTATE_ANNOTATION, ROTATED_FOR_ANNOTATION, secretNameFor } from './secrets.js';

const TYPE = 'DatabaseReady';
const STALLED_RECHECK_MS = 5 * 60_000;
/** How often a Ready database is checked for drift made inside the server (catalog reads only). */
export const DRIFT_CHECK_MS = 10 * 60_000;

/** spec.roles is the set of roles the operator manages (owner, application, admin, analytics). */
function managedRoles(ctx: TenantDatabaseContext): ManagedRoles {
  const { owner, application, admin, analytics } = ctx.spec.roles;
  return { owner, application, admin, analytics };
}

/** The comments this object writes on what it creates or adopts, naming it by UID. */
function markersOf(ctx: TenantDatabaseContext): Markers {
  const uid = ctx.obj.metadata.uid as string;
  return { created: ownershipMarker(ctx.namespace, ctx.name, uid), adopted: adoptionMarker(ctx.namespace, ctx.name, uid) };
}

/** Roles spec.roles.adopt names (by kind): the only existing roles that may be taken over. */
function adoptionOf(ctx: TenantDatabaseContext): Adoption {
  const roles = managedRoles(ctx);
  const names = (ctx.spec.roles.adopt ?? []).map((k) => roles[k]).filter((n): n is string => n !== undefined);
  return { names: new Set(names) };
}

function target(conn: ServerConnection, database: string, user = conn.adminUser, password = conn.adminPassword): DbTarget {
  // The administrator's token login applies to the administrator only, never to a role's own password login.
  const token = user === conn.adminUser && password === conn.adminPassword ? tokenOf(conn) : {};
  return { host: conn.host, port: conn.port, sslMode: conn.sslMode, ...(conn.caPem !== undefined ? { caPem: conn.caPem } : {}), user, password, ...token, database };
}

/** The CA a client needs: the server's private CA, or the operator's --postgres-ca-file. */
function clientCa(ctx: TenantDatabaseContext, conn: ServerConnection): string | undefined {
  if (conn.caPem) return conn.caPem;
  const file = ctx.settings.postgres.caFile;
  return file ? fs.readFileSync(file, 'utf8') : undefined;
}

interface Login {
  kind: RoleKind;
  role: string;
  secretName: string;
  secret: KubeObject | undefined;
  password: string;
  /** The password is new (no usable Secret, or a rotation): PostgreSQL must get it this pass. */
  fresh: boolean;
  /** New because of tenantdb.io/rotate-credentials (not because the Secret was missing). */
  rotated: boolean;
}

/** Whether the role can log in with the password (the only way to check a password without superuser). */
async function loginWorks(conns: PostgresConnections, t: DbTarget): Promise<'ok' | 'badPassword'> {
  let client;
  try {
    client = await conns.connect(t);
    return 'ok';
  } catch (err) {
    if ((err as { code?: string }).code === '28P01') return 'badPassword';
    throw err;
  } finally {
    await client?.end().catch(() => undefined);
  }
}

/** How soon a pass looks again at an Azure database being created (seconds-long operations). */
const CREATING_POLL_MS = 2_000;

function failure(reason: string, message: string, stalled: boolean, extra: Partial<PartOutcome> = {}): PartOutcome {
  return { condition: { type: TYPE, ok: false, stalled, reason, message }, ...extra };
}

/** Passwords come from the Secrets; decided before anything touches PostgreSQL. A foreign Secret stops the part. */
async function decideLogins(ctx: TenantDatabaseContext, roles: ManagedRoles, rotation: string | undefined): Promise<Login[] | PartOutcome> {
  const logins: Login[] = [];
  for (const l of loginRoles(roles)) {
    const secretName = secretNameFor(ctx, l.kind);
    const secret = await currentSecret(ctx, secretName);
    if (secret && !isOurs(ctx, secret)) {
      return failure('SecretConflict', `Secret ${secretName} exists and does not belong to this TenantDatabase; delete it or choose spec.connectionSecret.name`, true);
    }
    const data = decodeData(secret);
    const usable = data.password !== undefined && PASSWORD_PATTERN.test(data.password) && data.username === l.name;
    const rotatedFor = secret?.metadata.annotations?.[ROTATED_FOR_ANNOTATION];
    const rotate = rotation !== undefined && rotation !== rotatedFor;
    const keep = usable && !rotate;
    logins.push({ kind: l.kind, role: l.name, secretName, secret, password: keep ? (data.password as string) : generatePassword(), fresh: !keep, rotated: usable && rotate });
  }
  return logins;
}

interface CatalogResult {
  /** Roles created this pass (they got their password with CREATE ROLE). */
  created: string[];
  extensionsPresent: string[];
  extensionsFailed: Array<{ name: string; message: string }>;
  /** Entra principals of this object dropped this pass (taken out of spec.entraPrincipals). */
  principalsDropped: string[];
}

/** Roles and database (on the maintenance database), then extensions and grants inside the database. */
async function syncCatalog(sync: SyncInput, passwordOf: (role: string) => string, principals: EntraPrincipalWant[]): Promise<CatalogResult> {
  const { ctx, conns, conn, roles, database, log } = sync;
  const out: CatalogResult = { created: [], extensionsPresent: [], extensionsFailed: [], principalsDropped: [] };
  const markers = markersOf(ctx);
  const adoptDatabase = ctx.spec.database.adopt ?? false;
  await conns.withClient(target(conn, MAINTENANCE_DATABASE), async (c) => {
    // What existed before is judged first (reads only): a refusal leaves the server exactly as it was.
    await checkDatabase(c, database, markers.created, adoptDatabase, conn.databases);
    out.created = (await syncRoles(c, roles, markers.created, passwordOf, log, adoptionOf(ctx))).created;
    await syncDatabase(c, database, roles, markers.created, log, conn.databases, adoptDatabase);
    // Entra principals (spec.entraPrincipals): members of the login role whose grants they get (the
    // migrations principal: of the owner), and of no other role this object manages.
    const loginRoleNames = [...loginRoles(roles).map((l) => l.name), roles.owner];
    out.principalsDropped = (await syncEntraPrincipals(c, principals, entraPrincipalMarker(markers.created), loginRoleNames, log)).dropped;
  });
  await conns.withClient(target(conn, database), async (c) => {
    const wanted = ctx.spec.database.extensions ?? [];
    const ext = await syncExtensions(c, wanted, log);
    out.extensionsFailed = ext.failed;
    const failedNames = new Set(ext.failed.map((f) => f.name));
    out.extensionsPresent = wanted.filter((e) => !failedNames.has(e));
    // With tenancy, new tables are opened to the application with their policies, not by default privileges.
    await syncGrants(c, roles, log, { closeNewTables: ctx.spec.tenancy !== undefined });
  });
  await retireRemovedRoles({ ctx, conns, server: target(conn, MAINTENANCE_DATABASE), inDatabase: target(conn, database), roles, database, markers, log });
  return out;
}

interface SyncInput {
  ctx: TenantDatabaseContext;
  conns: PostgresConnections;
  conn: ServerConnection;
  roles: ManagedRoles;
  database: string;
  rotation: string | undefined;
  log: StatementLog;
}

/**
 * Secrets, then passwords: a Secret written but whose password did not reach PostgreSQL is caught by the
 * login check of the next pass, so the Secret is always the truth. Returns the drift found (changes made
 * by hand that were put back).
 */
async function syncLogins(sync: SyncInput, logins: Login[], created: string[]): Promise<{ drift: number; secretWrites: number }> {
  const { ctx, conns, conn, database, rotation, log } = sync;
  let drift = 0;
  let secretWrites = 0;
  const ca = clientCa(ctx, conn);
  for (const l of logins) {
    const data = connectionData(conn, database, l.role, l.password, ca);
    const annotations: Record<string, string> = rotation !== undefined ? { [ROTATED_FOR_ANNOTATION]: rotation } : {};
    if (await ensureSecret(ctx, l.secretName, l.kind, data, annotations, l.secret)) {
      secretWrites++;
      if (l.secret && !l.rotated) drift++;
    }
  }
  for (const l of logins) {
    if (created.includes(l.role)) continue;
    const badPassword = !l.fresh && !conn.passwordLoginsRefused && (await loginWorks(conns, target(conn, database, l.role, l.password))) === 'badPassword';
    if (l.fresh || badPassword) {
      await conns.withClient(target(conn, MAINTENANCE_DATABASE), (c) => setPassword(c, l.role, l.password, log));
      if (badPassword) drift++;
      if (l.rotated) await ctx.event('Normal', 'CredentialsRotated', `new password for role ${l.role} in Secret ${l.secretName}`);
    }
  }
  return { drift, secretWrites };
}

function syncFailure(ctx: TenantDatabaseContext, err: unknown, log: StatementLog): PartOutcome {
  // Stalled reasons include DatabaseExists/RoleExists (there before, not adopted: nothing was changed);
  // the kit's status write turns a Stalled Ready into a Warning Event.
  if (err instanceof SyncError) return failure(err.reason, err.message, true, { requeueAfterMs: STALLED_RECHECK_MS });
  if (err instanceof DatabaseCreating) return failure('CreatingDatabase', `${err.message}; looking again shortly`, false, { requeueAfterMs: CREATING_POLL_MS });
  const f = classifyFailure(err);
  ctx.log.info({ kind: f.kind, code: f.code, statements: log.statements.length }, 'database sync failed');
  if (f.kind === 'privilege') return failure('InsufficientPrivilege', f.message, true, { requeueAfterMs: STALLED_RECHECK_MS });
  if (f.transient) return failure('ConnectionFailed', f.message, false, { retry: true });
  return failure('DatabaseNotReady', f.message, false, { retry: true });
}

function outcome(sync: SyncInput, logins: Login[], catalog: CatalogResult): PartOutcome {
  const { ctx, roles, database, rotation } = sync;
  const status = {
    connectionSecret: secretNameFor(ctx, 'application'),
    database: {
      name: database,
      owner: roles.owner,
      extensions: catalog.extensionsPresent,
      connectionSecrets: logins.map((l) => l.secretName),
      ...(rotation !== undefined ? { credentialsRotation: rotation } : {}),
    },
  };
  if (catalog.extensionsFailed.length) {
    const message = catalog.extensionsFailed.map((f) => `${f.name}: ${f.message}`).join('; ');
    return failure('ExtensionUnavailable', `extension(s) not created (allow-list them on the server or remove them from spec.database.extensions): ${message}`, true, { status, requeueAfterMs: STALLED_RECHECK_MS });
  }
  // Changes made inside PostgreSQL (a GRANT by hand) raise no Kubernetes event: look again now and then.
  return { condition: { type: TYPE, ok: true, reason: 'DatabaseReady', message: `database ${database}, its roles and connection Secrets are in shape` }, status, requeueAfterMs: DRIFT_CHECK_MS };
}

async function reconcile(ctx: TenantDatabaseContext, conn: ServerConnection): Promise<PartOutcome> {
  const rotation = ctx.obj.metadata.annotations?.[ROTATE_ANNOTATION];
  const sync: SyncInput = { ctx, conns: postgresConnections(ctx.settings.postgres), conn, roles: managedRoles(ctx), database: ctx.spec.database.name, rotation, log: new StatementLog() };
  const logins = await decideLogins(ctx, sync.roles, rotation);
  if (!Array.isArray(logins)) return logins;
  const principals = principalWants(ctx, sync.roles);
  if (!principals.ok) return failure(principals.reason, principals.message, true, { requeueAfterMs: STALLED_RECHECK_MS });
  const passwordOf = (role: string) => logins.find((l) => l.role === role)?.password ?? generatePassword();
  let catalog: CatalogResult;
  try {
    catalog = await syncCatalog(sync, passwordOf, principals.wants);
    // What the catalog steps changed on a database already made for this spec is drift someone caused.
    const catalogDrift = sync.log.statements.length;
    const { drift, secretWrites: loginWrites } = await syncLogins(sync, logins, catalog.created);
    const secretWrites = loginWrites + (await syncPrincipalSecrets(ctx, conn, sync.database, clientCa(ctx, conn), catalog.principalsDropped));
    if (sync.log.statements.length || secretWrites) ctx.log.info({ statements: sync.log.statements.length, secretWrites }, 'database synced');
    const settled = ctx.status.database?.name === sync.database && ctx.status.observedGeneration === ctx.generation;
    if (catalogDrift + drift && settled && !catalog.created.length) {
      await ctx.event('Normal', 'DriftRepaired', `${catalogDrift + drift} change(s) made by hand to the database, its roles or connection Secrets were put back`);
    }
  } catch (err) {
    return syncFailure(ctx, err, sync.log);
  }
  return outcome(sync, logins, catalog);
}

async function finalize(ctx: TenantDatabaseContext, conn: ServerConnection | undefined): Promise<FinalizeStep> {
  const principalSecrets = (ctx.spec.entraPrincipals ?? []).map((p) => principalSecretName(ctx, p.name));
  const names = [...loginRoles(managedRoles(ctx)).map((l) => secretNameFor(ctx, l.kind)), ...principalSecrets];
  if (ctx.spec.deletionPolicy !== 'Delete') {
    for (const n of names) await releaseSecret(ctx, n);
    return { done: true };
  }
  if (!conn) {
    // No credentials left to reach the server (the admin Secret went first, as in a namespace deletion):
    // waiting would block the deletion forever, so the database stays, and people are told.
    await ctx.event('Warning', 'DatabaseRetained', `deletionPolicy is Delete but the server's credentials are gone: database ${ctx.spec.database.name} and its roles were left in place`);
    for (const n of names) await deleteSecret(ctx, n);
    return { done: true };
  }
  const database = ctx.spec.database.name;
  let result: DropResult;
  try {
    result = await dropWhatWeCreated(ctx, conn);
  } catch (err) {
    const f = classifyFailure(err);
    await ctx.event('Warning', 'DeletionFailed', `dropping database ${database} and its roles: ${f.message}`);
    return { done: false, failed: true, message: f.message };
  }
  for (const n of names) await deleteSecret(ctx, n);
  const kept = result.rolesKept.length ? `; role(s) kept because objects still depend on them: ${result.rolesKept.join(', ')}` : '';
  if (result.database === 'dropped') await ctx.event('Normal', 'DatabaseDeleted', `database ${database} and the roles the operator created were dropped${kept}`);
  else {
    const why = result.database === 'kept' ? 'was not created by this object (adopted or there before) and is kept' : 'was already gone';
    await ctx.event('Normal', 'DatabaseKept', `database ${database} ${why}: deletionPolicy Delete drops only what this object created; roles it created were dropped${kept}`);
  }
  return { done: true };
}

interface DropResult {
  database: 'dropped' | 'kept' | 'absent';
  rolesKept: string[];
}

/**
 * Delete: the database only when it carries this object's marker (created by it), the roles only those
 * carrying it too (found by the marker, so roles taken out of the spec earlier go as well). When the
 * database stays, the roles this object created first lose their privileges in it so they can be dropped;
 * one that still owns it (or objects in it) is kept and reported.
 */
async function dropWhatWeCreated(ctx: TenantDatabaseContext, conn: ServerConnection): Promise<DropResult> {
  const conns = postgresConnections(ctx.settings.postgres);
  const markers = markersOf(ctx);
  const database = ctx.spec.database.name;
  const server = target(conn, MAINTENANCE_DATABASE);
  const log = new StatementLog();
  const { db, created } = await conns.withClient(server, async (c) => ({ db: await readDatabase(c, database, []), created: (await readRolesMarked(c, [markers.created])).map((r) => r.name) }));
  // The Entra principals this object created lose access first (they are members of its login roles).
  await conns.withClient(server, (c) => syncEntraPrincipals(c, [], entraPrincipalMarker(markers.created), [], log));
  const owner = ctx.spec.roles.owner;
  // Login roles first, the owner last: it owns what the others were granted.
  const ordered = [...created.filter((n) => n !== owner), ...created.filter((n) => n === owner)];
  let state: DropResult['database'] = 'absent';
  if (db && db.comment === markers.created) {
    await conns.forget({ host: conn.host, port: conn.port, database });
    await conns.withClient(server, async (c) => {
      // Nobody new gets in while the sessions end.
      await blockLogins(c, created, markers.created, log);
      await terminateSessions(c, database);
      if (conn.databases) await conn.databases.drop(database);
      else await dropDatabase(c, database, log);
    });
    state = 'dropped';
  } else if (db) {
    // Nothing of ours to take out of a database never ours (a stalled object): not even a connection to it.
    const logins = created.filter((n) => n !== db.owner);
    if (logins.length) {
      await conns.withClient(server, (c) => retireLogins(c, logins, database, db.owner, log));
      await conns.withClient(target(conn, database), (c) => revokeInDatabase(c, logins, db.owner, log));
    }
    state = 'kept';
  }
  const { kept } = await conns.withClient(server, (c) => dropRolesLeft(c, ordered, log));
  return { database: state, rolesKept: kept.map((k) => k.name) };
}

export const databasePart: DatabasePart = {
  name: 'database',
  applies: () => true,
  reconcile,
  finalize,
};
