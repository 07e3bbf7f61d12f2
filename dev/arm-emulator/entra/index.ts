// A Microsoft Entra token endpoint on the emulator's port, so that per-namespace credentials are real in
// tests: @azure/identity's ClientSecretCredential and WorkloadIdentityCredential work against it
// unchanged with `authorityHost` = the emulator's endpoint (and `disableInstanceDiscovery`, as for any
// authority that is not a public Microsoft cloud). It serves what MSAL asks for:
//   GET  /{tenant}/v2.0/.well-known/openid-configuration   (authority metadata)
//   GET  /common/discovery/instance                         (instance discovery, for clients that do it)
//   POST /{tenant}/oauth2/v2.0/token                        (client_credentials with client_secret or a
//                                                            client_assertion = federated token)
//   GET  /{tenant}/discovery/v2.0/keys                      (JWKS: the public key the tokens are RS256-signed with)
// Service principals are registered through the control API (`/_emulator/entra/servicePrincipals`); the
// access token carries the principal's `oid` and `appid`, which the ARM pipeline throttles and logs by.
// Errors are Entra's: AADSTS90002 (tenant), AADSTS700016 (application), AADSTS7000215 (wrong secret),
// AADSTS70021 (no matching federated identity), AADSTS7000216 (no credential).
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { EmulatorContext } from '../framework/context.js';
import { ArmError } from '../framework/errors.js';

export interface ServicePrincipal {
  tenantId: string;
  /** Application (client) id. */
  clientId: string;
  /** Object id of the service principal (the token's `oid`); generated when absent. */
  objectId: string;
  displayName?: string;
  clientSecret?: string;
  /** Federated identity credentials: the assertion's iss and sub must match one. */
  federatedCredentials?: { issuer: string; subject: string }[];
  /**
   * Azure RBAC, minimally: the ARM scopes (/subscriptions/<id>[/resourceGroups/<name>]) the principal
   * has a role on. Absent: every scope (as before). Present: any request outside them is ARM's
   * 403 AuthorizationFailed.
   */
  roleAssignments?: string[];
}

export interface EntraStats {
  tokensIssued: number;
  failures: number;
  /** Token requests per client id (successful). */
  byClient: Record<string, number>;
  /** Tokens issued per audience (ARM, the database's https://ossrdbms-aad.database.windows.net...). */
  byAudience: Record<string, number>;
}

const TOKEN_LIFETIME_S = 3599;
/** The key id in the tokens' header and the JWKS. */
const KEY_ID = 'arm-emulator-1';

function b64url(v: unknown): string {
  return Buffer.from(JSON.stringify(v)).toString('base64url');
}

function decodeJwt(token: string): Record<string, unknown> | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    return JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

export class EntraEmulator {
  readonly principals = new Map<string, ServicePrincipal>();
  readonly stats: EntraStats = { tokensIssued: 0, failures: 0, byClient: {}, byAudience: {} };
  /** Lifetime of issued tokens (Entra's is about an hour; tests shorten it to see expiry). */
  tokenLifetimeSeconds = TOKEN_LIFETIME_S;
  /** RS256 signing key, as Entra signs access tokens; its public half is in the JWKS (and checks database logins). */
  private signingKey: KeyObject = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  /** Origins (`https://host:port`) the endpoint was reached on: the issuers of the tokens it signed. */
  readonly issuerBases = new Set<string>();

  constructor(private readonly ctx: EmulatorContext) {}

  /** The public signing key (what a resource server verifies tokens with). */
  get publicKey(): KeyObject {
    return createPublicKey(this.signingKey);
  }

  /** The signing key as PKCS#8 PEM, for persistence (tokens issued before an emulator restart stay valid). */
  exportKey(): string {
    return this.signingKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  }

  importKey(pem: string): void {
    this.signingKey = createPrivateKey(pem);
  }

  /** A signed access token with these claims (RS256, the emulator's key). */
  signToken(claims: Record<string, unknown>): string {
    const header = b64url({ typ: 'JWT', alg: 'RS256', kid: KEY_ID });
    const payload = b64url(claims);
    const sig = sign('sha256', Buffer.from(`${header}.${payload}`), this.signingKey).toString('base64url');
    return `${header}.${payload}.${sig}`;
  }

  private keyOf(tenantId: string, clientId: string): string {
    return `${tenantId.toLowerCase()}/${clientId.toLowerCase()}`;
  }

  register(sp: Omit<ServicePrincipal, 'objectId'> & { objectId?: string }): ServicePrincipal {
    if (!sp.tenantId || !sp.clientId) throw new Error('tenantId and clientId are required');
    const full: ServicePrincipal = { ...sp, objectId: sp.objectId ?? randomUUID() };
    this.principals.set(this.keyOf(sp.tenantId, sp.clientId), full);
    this.ctx.persistence.changed();
    return full;
  }

  remove(tenantId: string, clientId: string): boolean {
    const ok = this.principals.delete(this.keyOf(tenantId, clientId));
    this.ctx.persistence.changed();
    return ok;
  }

  /**
   * ARM's authorization check for a request by `principal` (a token's oid): 403 AuthorizationFailed,
   * with ARM's message, when the principal's role assignments do not cover the request's path.
   */
  authorize(principal: string, method: string, path: string): ArmError | undefined {
    const sp = [...this.principals.values()].find((p) => p.objectId === principal);
    if (!sp?.roleAssignments) return undefined;
    const target = path.toLowerCase();
    const covered = sp.roleAssignments.some((scope) => {
      const s = scope.toLowerCase().replace(/\/+$/, '');
      return target === s || target.startsWith(`${s}/`);
    });
    if (covered) return undefined;
    const action = armAction(method, path);
    return new ArmError(
      403,
      'AuthorizationFailed',
      `The client '${sp.objectId}' with object id '${sp.objectId}' does not have authorization to perform action '${action}' over scope '${path}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
    );
  }

  private tenantKnown(tenantId: string): boolean {
    const t = tenantId.toLowerCase();
    return [...this.principals.values()].some((p) => p.tenantId.toLowerCase() === t);
  }

  /** Handles an Entra path; false when the path is not one (then it is an ARM request). */
  handle(method: string, url: URL, raw: string, res: ServerResponse): boolean {
    const p = url.pathname;
    const base = `${url.protocol}//${url.host}`;
    let m: RegExpExecArray | null;
    if (method === 'GET' && (m = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/i.exec(p))) {
      const t = m[1]!;
      send(res, 200, {
        token_endpoint: `${base}/${t}/oauth2/v2.0/token`,
        token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
        jwks_uri: `${base}/${t}/discovery/v2.0/keys`,
        response_modes_supported: ['query', 'fragment', 'form_post'],
        subject_types_supported: ['pairwise'],
        id_token_signing_alg_values_supported: ['RS256'],
        response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
        scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
        issuer: `${base}/${t}/v2.0`,
        request_uri_parameter_supported: false,
        userinfo_endpoint: `${base}/oidc/userinfo`,
        authorization_endpoint: `${base}/${t}/oauth2/v2.0/authorize`,
        device_authorization_endpoint: `${base}/${t}/oauth2/v2.0/devicecode`,
        http_logout_supported: true,
        frontchannel_logout_supported: true,
        end_session_endpoint: `${base}/${t}/oauth2/v2.0/logout`,
        claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'oid', 'tid', 'appid'],
        tenant_region_scope: null,
        cloud_instance_name: url.hostname,
        cloud_graph_host_name: url.hostname,
        msgraph_host: url.hostname,
      });
      return true;
    }
    if (method === 'GET' && /^\/common\/discovery\/instance$/i.test(p)) {
      send(res, 200, {
        tenant_discovery_endpoint: `${base}/common/v2.0/.well-known/openid-configuration`,
        'api-version': '1.1',
        metadata: [{ preferred_network: url.host, preferred_cache: url.host, aliases: [url.host] }],
      });
      return true;
    }
    if (method === 'GET' && /^\/[^/]+\/discovery\/v2\.0\/keys$/i.test(p)) {
      send(res, 200, { keys: [{ ...this.publicKey.export({ format: 'jwk' }), kid: KEY_ID, use: 'sig', alg: 'RS256' }] });
      return true;
    }
    if (method === 'POST' && (m = /^\/([^/]+)\/oauth2\/v2\.0\/token$/i.exec(p))) {
      this.token(m[1]!, new URLSearchParams(raw), base, res);
      return true;
    }
    return false;
  }

  private fail(res: ServerResponse, status: number, error: string, code: number, description: string): void {
    this.stats.failures++;
    const traceId = randomUUID();
    const correlationId = randomUUID();
    const timestamp = new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
    send(res, status, {
      error,
      error_description: `AADSTS${code}: ${description} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
      error_codes: [code],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `https://login.microsoftonline.com/error?code=${code}`,
    });
  }

  private token(tenantId: string, form: URLSearchParams, base: string, res: ServerResponse): void {
    const grant = form.get('grant_type');
    const clientId = form.get('client_id') ?? '';
    if (grant !== 'client_credentials') {
      return this.fail(res, 400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${grant ?? ''}'.`);
    }
    if (!this.tenantKnown(tenantId)) {
      return this.fail(res, 400, 'invalid_request', 90002, `Tenant '${tenantId}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`);
    }
    const sp = this.principals.get(this.keyOf(tenantId, clientId));
    if (!sp) {
      return this.fail(
        res,
        400,
        'unauthorized_client',
        700016,
        `Application with identifier '${clientId}' was not found in the directory '${tenantId}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.`,
      );
    }
    const secret = form.get('client_secret');
    const assertion = form.get('client_assertion');
    if (secret !== null) {
      if (sp.clientSecret === undefined || secret !== sp.clientSecret) {
        return this.fail(
          res,
          401,
          'invalid_client',
          7000215,
          `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`,
        );
      }
    } else if (assertion !== null) {
      if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') {
        return this.fail(res, 400, 'invalid_request', 50027, 'Invalid client_assertion_type.');
      }
      const claims = decodeJwt(assertion);
      const ok = claims && (sp.federatedCredentials ?? []).some((f) => f.issuer === claims.iss && f.subject === claims.sub);
      if (!ok) {
        return this.fail(
          res,
          400,
          'invalid_request',
          70021,
          `No matching federated identity record found for presented assertion. Assertion Issuer: '${String(claims?.iss ?? '')}'. Assertion Subject: '${String(claims?.sub ?? '')}'.`,
        );
      }
    } else {
      return this.fail(res, 401, 'invalid_client', 7000216, "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.");
    }
    const scope = form.get('scope') ?? '';
    const aud = scope.split(' ').find((s) => s.endsWith('/.default'))?.replace(/\/\.default$/, '') ?? scope;
    const now = Math.floor(Date.now() / 1000);
    this.issuerBases.add(base);
    const token = this.signToken({
      aud,
      iss: `${base}/${sp.tenantId}/v2.0`,
      iat: now,
      nbf: now,
      exp: now + this.tokenLifetimeSeconds,
      appid: sp.clientId,
      azp: sp.clientId,
      idtyp: 'app',
      oid: sp.objectId,
      sub: sp.objectId,
      tid: sp.tenantId,
      ver: '2.0',
    });
    this.stats.tokensIssued++;
    this.stats.byClient[sp.clientId] = (this.stats.byClient[sp.clientId] ?? 0) + 1;
    this.stats.byAudience[aud] = (this.stats.byAudience[aud] ?? 0) + 1;
    const life = this.tokenLifetimeSeconds;
    send(res, 200, { token_type: 'Bearer', expires_in: life, ext_expires_in: life, access_token: token });
  }
}

/** The RBAC action of an ARM request, as ARM names it in AuthorizationFailed (provider/type/verb). */
function armAction(method: string, path: string): string {
  const segs = path.split('/').filter(Boolean);
  const i = segs.findIndex((x) => x.toLowerCase() === 'providers');
  const type = i >= 0 ? [segs[i + 1], ...segs.slice(i + 2).filter((_, k) => k % 2 === 0)].join('/') : segs.length > 2 ? 'Microsoft.Resources/subscriptions/resourceGroups' : 'Microsoft.Resources/subscriptions';
  const verb = method === 'GET' || method === 'HEAD' ? 'read' : method === 'DELETE' ? 'delete' : method === 'POST' ? 'action' : 'write';
  return `${type}/${verb}`;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(Buffer.byteLength(text)), 'Cache-Control': 'no-store' });
  res.end(text);
}

/** Registers the control routes and persistence; returns the endpoint for the HTTPS front. */
export function registerEntra(ctx: EmulatorContext): EntraEmulator {
  const entra = new EntraEmulator(ctx);
  ctx.addControlRoute('POST', '/_emulator/entra/servicePrincipals', (b) => {
    const sp = entra.register(b as ServicePrincipal);
    return { tenantId: sp.tenantId, clientId: sp.clientId, objectId: sp.objectId };
  });
  ctx.addControlRoute('GET', '/_emulator/entra/servicePrincipals', () =>
    [...entra.principals.values()].map((p) => ({ tenantId: p.tenantId, clientId: p.clientId, objectId: p.objectId, displayName: p.displayName })),
  );
  ctx.addControlRoute('DELETE', '/_emulator/entra/servicePrincipals/([^/]+)/([^/]+)', (_b, _q, m) => ({ ok: entra.remove(decodeURIComponent(m[1]!), decodeURIComponent(m[2]!)) }));
  ctx.addControlRoute('GET', '/_emulator/entra/stats', () => entra.stats);
  // Test hook: the lifetime of the tokens issued from now on (tokens that expire during a test).
  ctx.addControlRoute('PUT', '/_emulator/entra/settings', (b) => {
    const life = Number((b as { tokenLifetimeSeconds?: unknown } | undefined)?.tokenLifetimeSeconds);
    if (Number.isFinite(life) && life > 0) entra.tokenLifetimeSeconds = Math.floor(life);
    return { tokenLifetimeSeconds: entra.tokenLifetimeSeconds };
  });
  // Test hook: a token signed with the emulator's key carrying the given claims (an expired one, another
  // audience...), which the token endpoint would never issue. Azure has no such API.
  ctx.addControlRoute('POST', '/_emulator/entra/tokens', (b) => {
    const o = (b ?? {}) as { authority?: string; tenantId?: string; objectId?: string; audience?: string; expiresInSeconds?: number; claims?: Record<string, unknown> };
    const now = Math.floor(Date.now() / 1000);
    const exp = now + (o.expiresInSeconds ?? TOKEN_LIFETIME_S);
    const authority = o.authority ?? [...entra.issuerBases][0] ?? '';
    const claims = { aud: o.audience, iss: `${authority}/${o.tenantId}/v2.0`, iat: Math.min(now, exp - 60), nbf: Math.min(now, exp - 60), exp, oid: o.objectId, sub: o.objectId, tid: o.tenantId, ver: '2.0', ...o.claims };
    return { accessToken: entra.signToken(claims) };
  });
  ctx.persistence.register({
    name: 'entra',
    save: () => [...entra.principals.values()],
    load: async (data) => {
      for (const sp of (data as ServicePrincipal[] | undefined) ?? []) entra.principals.set(`${sp.tenantId.toLowerCase()}/${sp.clientId.toLowerCase()}`, sp);
    },
  });
  // The signing key survives a restart, so tokens clients hold stay valid (as Entra's keys outlive a token).
  ctx.persistence.register({
    name: 'entra-signing-key',
    save: () => entra.exportKey(),
    load: async (data) => {
      if (typeof data === 'string') entra.importKey(data);
    },
  });
  return entra;
}
