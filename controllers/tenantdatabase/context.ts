// What the parts of the TenantDatabase reconcile share: the object, its parsed spec, the operator's
// settings, the cache, and the contract every part answers with. A part owns a slice of the object's
// status and one condition; the orchestrator (index.ts) runs the parts in order, composes Ready from
// their conditions and writes status once.
import type { Logger } from 'pino';
import type { TenantDatabaseSpec, TenantDatabaseStatus } from '../../src/api/tenantdatabase.js';
import type { ControllerSettings } from '../../src/settings.js';
import type { EventType } from '../../src/runtime/events.js';
import type { KubeObject } from '../../src/runtime/kubeclient.js';
import type { Manager } from '../../src/runtime/manager.js';
import type { DbTarget, TokenPassword } from '../../src/postgres/connections.js';

// One definition for the whole operator (src/runtime/reconcile-kit.ts); re-exported for the parts.
export { CONFIGMAPS, SECRETS } from '../../src/runtime/reconcile-kit.js';

export interface TenantDatabaseContext {
  mgr: Manager;
  /** The object as cached (metadata, spec, status). */
  obj: KubeObject;
  namespace: string;
  name: string;
  generation: number | undefined;
  spec: TenantDatabaseSpec;
  /** Status as last written; parts read what they recorded (LRO resume tokens, applied state). */
  status: TenantDatabaseStatus;
  settings: ControllerSettings;
  log: Logger;
  signal: AbortSignal;
  /** Records an Event on the object. Never pass secret material. */
  event(type: EventType, reason: string, message: string): Promise<void>;
  /** A Secret of the object's namespace from the cache, or undefined. Values are base64 as stored. */
  secret(name: string): KubeObject | undefined;
  /** Decoded value of `key` in Secret `name`, or undefined when the Secret or key is missing. */
  secretValue(name: string, key: string): string | undefined;
}

/** How to reach the server as its administrator; produced by the server part for the parts below it. */
export interface ServerConnection {
  kind: 'azure' | 'external';
  /** Host name clients use (the FQDN on Azure); TLS verifies this name whatever address it maps to. */
  host: string;
  port: number;
  sslMode: 'require' | 'verify-ca' | 'verify-full';
  /** PEM of the CA the server certificate must chain to, when it is not a public root. */
  caPem?: string;
  adminUser: string;
  adminPassword: string;
  /** A token login (Microsoft Entra administrator, src/tenantdatabase/entra-login.ts): adminPassword is then unused. */
  adminToken?: TokenPassword;
  /**
   * The server refuses password logins (Azure: password authentication off): a role's password cannot be
   * checked by logging in with it, and its connection Secret serves only once passwords are allowed again.
   */
  passwordLoginsRefused?: boolean;
  /** PgBouncer on the server (Azure's built-in pooler), for the pooler keys of connection Secrets. */
  pooler?: { port: number };
  /**
   * Set by the Azure part: databases are child resources there (created and deleted through ARM, so Azure
   * knows them). When absent, the database part uses CREATE/DROP DATABASE.
   */
  databases?: {
    ensure(name: string): Promise<'exists' | 'created' | 'creating'>;
      started(name: string): boolean;
    drop(name: string): Promise<void>;
  };
}

export interface PartCondition {
  /** Condition type this part owns, e.g. ServerReady, DatabaseReady, TenancyReady. */
  type: string;
  ok: boolean;
  reason: string;
  message: string;
  /**
   * Only when not ok: true means retrying cannot help until someone changes something (Stalled);
   * false means work in progress or a transient failure (Reconciling).
   */
  stalled?: boolean;
  /**
   * A report about the database, not a step towards it (maintenance results, health): it is written as
   * its own condition but neither decides Ready nor stops the parts after it.
   */
  informational?: boolean;
}

export interface PartOutcome {
  condition: PartCondition;
  /** Status fields this part owns; null clears a field. */
  status?: Record<string, unknown>;
  /** Look again after this long (LRO polling, a restart window, partition maintenance). */
  requeueAfterMs?: number;
  /** Retry with the controller's per-object backoff (transient failures). */
  retry?: boolean;
}

export interface ServerOutcome extends PartOutcome {
  /** Present when the server can be used by the parts below. */
  connection?: ServerConnection;
}

/** The part that provides the server: Azure (provision/adopt) or external (connect only). */
export interface ServerPart {
  reconcile(ctx: TenantDatabaseContext): Promise<ServerOutcome>;
  /**
   * Runs on deletion after the parts below have finalized; returns done=false to be called again later
   * (an LRO in flight). Must honour spec.deletionPolicy.
   */
  finalize(ctx: TenantDatabaseContext): Promise<FinalizeStep>;
  /** Connection for the parts' finalizers, without changing anything; undefined when unreachable/gone. */
  connectionForCleanup(ctx: TenantDatabaseContext): Promise<ServerConnection | undefined>;
}

/** A part that works inside the server (database and roles, tenancy). */
export interface DatabasePart {
  name: string;
  /** Whether the spec asks anything of this part (tenancy only runs with spec.tenancy/partitioning). */
  applies(spec: TenantDatabaseSpec): boolean;
  reconcile(ctx: TenantDatabaseContext, conn: ServerConnection): Promise<PartOutcome>;
  /**
   * An informational part's own condition and status field: when the spec stops asking for the part, both
   * are removed (a report of something no longer checked would mislead) and `retire` runs once.
   */
  report?: { condition: string; status: string };
  /** Stops what the part keeps for the object (background runs, metrics) once the spec no longer asks for it. */
  retire?(ctx: TenantDatabaseContext): Promise<void>;
  /** Told how to bring an object back (`namespace/name`) when background work of this part ends. */
  bind?(enqueue: (key: string) => void): void;
  /** Deletion; conn is undefined when the server is unreachable or gone. Must honour spec.deletionPolicy. */
  finalize?(ctx: TenantDatabaseContext, conn: ServerConnection | undefined): Promise<FinalizeStep>;
}

/**
 * One finalize attempt of a part: done, or not yet (`requeueAfterMs` for a wait, e.g. a deletion in
 * progress). `failed`: the attempt failed (an error, not a wait); retries then back off exponentially.
 */
export interface FinalizeStep {
  done: boolean;
  requeueAfterMs?: number;
  message?: string;
  failed?: boolean;
}

/** Database `database` on the server, as its administrator. */
export function databaseTarget(conn: ServerConnection, database: string): DbTarget {
  return { host: conn.host, port: conn.port, sslMode: conn.sslMode, ...(conn.caPem !== undefined ? { caPem: conn.caPem } : {}), user: conn.adminUser, password: conn.adminPassword, ...tokenOf(conn), database };
}

/** The administrator's token login, as DbTarget fields (nothing for a password login). */
export function tokenOf(conn: ServerConnection): { token?: TokenPassword } {
  return conn.adminToken ? { token: conn.adminToken } : {};
}
