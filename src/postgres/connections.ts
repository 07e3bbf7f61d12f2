// The one module that owns connections to database servers. Pools are per server, role and database
// (keyed by a hash that includes the password, so a rotated password gets a fresh pool and the old one
// drains), small, and close idle connections quickly: a fleet of thousands of databases must not hold a
// connection each forever. TLS verifies the server by default (verify-full against the public roots plus
// `--postgres-ca-file` and the target's own CA), always against the logical host name, even when
// `--postgres-hosts-file` maps that name to another address. verify-ca checks no name, so it trusts only
// the CA the target gives (any certificate a public root signed would otherwise do). A target below the
// installer's floor (`--postgres-min-sslmode`) is refused before any byte goes to the server.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import pg from 'pg';
import type { PostgresSettings } from '../settings.js';
import { HostsFile } from './hosts.js';
import { connectedStream, dialTls, type DialedChannel } from './dial.js';

export type SslMode = 'require' | 'verify-ca' | 'verify-full';

/** TLS modes from weakest to strongest. */
export const SSL_MODES: readonly SslMode[] = ['require', 'verify-ca', 'verify-full'];

/** The floor when the installer sets none: only verify-full. */
export const DEFAULT_MIN_SSL_MODE: SslMode = 'verify-full';

/** True when `mode` is at least as strong as `floor`. */
export function sslModeAllowed(mode: SslMode, floor: SslMode = DEFAULT_MIN_SSL_MODE): boolean {
  return SSL_MODES.indexOf(mode) >= SSL_MODES.indexOf(floor);
}

/** A target asks for less TLS than the installer allows; nothing was sent to the server. */
export class TlsModeNotAllowedError extends Error {
  override name = 'TlsModeNotAllowedError';
  readonly code = 'TLSModeNotAllowed';
  constructor(
    readonly mode: SslMode,
    readonly floor: SslMode,
  ) {
    super(`sslMode ${mode} is below the operator's minimum ${floor} (--postgres-min-sslmode); use ${floor}${floor === 'verify-full' ? '' : ' or stronger'}, or ask the installer to allow ${mode}`);
  }
}

/**
 * A password that is a Microsoft Entra access token (a token login): fetched, from its source's cache, for
 * every new connection, so a pool never dials with an expired one.
 */
export interface TokenPassword {
  /** Stable name of the identity for pool keys (the token itself changes on every refresh). */
  identity: string;
  token(): Promise<string>;
}


/**
 * A pooled session opened with a token ends after this long (Azure does not end a session whose token
 * expires, so this only keeps sessions from living on for hours past the token they opened with).
 */
export const TOKEN_SESSION_MAX_LIFETIME_S = 55 * 60;

export interface ServerTarget {
  host: string;
  port: number;
  sslMode: SslMode;
  /** PEM of a CA the server certificate may chain to (besides the public roots and --postgres-ca-file). */
  caPem?: string | undefined;
  user: string;
  password: string;
  /** A token login: the password is this token source's current token (`password` is then ignored). */
  token?: TokenPassword | undefined;
}

export interface DbTarget extends ServerTarget {
  database: string;
}

export interface ConnectionOptions {
  connectTimeoutMs?: number;
  /** statement_timeout of every session; a runaway catalog query must not hold a worker. */
  statementTimeoutMs?: number;
  /** Client-side bound on every query (a server or network that stops answering); default statement timeout + 5 s. */
  queryTimeoutMs?: number;
  /** Idle connections are closed after this long. */
  idleTimeoutMs?: number;
  /** Connections per pool. */
  maxPerPool?: number;
  /** A pool unused for this long is ended and forgotten. */
  poolIdleMs?: number;
  applicationName?: string;
}

/** Session settings sent at login: application_name, and GUCs (`-c name=value`, e.g. role). */
export interface SessionSettings {
  applicationName?: string;
  settings?: Record<string, string>;
}

/** One `-c name=value` of the startup `options`: backslash escapes spaces and itself (PostgreSQL's pg_split_opts). */
function startupOption(name: string, value: string): string {
  if (!/^[a-z_][a-z0-9_.]*$/.test(name)) throw new Error(`not a setting name: ${name}`);
  return `-c ${name}=${value.replace(/[\\ ]/g, (c) => `\\${c}`)}`;
}

function startupSettings(s: SessionSettings | undefined): Pick<pg.ClientConfig, 'application_name' | 'options'> {
  if (!s) return {};
  const options = Object.entries(s.settings ?? {}).map(([k, v]) => startupOption(k, v)).join(' ');
  return { ...(s.applicationName !== undefined ? { application_name: s.applicationName.slice(0, 63) } : {}), ...(options ? { options } : {}) };
}

/** Distinct TLS contexts kept (per CA set; a fleet usually has one or two). */
const MAX_TLS_CONTEXTS = 32;

// The client-side bound waits this long past the server's statement_timeout, so the server's own
// cancellation (a clean SQLSTATE 57014) normally comes first.
const QUERY_TIMEOUT_GRACE_MS = 5_000;

const DEFAULTS: Omit<Required<ConnectionOptions>, 'queryTimeoutMs'> & { queryTimeoutMs?: number } = {
  connectTimeoutMs: 10_000,
  statementTimeoutMs: 30_000,
  idleTimeoutMs: 10_000,
  maxPerPool: 3,
  poolIdleMs: 60_000,
  applicationName: 'tenantdb-operator',
};

function tokenFn(p: TokenPassword): () => Promise<string> {
  return () => p.token();
}

/** A PostgreSQL error as conditions and Events may show it: no connection details, no secrets. */
export interface PgErrorInfo {
  code?: string;
  message: string;
  detail?: string;
  hint?: string;
  position?: number;
}

export function describePgError(err: unknown): PgErrorInfo {
  if (err instanceof pg.DatabaseError) {
    return {
      ...(err.code ? { code: err.code } : {}),
      message: err.message,
      ...(err.detail ? { detail: err.detail } : {}),
      ...(err.hint ? { hint: err.hint } : {}),
      ...(err.position ? { position: Number(err.position) } : {}),
    };
  }
  const e = err as NodeJS.ErrnoException | undefined;
  const message = e instanceof Error ? e.message : String(err);
  return { ...(e?.code ? { code: String(e.code) } : {}), message };
}

/** SQLSTATE classes and network errors worth retrying with backoff (vs. a spec or privilege problem). */
export function isTransientPgError(err: unknown): boolean {
  const code = (err as { code?: string } | undefined)?.code ?? '';
  if (/^(08|53|57P0[1-3]|40)/.test(code)) return true; // connection, resources, shutdown, serialization/deadlock
  return ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND', 'EPIPE'].includes(code) || /timeout/i.test((err as Error)?.message ?? '');
}

interface PoolEntry {
  pool: pg.Pool;
  lastUsed: number;
  /** A session being opened ahead of a query (warm); the next query waits for it instead of opening another. */
  warming?: Promise<void> | undefined;
}

export class PostgresConnections {
  private readonly pools = new Map<string, PoolEntry>();
  private readonly contexts = new Map<string, tls.SecureContext>();
  private readonly hosts: HostsFile;
  private readonly extraCa: string | undefined;
  private readonly minSslMode: SslMode;
  private readonly opts: typeof DEFAULTS;
  private readonly sweeper: NodeJS.Timeout;

  constructor(settings: PostgresSettings, opts: ConnectionOptions = {}) {
    this.opts = { ...DEFAULTS, ...opts };
    this.hosts = new HostsFile(settings.hostsFile);
    this.extraCa = settings.caFile ? fs.readFileSync(settings.caFile, 'utf8') : undefined;
    this.minSslMode = settings.minSslMode ?? DEFAULT_MIN_SSL_MODE;
    this.sweeper = setInterval(() => void this.sweep(), Math.min(this.opts.poolIdleMs, 30_000));
    this.sweeper.unref();
  }

  /** The installer's floor; a target below it gets TlsModeNotAllowedError from every call. */
  allows(mode: SslMode): boolean {
    return sslModeAllowed(mode, this.minSslMode);
  }

  // verify-ca checks no host name: only the target's own CA (or, lacking one, the installer's) is trusted.
  private trustedCas(target: DbTarget): string[] {
    if (target.sslMode === 'verify-ca') return target.caPem ? [target.caPem] : this.extraCa ? [this.extraCa] : [];
    return [...tls.rootCertificates, ...(this.extraCa ? [this.extraCa] : []), ...(target.caPem ? [target.caPem] : [])];
  }

  /**
   * The TLS context of a set of trusted CAs, made once: building one parses every CA certificate (the
   * public roots are some 150), 4 to 18 ms of CPU per connection on the 2-core machine, paid twice
   * before a fresh database's first migration step (the administrator's session and the migration login).
   */
  private secureContextFor(target: DbTarget): tls.SecureContext {
    const key = `${target.sslMode === 'verify-ca' ? 'ca' : 'full'}\u0000${target.caPem ?? ''}`;
    let ctx = this.contexts.get(key);
    if (!ctx) {
      ctx = tls.createSecureContext({ ca: this.trustedCas(target) });
      // Targets come and go with the fleet; a bounded map keeps a handful of distinct CAs.
      if (this.contexts.size >= MAX_TLS_CONTEXTS) this.contexts.delete(this.contexts.keys().next().value as string);
      this.contexts.set(key, ctx);
    }
    return ctx;
  }

  /** pg client configuration for a target: address from the hosts file, TLS bound to the logical name. */
  clientConfig(target: DbTarget): pg.ClientConfig {
    if (!this.allows(target.sslMode)) throw new TlsModeNotAllowedError(target.sslMode, this.minSslMode);
    const override = this.hosts.lookup(target.host);
    const address = override?.host ?? target.host;
    const port = override?.port ?? target.port;
    const logical = target.host;
    const ssl: tls.ConnectionOptions = {
      secureContext: this.secureContextFor(target),
      rejectUnauthorized: target.sslMode !== 'require',
      ...(net.isIP(logical) === 0 ? { servername: logical } : {}),
      // verify-ca trusts any name the CA signed; verify-full checks the logical name, not the dialled address.
      checkServerIdentity: target.sslMode === 'verify-full' ? (_host, cert) => tls.checkServerIdentity(logical, cert) : () => undefined,
    };
    return {
      host: address,
      port,
      user: target.user,
      password: target.token ? tokenFn(target.token) : target.password,
      database: target.database,
      ssl,
      connectionTimeoutMillis: this.opts.connectTimeoutMs,
      statement_timeout: this.opts.statementTimeoutMs,
      query_timeout: this.opts.queryTimeoutMs ?? this.opts.statementTimeoutMs + QUERY_TIMEOUT_GRACE_MS,
      application_name: this.opts.applicationName,
      keepAlive: true,
    };
  }

  private key(t: DbTarget): string {
    const h = createHash('sha256');
    const password = t.token ? `token:${t.token.identity}` : t.password;
    for (const part of [t.host, String(t.port), t.sslMode, t.caPem ?? '', t.user, password, t.database]) h.update(part).update('\u0000');
    return h.digest('hex');
  }

  /** The pool, once a session opened ahead for it (warm) is in it. */
  private async readyPool(target: DbTarget): Promise<pg.Pool> {
    const entry = this.entryFor(target);
    if (entry.warming) await entry.warming;
    return entry.pool;
  }

  /**
   * Opens a session of the target's pool now, for a query that follows shortly: the backend's start and the
   * TLS handshake overlap what the caller does first (reading its inputs). query and withClient wait for it
   * rather than open a second session. Nothing when the pool has an idle session; a failure here is left to
   * that query to meet and report.
   */
  warm(target: DbTarget): void {
    const entry = this.entryFor(target);
    if (entry.warming || entry.pool.idleCount > 0 || entry.pool.totalCount >= this.opts.maxPerPool) return;
    const warming: Promise<void> = entry.pool
      .connect()
      .then(
        (c) => c.release(),
        () => undefined,
      )
      .finally(() => {
        if (entry.warming === warming) entry.warming = undefined;
      });
    entry.warming = warming;
  }

  private entryFor(target: DbTarget): PoolEntry {
    const k = this.key(target);
    let entry = this.pools.get(k);
    // The name now maps to another address (an HA failover, a virtual endpoint's writer after a switchover,
    // in the emulator's hosts file): a new pool, as a client resolving the name per connection would dial.
    if (entry && this.movedAway(entry.pool, target)) {
      this.pools.delete(k);
      void entry.pool.end().catch(() => undefined);
      entry = undefined;
    }
    if (!entry) {
      const lifetime = target.token ? { maxLifetimeSeconds: TOKEN_SESSION_MAX_LIFETIME_S } : {};
      const pool = new pg.Pool({ ...this.clientConfig(target), ...lifetime, max: this.opts.maxPerPool, idleTimeoutMillis: this.opts.idleTimeoutMs, allowExitOnIdle: true });
      // An idle connection the server closed (restart, failover) must not crash the process.
      pool.on('error', () => undefined);
      entry = { pool, lastUsed: Date.now() };
      this.pools.set(k, entry);
    }
    entry.lastUsed = Date.now();
    return entry;
  }

  private movedAway(pool: pg.Pool, target: DbTarget): boolean {
    const override = this.hosts.lookup(target.host);
    if (!override) return false;
    const o = pool.options as pg.PoolConfig;
    return o.host !== override.host || o.port !== (override.port ?? target.port);
  }

  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(target: DbTarget, text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    return (await this.readyPool(target)).query<R>(text, values);
  }

  async withClient<T>(target: DbTarget, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await (await this.readyPool(target)).connect();
    let broken: Error | undefined;
    // The pool listens for errors only on idle connections. One the server ends while it is checked out
    // and no query runs (a restart or failover sends 57P01) would emit an unheard 'error', which ends the
    // process; here it marks the session broken, and the caller's next query fails instead.
    const onError = (err: Error) => (broken ??= err);
    client.on('error', onError);
    try {
      return await fn(client);
    } catch (err) {
      // A connection whose session state is unknown (aborted COPY, SET ROLE left behind) is not reused.
      broken ??= err as Error;
      throw err;
    } finally {
      client.off('error', onError);
      client.release(broken ?? false);
    }
  }

  withTransaction<T>(target: DbTarget, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.withClient(target, async (client) => {
      await client.query('BEGIN');
      try {
        const r = await fn(client);
        await client.query('COMMIT');
        return r;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
  }

  /**
   * A dedicated session outside the pools (advisory locks held for a whole run). The caller ends it.
   * `session`: settings made in the startup packet (no round trip after the login; a role the login may
   * not take fails the login itself).
   */
  async connect(target: DbTarget, opts: { statementTimeoutMs?: number; session?: SessionSettings; dialed?: DialedChannel } = {}): Promise<pg.Client> {
    const cfg = { ...this.clientConfig(target), ...startupSettings(opts.session) };
    // A channel dialled ahead (dial) carries the login; pg sees a connected stream and no TLS to negotiate.
    const channel = await opts.dialed?.take();
    if (channel) Object.assign(cfg, { ssl: false, stream: () => connectedStream(channel) });
    const statementTimeout = opts.statementTimeoutMs ?? cfg.statement_timeout;
    // A caller that lifts the statement timeout (a migration run) lifts the client-side bound with it.
    const queryTimeout = opts.statementTimeoutMs === undefined ? cfg.query_timeout : opts.statementTimeoutMs > 0 ? opts.statementTimeoutMs + QUERY_TIMEOUT_GRACE_MS : undefined;
    const client = new pg.Client({ ...cfg, statement_timeout: statementTimeout, ...(queryTimeout !== undefined ? { query_timeout: queryTimeout } : { query_timeout: undefined }) });
    client.on('error', () => undefined);
    await client.connect();
    return client;
  }

  /**
   * A TLS channel to the target's server, opened now for a login made later with connect({ dialed }): the
   * backend's start and the handshake overlap what the caller does meanwhile. Refused like a login below
   * the TLS floor; verified with the same CA set and name check as the login's own TLS.
   */
  dial(target: DbTarget): DialedChannel {
    const cfg = this.clientConfig(target);
    return dialTls({ host: cfg.host as string, port: cfg.port as number, tls: cfg.ssl as tls.ConnectionOptions, timeoutMs: this.opts.connectTimeoutMs });
  }

  /** Ends pools whose target has not been used for a while (a deleted database, a rotated password). */
  async sweep(now = Date.now()): Promise<void> {
    const stale = [...this.pools.entries()].filter(([, e]) => now - e.lastUsed > this.opts.poolIdleMs);
    for (const [k, e] of stale) {
      this.pools.delete(k);
      await e.pool.end().catch(() => undefined);
    }
  }

  /** Ends every pool for this server and database (before DROP DATABASE, after a password change). */
  async forget(match: { host: string; port: number; database?: string }): Promise<void> {
    // Keys are hashes, so pools remember their target through their options.
    for (const [k, e] of [...this.pools.entries()]) {
      const o = e.pool.options as pg.PoolConfig & { database?: string };
      const override = this.hosts.lookup(match.host);
      const host = override?.host ?? match.host;
      if (o.host === host && (override?.port ?? match.port) === o.port && (match.database === undefined || o.database === match.database)) {
        this.pools.delete(k);
        await e.pool.end().catch(() => undefined);
      }
    }
  }

  poolCount(): number {
    return this.pools.size;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.map((e) => e.pool.end().catch(() => undefined)));
  }
}

const shared = new Map<string, PostgresConnections>();

/** The process-wide connections for these settings (one per distinct CA/hosts file/TLS floor). */
export function postgresConnections(settings: PostgresSettings): PostgresConnections {
  const k = `${settings.caFile ?? ''}\u0000${settings.hostsFile ?? ''}\u0000${settings.minSslMode ?? ''}`;
  let c = shared.get(k);
  if (!c) {
    c = new PostgresConnections(settings);
    shared.set(k, c);
  }
  return c;
}

/** Ends every shared pool (operator shutdown, test teardown). */
export async function closeAllPostgresConnections(): Promise<void> {
  const all = [...shared.values()];
  shared.clear();
  await Promise.all(all.map((c) => c.close()));
}
