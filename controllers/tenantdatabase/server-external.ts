// The external-server part: an existing PostgreSQL server the operator only connects to, with the admin
// Secret (username, password) and the CA Secret; it never changes the server itself. Each pass checks that
// the server answers over verified TLS and that the role may create databases and roles (CREATEDB and
// CREATEROLE, or superuser), so the parts below get a usable connection or a condition saying why not.
// An sslMode below the installer's floor (--postgres-min-sslmode) is Stalled before any connection.
import { adminTarget } from '../../src/tenantdatabase/index.js';
import { classifyFailure } from '../../src/postgres/classify.js';
import { DEFAULT_MIN_SSL_MODE, postgresConnections, TlsModeNotAllowedError, type DbTarget } from '../../src/postgres/connections.js';
import { readCurrentUser } from '../../src/postgres/database/catalog.js';
import type { ServerConnection, ServerOutcome, ServerPart, TenantDatabaseContext } from './context.js';

/** The database the administrator connects to for server-level work (roles, CREATE DATABASE). */
export const MAINTENANCE_DATABASE = 'postgres';

const RETRY_STALLED_MS = 5 * 60_000;

function serverTarget(ctx: TenantDatabaseContext): { ok: true; target: DbTarget } | { ok: false; reason: string; message: string } {
  const r = adminTarget({ spec: ctx.spec, status: ctx.status }, ctx.secretValue);
  if (!r.ok) return r;
  return { ok: true, target: { ...r.target, database: MAINTENANCE_DATABASE } };
}

function toConnection(t: DbTarget): ServerConnection {
  return { kind: 'external', host: t.host, port: t.port, sslMode: t.sslMode, ...(t.caPem !== undefined ? { caPem: t.caPem } : {}), adminUser: t.user, adminPassword: t.password };
}

export const externalServerPart: ServerPart = {
  async reconcile(ctx): Promise<ServerOutcome> {
    const ext = ctx.spec.server.external;
    const host = ext?.host;
    const t = serverTarget(ctx);
    if (!t.ok) {
      // A missing Secret comes back through the Secret watch; no need to poll for it.
      return { condition: { type: 'ServerReady', ok: false, stalled: true, reason: t.reason, message: t.message }, status: { serverFQDN: host ?? null, serverState: 'Unknown' } };
    }
    const conns = postgresConnections(ctx.settings.postgres);
    // Below the installer's TLS floor: not even a connection attempt, so the admin password never leaves.
    if (!conns.allows(t.target.sslMode)) {
      const message = new TlsModeNotAllowedError(t.target.sslMode, ctx.settings.postgres.minSslMode ?? DEFAULT_MIN_SSL_MODE).message;
      return { condition: { type: 'ServerReady', ok: false, stalled: true, reason: 'TLSModeNotAllowed', message: `spec.server.external.${message}` }, status: { serverFQDN: t.target.host, serverState: 'Unknown' } };
    }
    let me;
    try {
      me = await conns.withClient(t.target, (c) => readCurrentUser(c));
    } catch (err) {
      const f = classifyFailure(err);
      const message = `cannot connect to ${t.target.host}:${t.target.port} as ${t.target.user}: ${f.message}`;
      ctx.log.info({ kind: f.kind, code: f.code }, 'external server not usable');
      return {
        condition: { type: 'ServerReady', ok: false, stalled: !f.transient, reason: 'ConnectionFailed', message },
        status: { serverFQDN: t.target.host, serverState: 'Unreachable' },
        // Transient: the controller's backoff. TLS/auth: the Secrets' watch brings the fix, and a slow
        // look now and then catches a fix made on the server's side.
        ...(f.transient ? { retry: true } : { requeueAfterMs: RETRY_STALLED_MS }),
      };
    }
    const status = { serverFQDN: t.target.host, serverState: 'Reachable', serverVersion: me.serverVersion };
    if (!me.superuser && (!me.createDb || !me.createRole)) {
      const missing = [!me.createDb ? 'CREATEDB' : undefined, !me.createRole ? 'CREATEROLE' : undefined].filter(Boolean).join(' and ');
      return {
        condition: {
          type: 'ServerReady',
          ok: false,
          stalled: true,
          reason: 'InsufficientPrivilege',
          message: `role ${me.name} (spec.server.external.adminSecretRef) lacks ${missing}: the operator needs a role that may create databases and roles (ALTER ROLE ${me.name} CREATEDB CREATEROLE)`,
        },
        status,
        requeueAfterMs: RETRY_STALLED_MS,
      };
    }
    return {
      condition: { type: 'ServerReady', ok: true, reason: 'Reachable', message: `PostgreSQL ${me.serverVersion} at ${t.target.host}:${t.target.port}, connected as ${me.name}` },
      status,
      connection: toConnection(t.target),
    };
  },

  // The server is not ours: nothing to remove.
  async finalize() {
    return { done: true };
  },

  async connectionForCleanup(ctx) {
    const t = serverTarget(ctx);
    return t.ok ? toConnection(t.target) : undefined;
  },
};
