// The checks a resource server makes on an Entra access token before it lets the bearer in: RS256 signature
// against the issuer's key, issuer, audience, validity window. Pure (node:crypto only), so unit tests cover
// every refusal; database-login.ts adds the server-specific part (the token's oid against the role's).
import { verify, type KeyObject } from 'node:crypto';

/** The audience Azure Database for PostgreSQL accepts (scope `https://ossrdbms-aad.database.windows.net/.default`). */
export const OSSRDBMS_AUDIENCE = 'https://ossrdbms-aad.database.windows.net';

export interface TokenExpectations {
  key: KeyObject;
  /** Accepted `iss` values (`<authority>/<tenant>/v2.0`). */
  issuers: string[];
  audience: string;
  nowSeconds?: number;
}

export type TokenCheck = { ok: true; claims: Record<string, unknown> } | { ok: false; reason: string };

function part(s: string | undefined): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(s ?? '', 'base64url').toString('utf8'));
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export function checkAccessToken(token: string, x: TokenExpectations): TokenCheck {
  const segs = token.split('.');
  const header = part(segs[0]);
  const claims = part(segs[1]);
  if (segs.length !== 3 || !header || !claims) return { ok: false, reason: 'not a JWT' };
  if (header.alg !== 'RS256') return { ok: false, reason: `signing algorithm ${String(header.alg)} is not RS256` };
  const signed = verify('sha256', Buffer.from(`${segs[0]}.${segs[1]}`), x.key, Buffer.from(segs[2]!, 'base64url'));
  if (!signed) return { ok: false, reason: 'signature does not verify against the issuer key' };
  if (!x.issuers.includes(String(claims.iss))) return { ok: false, reason: `issuer ${String(claims.iss)} is not accepted` };
  const aud = Array.isArray(claims.aud) ? claims.aud.map(String) : [String(claims.aud)];
  if (!aud.includes(x.audience)) return { ok: false, reason: `audience ${aud.join(' ')} is not ${x.audience}` };
  const now = x.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (typeof claims.exp !== 'number' || claims.exp <= now) return { ok: false, reason: 'token expired' };
  if (typeof claims.nbf === 'number' && claims.nbf > now) return { ok: false, reason: 'token not yet valid' };
  return { ok: true, claims };
}
