// The migration login: `runAs: owner` steps run in a session that LOGGED IN as a role with the owner's
// rights and no more, never in the administrator's session with SET ROLE (RESET ROLE, SET ROLE <admin>
// or SET SESSION AUTHORIZATION in a script would hand it the administrator's rights back).
//
// The role, `<owner>_migrator` (hash-shortened past 63 bytes), is created by the administrator with LOGIN
// and nothing else (NOINHERIT, no SUPERUSER/CREATEROLE/CREATEDB/REPLICATION/BYPASSRLS), is a member of the
// owner role only, and carries the COMMENT `migratorMarker(owner)`, written in the transaction that creates
// it: that comment is how "created by the operator" is recorded, and a role of that name without it is
// never touched (the run fails with MigratorConflict). The session logs in with role = <owner>, so what a
// step creates is owned by the owner; RESET ROLE in a script returns to the owner, and SET ROLE to any
// other role fails: the login is a member of the owner only.
//
// Its password is never stored: each run gets a fresh one, valid for a few minutes (VALID UNTIL, which the
// role cannot change on itself), set as a SCRAM verifier, used to log in once, and removed (PASSWORD NULL)
// right after the login and again when the run ends (a script may set its own password; that one dies too).
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { withSetupLookingAt } from './lock.js';
import { generatePassword, scramVerifier } from '../database/scram.js';
import type { DbTarget, PostgresConnections, SessionSettings } from '../connections.js';
import type { DialedChannel } from '../dial.js';
import { ident, literal, MAX_IDENTIFIER_BYTES } from '../ident.js';

type Queryable = Pick<pg.ClientBase, 'query'>;

/** How long an issued password is valid: long enough to log in, short enough to be worthless after. */
const PASSWORD_VALID_MS = 2 * 60_000;
/**
 * PBKDF2 rounds of the one-time password's verifier. The rounds slow down guessing a password a person
 * chose; this one is 256 random bits, valid for two minutes and revoked once the session is open, so
 * 4,096 rounds would add nothing but their cost, paid twice (the verifier here, the proof at login)
 * before a run's first statement.
 */
const ONE_TIME_SCRAM_ITERATIONS = 16;

export class MigratorError extends Error {
  override name = 'MigratorError';
  constructor(
    readonly reason: 'MigratorConflict' | 'MigratorUnavailable',
    message: string,
  ) {
    super(message);
  }
}

/** The COMMENT that records that the operator created this migration login for `owner`. */
export function migratorMarker(owner: string): string {
  return `tenantdb-operator migration login for role ${owner}`;
}

/** `<owner>_migrator`, or a shortened owner name with a hash when that would not fit in 63 bytes. */
export function migratorRoleName(owner: string): string {
  const plain = `${owner}_migrator`;
  if (Buffer.byteLength(plain, 'utf8') <= MAX_IDENTIFIER_BYTES) return plain;
  const hash = createHash('sha256').update(owner).digest('hex').slice(0, 8);
  let head = owner;
  while (Buffer.byteLength(`${head}_${hash}_migrator`, 'utf8') > MAX_IDENTIFIER_BYTES) head = head.slice(0, -1);
  return `${head}_${hash}_migrator`;
}

const WANT = 'LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS';
/** The clauses migratorQuery may name as drift (nothing else read back is put into a statement). */
const DRIFT_CLAUSES = new Set(WANT.split(' '));

interface MigratorRow {
  comment: string | null;
  /** The attributes that differ from WANT, as the clauses that put them back (e.g. NOINHERIT). */
  drift: string[];
  member_of: string[];
  /** CONNECT on the current database. */
  can_connect: boolean;
}

/** The login's state, for the role named by `who` (a parameter, or a quoted literal). */
function migratorQuery(who: string): string {
  return `SELECT shobj_description(r.oid, 'pg_authid') AS comment,
            array_remove(ARRAY[CASE WHEN r.rolsuper THEN 'NOSUPERUSER' END, CASE WHEN r.rolinherit THEN 'NOINHERIT' END,
              CASE WHEN r.rolcreaterole THEN 'NOCREATEROLE' END, CASE WHEN r.rolcreatedb THEN 'NOCREATEDB' END,
              CASE WHEN r.rolreplication THEN 'NOREPLICATION' END, CASE WHEN r.rolbypassrls THEN 'NOBYPASSRLS' END,
              CASE WHEN NOT r.rolcanlogin THEN 'LOGIN' END], NULL)::text[] AS drift,
            array(SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid ORDER BY 1)::text[] AS member_of,
            has_database_privilege(r.oid, current_database(), 'CONNECT') AS can_connect
       FROM pg_roles r WHERE r.rolname = ${who}`;
}

async function readMigrator(db: Queryable, name: string): Promise<MigratorRow | undefined> {
  const r = await db.query<MigratorRow>(migratorQuery('$1'), [name]);
  return r.rows[0];
}

/**
 * Makes the migration login of `owner` exist in shape (as the administrator): created with our marker
 * when absent; when it is ours, attributes and memberships put back (member of the owner, of nothing
 * else), and CONNECT on this database. `have`: its state as read under the set-up lock (undefined: no
 * such role).
 */
async function ensureMigrator(db: Queryable, owner: string, have: MigratorRow | undefined): Promise<void> {
  const login = await ensureMigratorRole(db, migratorRoleName(owner), owner, have);
  if (!have?.can_connect) await ensureConnect(db, login);
}

async function ensureMigratorRole(db: Queryable, name: string, owner: string, have: MigratorRow | undefined): Promise<string> {
  const marker = migratorMarker(owner);
  if (!have) {
    await db.query('BEGIN');
    try {
      await db.query(`CREATE ROLE ${ident(name)} WITH ${WANT} PASSWORD NULL`);
      await db.query(`COMMENT ON ROLE ${ident(name)} IS ${literal(marker)}`);
      await db.query(`GRANT ${ident(owner)} TO ${ident(name)}`);
      await db.query('COMMIT');
    } catch (err) {
      await db.query('ROLLBACK').catch(() => undefined);
      if ((await readMigrator(db, name))?.comment === marker) return name; // another runner made it first
      throw new MigratorError('MigratorUnavailable', `the administrator cannot create the migration login ${name} (it needs CREATEROLE and ADMIN on ${owner}): ${(err as Error).message}`);
    }
    return name;
  }
  if (have.comment !== marker) {
    throw new MigratorError('MigratorConflict', `role ${name} exists and was not created by the operator as the migration login of ${owner}; drop or rename it`);
  }
  const extra = have.member_of.filter((m) => m !== owner);
  if (have.drift.length === 0 && extra.length === 0 && have.member_of.includes(owner)) return name;
  // Only the attributes that drifted are named: naming SUPERUSER, REPLICATION or BYPASSRLS at all (even to
  // say NO) needs a superuser, which an Azure administrator is not.
  const cannot = (err: unknown) => new MigratorError('MigratorUnavailable', `the migration login ${name} holds more than the rights of ${owner} (${[...have.drift, ...extra.map((g) => `member of ${g}`)].join(', ')}) and the administrator cannot take them back: ${(err as Error).message}`);
  try {
    const clauses = have.drift.filter((c) => DRIFT_CLAUSES.has(c));
    if (clauses.length > 0) await db.query(`ALTER ROLE ${ident(name)} WITH ${clauses.join(' ')}`);
    for (const g of extra) await db.query(`REVOKE ${ident(g)} FROM ${ident(name)}`);
    if (!have.member_of.includes(owner)) await db.query(`GRANT ${ident(owner)} TO ${ident(name)}`);
  } catch (err) {
    throw cannot(err);
  }
  // What was put back is read again: an administrator without ADMIN on a role cannot revoke it.
  const after = await readMigrator(db, name);
  if ((after?.drift.length ?? 0) > 0 || after?.member_of.some((m) => m !== owner)) {
    throw new MigratorError('MigratorUnavailable', `the migration login ${name} holds more than the rights of ${owner} and the administrator cannot take them back`);
  }
  return name;
}

/**
 * CONNECT on the current database: the login does not inherit the owner's rights (NOINHERIT), and the
 * database part takes CONNECT from PUBLIC. Granted as the owner (the administrator acts through its
 * membership), only when missing.
 */
async function ensureConnect(db: Queryable, login: string): Promise<void> {
  const r = await db.query<{ ok: boolean; d: string }>(`SELECT has_database_privilege($1, current_database(), 'CONNECT') AS ok, current_database() AS d`, [login]);
  const row = r.rows[0];
  if (!row || row.ok) return;
  await db.query(`GRANT CONNECT ON DATABASE ${ident(row.d)} TO ${ident(login)}`);
}

/** Removes the login's password: nobody logs in as it between runs. */
export async function revokeMigratorPassword(db: Queryable, name: string): Promise<void> {
  await db.query(`ALTER ROLE ${ident(name)} WITH PASSWORD NULL`);
}

/** One issue-and-login at a time per server and login (in this process): two runs must not swap passwords. */
const issuing = new Map<string, Promise<unknown>>();

function serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const prev = issuing.get(key) ?? Promise.resolve();
  const next = prev.catch(() => undefined).then(fn);
  issuing.set(key, next);
  void next.finally(() => {
    if (issuing.get(key) === next) issuing.delete(key);
  }).catch(() => undefined);
  return next;
}

/** What the administrator does on its session while the login's connection is being made. */
export type Meanwhile = (admin: Queryable) => Promise<void>;

export interface MigratorSession {
  client: pg.Client;
  login: string;
  /**
   * Settles once the password is removed again and the set-up lock released, on the administrator's
   * session while the new session makes its first round trip. No step may run before it resolves; when
   * it rejects, the session is still the caller's to end.
   */
  settled: Promise<void>;
}

/**
 * The migration session of `owner` on `admin`'s database: the login ensured, a one-time password issued
 * and used, the password removed again, and the session acting as the owner (role set at login). Under
 * the set-up lock, so no other runner of this database issues a password in between. `meanwhile` runs on
 * the administrator's session while the login connects (a fresh database's history table: the TLS
 * handshake and the backend start overlap it instead of following it). The set-up's first round trip
 * takes the lock and reads the login's state together; the session is handed over as soon as it is open,
 * and the password's removal is `settled`. The caller ends the session and calls revokeMigratorPassword
 * afterwards.
 */
export async function connectAsMigrator(
  conns: PostgresConnections,
  admin: DbTarget,
  owner: string,
  opts: { session?: SessionSettings; meanwhile?: Meanwhile } = {},
): Promise<MigratorSession> {
  // The login's channel is dialled now: the server starts its backend and the TLS handshake is made while
  // the administrator takes the lock, checks the login and issues its password.
  const dialed = conns.dial(admin);
  const login = migratorRoleName(owner);
  let handOver!: (client: pg.Client) => void;
  const handed = new Promise<pg.Client>((resolve) => (handOver = resolve));
  const settled = conns
    .withClient(admin, (a) =>
      withSetupLookingAt<MigratorRow, void>(a, migratorQuery(literal(login)), async ([seen]) => {
        await ensureMigrator(a, owner, seen);
        const key = `${admin.host}:${admin.port}/${login}`;
        await serialized(key, () => issueAndLogin(conns, a, admin, login, ownerSession(owner, opts.session), { meanwhile: opts.meanwhile, dialed, handOver }));
      }),
    )
    .finally(() => dialed.abandon());
  // Awaited by the caller; until then a rejection must not count as unheard.
  settled.catch(() => undefined);
  const ended = settled.then(() => Promise.reject(new Error('the migration login ended without a session')));
  return { client: await Promise.race([handed, ended]), login, settled };
}

interface LoginParts {
  meanwhile: Meanwhile | undefined;
  dialed: DialedChannel;
  /** Gives the open session to the caller: its first round trip may go while the password is removed. */
  handOver: (client: pg.Client) => void;
}

/** One-time password, login (handed over), password removed; `meanwhile` alongside the first login. */
async function issueAndLogin(conns: PostgresConnections, a: Queryable, admin: DbTarget, login: string, session: SessionSettings, parts: LoginParts): Promise<void> {
  // Another operator process (of another database on this server) may issue its own password between
  // ours and the login: try again.
  for (let attempt = 1; ; attempt++) {
    const password = generatePassword();
    const until = new Date(Date.now() + PASSWORD_VALID_MS).toISOString();
    await a.query(`ALTER ROLE ${ident(login)} WITH LOGIN PASSWORD ${literal(scramVerifier(password, { iterations: ONE_TIME_SCRAM_ITERATIONS }))} VALID UNTIL ${literal(until)}`);
    const connecting = conns.connect({ ...admin, user: login, password }, { statementTimeoutMs: 0, session, ...(attempt === 1 ? { dialed: parts.dialed } : {}) });
    const [conn, side] = await Promise.allSettled([connecting, attempt === 1 && parts.meanwhile ? parts.meanwhile(a) : Promise.resolve()]);
    const client = conn.status === 'fulfilled' ? conn.value : undefined;
    const handed = client !== undefined && side.status === 'fulfilled';
    if (handed) parts.handOver(client);
    try {
      await revokeMigratorPassword(a, login);
      if (side.status === 'rejected') throw side.reason;
    } catch (err) {
      if (!handed) await client?.end().catch(() => undefined);
      throw err;
    }
    if (client) return;
    const err = (conn as PromiseRejectedResult).reason as { code?: string };
    if (err.code !== '28P01' || attempt >= 3) throw err;
  }
}

/**
 * The session's settings with role = owner, made at login: what a step creates is the owner's, and
 * RESET ROLE in a script returns to the owner (the role's value at login), never past the login's own
 * rights. A login that may not take the role is refused at login.
 */
function ownerSession(owner: string, session: SessionSettings = {}): SessionSettings {
  return { ...session, settings: { ...session.settings, role: owner } };
}

/**
 * A session of a login that is already a member of the owner only (the Entra migrations principal, a token
 * login that needs no password issued), acting as the owner.
 */
export async function connectAs(conns: PostgresConnections, login: DbTarget, owner: string, session?: SessionSettings): Promise<pg.Client> {
  return conns.connect(login, { statementTimeoutMs: 0, session: ownerSession(owner, session) });
}
