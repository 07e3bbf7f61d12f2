// The HTTPS front of the emulator: authentication, latency and fault hooks, throttling, routing with the
// api-version check, request-body validation, handlers, the request log, and the control API under
// /_emulator/ (not an ARM path, so it needs no token and is neither throttled nor logged).
import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertValidTags } from './tags.js';
import { ArmError, toArmError } from './errors.js';
import type { ControlHandler, EmulatorContext } from './context.js';
import type { ArmRequest, ArmResponse, RequestKind } from './types.js';

interface ControlRoute {
  method: string;
  regex: RegExp;
  handler: ControlHandler;
}

export class ControlRoutes {
  private routes: ControlRoute[] = [];
  add(method: string, path: string, handler: ControlHandler): void {
    this.routes.push({ method: method.toUpperCase(), regex: new RegExp(`^${path}$`), handler });
  }
  find(method: string, path: string): { route: ControlRoute; match: RegExpExecArray } | undefined {
    for (const route of this.routes) {
      const match = route.regex.exec(path);
      if (match && route.method === method) return { route, match };
    }
    return undefined;
  }
}

/** Throttling identity of a bearer token: the JWT's oid/appid claim, else a hash of the opaque token. */
export function principalOf(token: string): string {
  const parts = token.split('.');
  if (parts.length === 3) {
    try {
      const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
      const id = claims.oid ?? claims.appid ?? claims.azp ?? claims.sub;
      if (typeof id === 'string' && id) return id;
    } catch {
      /* not a JWT after all */
    }
  }
  return 'token-' + createHash('sha256').update(token).digest('hex').slice(0, 16);
}

const POLL_PATH = /\/(azureAsyncOperation|operationResults)\/[^/]+$/i;

function kindOf(method: string, path: string): RequestKind {
  if (method === 'GET' && POLL_PATH.test(path)) return 'poll';
  if (method === 'GET' || method === 'HEAD') return 'read';
  if (method === 'DELETE') return 'delete';
  return 'write';
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string>): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  const h: Record<string, string> = { ...headers };
  if (text) h['Content-Type'] = 'application/json; charset=utf-8';
  h['Content-Length'] = String(Buffer.byteLength(text));
  res.writeHead(status, h);
  res.end(text);
}

export interface HttpsFront {
  server: https.Server;
  port: number;
}

export async function listenHttps(
  ctx: EmulatorContext,
  control: ControlRoutes,
  tls: { certPem: string; keyPem: string },
  host: string,
  port: number,
  plain?: PlainEndpoint,
): Promise<HttpsFront> {
  const server = https.createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    handle(ctx, control, req, res, plain).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, toArmError(err).toBody(), {});
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}

async function handleControl(control: ControlRoutes, method: string, url: URL, raw: string, res: ServerResponse): Promise<void> {
  const found = control.find(method, url.pathname);
  if (!found) return send(res, 404, { error: { code: 'NotFound', message: `No control route ${method} ${url.pathname}` } }, {});
  try {
    const body = raw ? (JSON.parse(raw) as unknown) : undefined;
    const out = await found.route.handler(body, url.searchParams, found.match);
    send(res, 200, out ?? { ok: true }, {});
  } catch (err) {
    const e = err instanceof ArmError ? err : new ArmError(400, 'BadControlRequest', err instanceof Error ? err.message : String(err));
    send(res, e.status, e.toBody(), {});
  }
}

/** A non-ARM endpoint on the same port (the Entra token endpoint): answers and returns true for its paths. */
export interface PlainEndpoint {
  handle(method: string, url: URL, raw: string, res: ServerResponse): boolean;
  /** ARM's authorization of a request by `principal`: an error (403) when it may not, else undefined. */
  authorize?(principal: string, method: string, path: string): ArmError | undefined;
}

async function handle(ctx: EmulatorContext, control: ControlRoutes, req: IncomingMessage, res: ServerResponse, plain?: PlainEndpoint): Promise<void> {
  const started = Date.now();
  const method = (req.method ?? 'GET').toUpperCase();
  const host = req.headers.host ?? 'localhost';
  const url = new URL(req.url ?? '/', `https://${host}`);
  const raw = await readBody(req);
  if (url.pathname.startsWith('/_emulator/')) return handleControl(control, method, url, raw, res);
  if (plain?.handle(method, url, raw, res)) return;

  const kind = kindOf(method, url.pathname);
  const apiVersion = url.searchParams.get('api-version') ?? undefined;
  const requestId = randomUUID();
  const headers: Record<string, string> = {
    'x-ms-request-id': requestId,
    'x-ms-correlation-request-id': String(req.headers['x-ms-correlation-request-id'] ?? requestId),
  };
  let principal = 'anonymous';
  let status = 500;
  let code: string | undefined;
  try {
    const auth = req.headers.authorization;
    if (!auth) {
      throw new ArmError(401, 'AuthenticationFailed', "Authentication failed. The 'Authorization' header is missing.", undefined, undefined, {
        'WWW-Authenticate':
          'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token", error_description="The authentication failed because of missing \'Authorization\' header."',
      });
    }
    const bearer = /^Bearer\s+(\S+)$/i.exec(auth);
    if (!bearer) {
      throw new ArmError(401, 'AuthenticationFailedInvalidHeader', "Authentication failed. The 'Authorization' header is provided in an invalid format.");
    }
    principal = principalOf(bearer[1]!);
    const denied = plain?.authorize?.(principal, method, url.pathname);
    if (denied) throw denied;

    const latency = ctx.faults.latencyFor(method, url.pathname);
    if (latency > 0) await sleep(latency);
    ctx.faults.checkRequest(method, url.pathname, raw);

    const sub = /^\/subscriptions\/([^/]+)/i.exec(url.pathname)?.[1] ?? 'tenant';
    Object.assign(headers, ctx.throttler.take(sub, principal, kind));

    const { route, params } = ctx.router.match(method, url.pathname);
    if (route.apiVersions.length > 0) {
      if (!apiVersion) {
        throw new ArmError(400, 'MissingApiVersionParameter', "The api-version query parameter (?api-version=) is required for all requests.");
      }
      if (!/^\d{4}-\d{2}-\d{2}(-preview)?$/.test(apiVersion)) {
        throw new ArmError(400, 'InvalidApiVersionParameter', `The api-version '${apiVersion}' is invalid. The supported versions are '${route.apiVersions.join(',')}'.`);
      }
      if (!route.apiVersions.includes(apiVersion)) {
        throw new ArmError(
          400,
          'NoRegisteredProviderFound',
          `No registered resource provider found for location 'global' and API version '${apiVersion}' for type '${route.resourceType}'. The supported api-versions are '${route.apiVersions.join(', ')}'.`,
        );
      }
    }
    let body: unknown;
    if (raw.trim()) {
      try {
        body = JSON.parse(raw);
      } catch (err) {
        throw new ArmError(400, 'InvalidRequestContent', `The request content was invalid and could not be deserialized: '${(err as Error).message}'.`);
      }
    }
    // ARM validates tags itself, for every resource type, before the provider sees the request.
    if ((method === 'PUT' || method === 'PATCH') && body && typeof body === 'object') assertValidTags((body as { tags?: unknown }).tags);
    if (route.requestSchema) {
      // Action bodies (POST .../restart) are optional; resource bodies (PUT, PATCH) are not.
      if (body !== undefined) ctx.specs.assertRequestBody(route.requestSchema, body);
      else if (method !== 'POST') throw new ArmError(400, 'InvalidRequestContent', 'The request content was invalid and could not be deserialized: the request body is missing.');
    }
    const armReq: ArmRequest = {
      method,
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      params,
      body,
      apiVersion,
      principal,
      baseUrl: `https://${host}`,
      requestId,
    };
    const out: ArmResponse = await route.handler(armReq);
    status = out.status;
    if (method !== 'GET' && method !== 'HEAD') ctx.persistence.changed();
    send(res, out.status, out.body, { ...headers, ...(out.headers ?? {}) });
  } catch (err) {
    const e = toArmError(err);
    status = e.status;
    code = e.code;
    send(res, e.status, e.toBody(), { ...headers, ...e.headers });
  } finally {
    const entry = { time: new Date(started).toISOString(), method, path: url.pathname, apiVersion, status, kind, principal, durationMs: Date.now() - started };
    ctx.requestLog.add(code ? { ...entry, code } : entry);
  }
}
