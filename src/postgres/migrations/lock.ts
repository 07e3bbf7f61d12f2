// The advisory lock that makes one runner per database at a time. Two-int form
// pg_advisory_lock(MIGRATION_LOCK_CLASS, 0): the class is the constant 0x74646231 (ASCII "tdb1"), the
// object 0 means "the migration history of this database". Advisory locks are per database, so this
// serialises every Migration object on one database (two Migrations, two operator replicas, a person
// running the operator's runner by hand) while databases of a fleet proceed in parallel. It is
// session-level and held on the runner's dedicated session for the whole run; a dead session releases it.
import type pg from 'pg';

export const MIGRATION_LOCK_CLASS = 0x74646231;
export const MIGRATION_LOCK_OBJECT = 0;
/** Object 1: the administrator's short set-up before a run (history table, the owner's grants on it). */
export const SETUP_LOCK_OBJECT = 1;

// The statements, with the constants written in: the same text serves a parameterless simple-protocol
// query that sends a read behind the lock (lockThen).
const SETUP_LOCK = `SELECT pg_advisory_lock(${MIGRATION_LOCK_CLASS}, ${SETUP_LOCK_OBJECT})`;
const SETUP_UNLOCK = `SELECT pg_advisory_unlock(${MIGRATION_LOCK_CLASS}, ${SETUP_LOCK_OBJECT})`;
const TRY_LOCK = `SELECT pg_try_advisory_lock(${MIGRATION_LOCK_CLASS}, ${MIGRATION_LOCK_OBJECT}) AS ok`;

/**
 * Runs `fn` holding the set-up lock (session-level, waited for: set-ups take milliseconds; the session's
 * statement timeout bounds the wait). Two runners setting up at once would otherwise race on the catalog
 * (GRANT from two sessions: "tuple concurrently updated").
 */
export function withSetupLock<T>(db: pg.ClientBase, fn: () => Promise<T>): Promise<T> {
  return holdingSetupLock(db, () => db.query(SETUP_LOCK), fn);
}

/**
 * The set-up lock and, in the same round trip, `look` (one statement of literals) read once the lock is
 * held; `fn` gets its rows. For a set-up whose first question is asked the moment the lock is held.
 */
export function withSetupLookingAt<R extends pg.QueryResultRow, T>(db: pg.ClientBase, look: string, fn: (rows: R[]) => Promise<T>): Promise<T> {
  return holdingSetupLock(db, async () => (await lockThen<R>(db, SETUP_LOCK, look)).then, fn);
}

/** `take` gets the set-up lock (and what it reads with it); released after `fn`, whatever its outcome. */
async function holdingSetupLock<S, T>(db: pg.ClientBase, take: () => Promise<S>, fn: (seen: S) => Promise<T>): Promise<T> {
  const seen = await take();
  try {
    return await fn(seen);
  } finally {
    await db.query(SETUP_UNLOCK).catch(() => undefined);
  }
}

/** tryLock and, in the same round trip, `then` (one statement of literals) read after the lock was tried. */
export async function tryLockThen<R extends pg.QueryResultRow>(db: pg.ClientBase, then: string): Promise<{ ok: boolean; rows: R[] }> {
  const seen = await lockThen<R>(db, TRY_LOCK, then);
  return { ok: (seen.lock[0] as { ok?: boolean } | undefined)?.ok === true, rows: seen.then };
}

/**
 * A lock statement and a read in ONE simple-protocol query (no parameters: literals only). The lock is a
 * transaction of its own, so the read's snapshot is taken after the lock is held whatever the session's
 * default isolation: two statements of one implicit transaction would share a REPEATABLE READ snapshot
 * from before the lock, and miss what the runner before us committed. On an error the session is left
 * in a failed transaction block; callers discard it.
 */
async function lockThen<R extends pg.QueryResultRow>(db: pg.ClientBase, lock: string, then: string): Promise<{ lock: pg.QueryResultRow[]; then: R[] }> {
  const r = (await db.query(`BEGIN; ${lock}; COMMIT; ${then}`)) as unknown as pg.QueryResult[];
  return { lock: r[1]?.rows ?? [], then: (r[3]?.rows ?? []) as R[] };
}

export async function tryLock(db: pg.ClientBase): Promise<boolean> {
  const r = await db.query<{ ok: boolean }>(TRY_LOCK);
  return r.rows[0]?.ok === true;
}

export async function unlock(db: pg.ClientBase): Promise<void> {
  await db.query('SELECT pg_advisory_unlock($1, $2)', [MIGRATION_LOCK_CLASS, MIGRATION_LOCK_OBJECT]);
}

/** Who holds the lock now (application_name and pid), for "waiting for the lock" messages. */
export async function lockHolder(db: pg.ClientBase): Promise<string | undefined> {
  const r = await db.query<{ pid: number; app: string | null }>(
    `SELECT l.pid, a.application_name AS app FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.classid = $1::int::oid AND l.objid = $2::int::oid AND l.objsubid = 2 AND l.granted`,
    [MIGRATION_LOCK_CLASS, MIGRATION_LOCK_OBJECT],
  );
  const h = r.rows[0];
  return h ? `${h.app || 'a session'} (pid ${h.pid})` : undefined;
}

/**
 * For other writers of DDL in a tenant database (the TenantDatabase tenancy part's row-level security
 * and partition maintenance): run `fn` holding the migration lock, or report `busy` at once when a
 * migration run holds it, so the two never change the same tables' catalogs concurrently ("tuple
 * concurrently updated" on GRANT/ALTER). Session-level, on the caller's session; always released.
 */
export async function withMigrationLockIfFree<T>(db: pg.ClientBase, fn: () => Promise<T>): Promise<{ busy: true } | { busy: false; value: T }> {
  if (!(await tryLock(db))) return { busy: true };
  try {
    return { busy: false, value: await fn() };
  } finally {
    await unlock(db).catch(() => undefined);
  }
}
