// Microsoft Entra access tokens for Azure Database for PostgreSQL (scope
// https://ossrdbms-aad.database.windows.net/.default), used as the password of a token login. One cache per
// credential (the operator's identity, or a namespace's credentials Secret): a token is reused until
// REFRESH_BEFORE_EXPIRY_MS before it expires, then one fetch refreshes it for every caller (concurrent callers
// share the fetch in flight). Tokens are never logged; only their expiry and object id leave this module.
import type { TokenCredential } from '@azure/core-auth';

export const DATABASE_TOKEN_SCOPE = 'https://ossrdbms-aad.database.windows.net/.default';
/** A token is refreshed this long before it expires, so a login never presents one about to lapse. */
export const REFRESH_BEFORE_EXPIRY_MS = 5 * 60_000;
/** Bound on one token request (a network call). */
const TOKEN_TIMEOUT_MS = 30_000;

export interface DatabaseToken {
  token: string;
  expiresOnMs: number;
  /** The identity's object id (the token's `oid`): which Entra administrator the operator is. */
  objectId: string | undefined;
}

/** Tokens fetched by this process (all credentials), for metrics and the refresh figures. */
export const databaseTokenStats = { fetched: 0 };

function objectIdOf(token: string): string | undefined {
  try {
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { oid?: unknown };
    return typeof claims.oid === 'string' ? claims.oid.toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}

export class DatabaseTokenSource {
  private current: DatabaseToken | undefined;
  private inflight: Promise<DatabaseToken> | undefined;

  constructor(
    private readonly credential: TokenCredential,
    private readonly now: () => number = Date.now,
  ) {}

  /** A token valid for at least REFRESH_BEFORE_EXPIRY_MS more (fetched when the cached one is not). */
  async get(): Promise<DatabaseToken> {
    const c = this.current;
    if (c && c.expiresOnMs - REFRESH_BEFORE_EXPIRY_MS > this.now()) return c;
    this.inflight ??= this.fetch().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private async fetch(): Promise<DatabaseToken> {
    const signal = AbortSignal.timeout(TOKEN_TIMEOUT_MS);
    const t = await this.credential.getToken(DATABASE_TOKEN_SCOPE, { abortSignal: signal });
    if (!t) throw new Error('the credential returned no token for Azure Database for PostgreSQL');
    databaseTokenStats.fetched++;
    this.current = { token: t.token, expiresOnMs: t.expiresOnTimestamp, objectId: objectIdOf(t.token) };
    return this.current;
  }
}

const sources = new WeakMap<TokenCredential, DatabaseTokenSource>();

/** The process-wide token source of a credential (clients are cached per credential, so is this). */
export function databaseTokenSource(credential: TokenCredential): DatabaseTokenSource {
  let s = sources.get(credential);
  if (!s) {
    s = new DatabaseTokenSource(credential);
    sources.set(credential, s);
  }
  return s;
}
