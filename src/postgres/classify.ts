// What a failure to reach or use a server means for a condition: a TLS problem (wrong CA, a name the
// certificate does not cover), an authentication failure, the network (retry with backoff), a missing
// privilege, or something else. Messages carry PostgreSQL's or Node's words, never credentials.
import { describePgError, isTransientPgError } from './connections.js';

export type FailureKind = 'tls' | 'auth' | 'network' | 'privilege' | 'other';

export interface ClassifiedFailure {
  kind: FailureKind;
  /** Worth retrying on its own (network, server starting) rather than waiting for someone to fix input. */
  transient: boolean;
  message: string;
  code?: string;
}

const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|CERT_|SELF_SIGNED|DEPTH_ZERO|UNABLE_TO_(GET|VERIFY)|ERR_OSSL)/;

export function classifyFailure(err: unknown): ClassifiedFailure {
  const info = describePgError(err);
  const code = info.code ?? '';
  const base = { ...(info.code ? { code: info.code } : {}) };
  if (TLS_CODES.test(code) || /certificate|self[- ]signed|Hostname\/IP does not match/i.test(info.message)) {
    return { ...base, kind: 'tls', transient: false, message: `TLS verification failed: ${info.message}` };
  }
  if (code === '28P01' || code === '28000') return { ...base, kind: 'auth', transient: false, message: `authentication failed: ${info.message}` };
  if (code === '42501') return { ...base, kind: 'privilege', transient: false, message: info.message + (info.detail ? ` (${info.detail})` : '') };
  if (isTransientPgError(err) || /Connection terminated|timeout/i.test(info.message)) return { ...base, kind: 'network', transient: true, message: `cannot reach the server: ${info.message}` };
  return { ...base, kind: 'other', transient: false, message: info.message + (info.detail ? ` (${info.detail})` : '') };
}
