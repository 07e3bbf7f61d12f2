// Microsoft Entra authentication of the emulated servers (`properties.authConfig`), enforced by PostgreSQL:
// - A server created with `activeDirectoryAuth: Enabled` runs on Debian's PostgreSQL 15 (installed with
//   apt-get on first use, dev/env/debian.ts), because the embedded PostgreSQL 17 binaries are built without
//   LDAP and PAM. Its pg_hba.conf sends members of `pgaadauth_principals` (every Entra principal) to LDAP
//   simple bind against the emulator's login endpoint (entra/database-login.ts), which accepts the bind only
//   for a valid token of the role's object id.
// - `passwordAuth: Disabled` leaves no password line for anyone but the emulator's internal superuser:
//   PostgreSQL itself refuses every password login.
// - Enabling Entra on a server that runs on PostgreSQL 17 cannot change its engine in place: refused with
//   400 (dev/arm-emulator/README.md).
import path from 'node:path';
import { ensureDebianTool, POSTGRES_DEBIAN } from '../../env/debian.js';
import { ArmError } from '../framework/errors.js';
import type { Json } from '../framework/store.js';
import type { EntraEmulator } from '../entra/index.js';
import { EntraLoginService } from '../entra/database-login.js';
import { checkAccessToken, OSSRDBMS_AUDIENCE } from '../entra/token-check.js';
import { props, type PostgresProviderState, type ServerRuntime } from './model.js';
import { PRINCIPALS_GROUP, principalOf } from './pgaadauth.js';

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === 'object' ? (v as Obj) : {});

export const DEBIAN_BIN_DIR = path.dirname(POSTGRES_DEBIAN.binary);

export function authConfigOf(doc: Json | undefined): { entra: boolean; password: boolean; tenantId?: string } {
  const a = obj(doc ? props(doc).authConfig : undefined);
  return { entra: a.activeDirectoryAuth === 'Enabled', password: a.passwordAuth !== 'Disabled', ...(typeof a.tenantId === 'string' && a.tenantId ? { tenantId: a.tenantId } : {}) };
}

/** The engine folder for a new server with this auth config: Debian's when it needs Entra logins. */
export function binDirForNewServer(doc: Json): string | undefined {
  if (!authConfigOf(doc).entra) return undefined;
  ensureDebianTool(POSTGRES_DEBIAN);
  return DEBIAN_BIN_DIR;
}

/** 400 for auth configs the server cannot run with (checked before an operation starts). */
export function assertAuthConfig(merged: Json, engineBinDir: string | undefined, creating: boolean): void {
  const a = authConfigOf(merged);
  if (!a.entra && !a.password) {
    throw new ArmError(400, 'InvalidParameterValue', 'At least one of passwordAuth and activeDirectoryAuth must be Enabled.', 'properties.authConfig');
  }
  if (a.entra && !creating && engineBinDir !== DEBIAN_BIN_DIR) {
    throw new ArmError(
      400,
      'PropertyChangeNotAllowed',
      'Microsoft Entra authentication can only be enabled when this emulated server is created: it runs on PostgreSQL 17 built without LDAP, and a server with Entra authentication runs on Debian\'s PostgreSQL 15 (see dev/arm-emulator/README.md).',
      'properties.authConfig.activeDirectoryAuth',
    );
  }
}

export class EntraDatabaseAuth {
  readonly login: EntraLoginService;

  constructor(
    private readonly state: PostgresProviderState,
    private readonly entra: EntraEmulator,
  ) {
    this.login = new EntraLoginService((server, role, token) => this.check(server, role, token));
  }

  /** pg_hba.conf lines of a server (undefined: the harness default, passwords for everyone). */
  hba(key: string, binDir: string | undefined): string[] | undefined {
    const rt = this.state.runtime(key);
    const a = authConfigOf(rt ? this.state.ctx.store.get(rt.id) : undefined);
    if (!rt || (!a.entra && a.password)) return undefined;
    const su = rt.instance?.creds.superuser ?? 'azuresu';
    const lines = [`hostssl all ${su} 127.0.0.0/8 scram-sha-256`];
    if (a.entra && binDir === DEBIAN_BIN_DIR) lines.push(`hostssl all +${PRINCIPALS_GROUP} 127.0.0.0/8 ldap ${this.login.hbaOptions(rt.name.toLowerCase())}`);
    if (a.password) lines.push('hostssl all all 127.0.0.0/8 scram-sha-256');
    return lines;
  }

  /** Undefined when `token` lets `role` into server `serverName`; else why not. */
  private async check(serverName: string, role: string, token: string): Promise<string | undefined> {
    const rt = [...this.state.runtimes.values()].find((r) => r.name.toLowerCase() === serverName);
    const doc = rt ? this.state.ctx.store.get(rt.id) : undefined;
    if (!rt?.instance || !doc) return `unknown server ${serverName}`;
    const a = authConfigOf(doc);
    if (!a.entra) return 'Microsoft Entra authentication is disabled on this server';
    const tenant = a.tenantId ?? String(obj(JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8') || '{}')).tid ?? '');
    const issuers = [...this.entra.issuerBases].map((b) => `${b}/${tenant}/v2.0`);
    const r = checkAccessToken(token, { key: this.entra.publicKey, issuers, audience: OSSRDBMS_AUDIENCE });
    if (!r.ok) return r.reason;
    const principal = await this.principal(rt, role);
    if (!principal) return `role "${role}" is not a Microsoft Entra principal`;
    const oid = String(r.claims.oid ?? '').toLowerCase();
    const groups = Array.isArray(r.claims.groups) ? r.claims.groups.map((g) => String(g).toLowerCase()) : [];
    if (oid === principal.objectId || (principal.type === 'group' && groups.includes(principal.objectId))) return undefined;
    return `the token's oid ${oid} is not the object id of role "${role}"`;
  }

  private principal(rt: ServerRuntime, role: string) {
    return this.state.instances.withSuperClient(rt.instance!, 'postgres', (c) => principalOf(c, role));
  }
}
