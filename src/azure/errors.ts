// Classification of failures from the Azure SDK clients for the controllers: whether trying again
// later can help, plus ARM's own error code and message so a resource condition can show them.
// Messages are scrubbed of anything that looks like a credential before they leave this module.
import { isRestError } from '@azure/core-rest-pipeline';
import { retryAfterMs as parseRetryAfter } from './budget.js';
import { scrubSecrets } from '../runtime/scrub.js';

/** Removes bearer tokens, JWTs and secret-looking values (JSON keys, query and connection strings, URIs). */
export { scrubSecrets };

export type ArmErrorKind =
  | 'throttled'
  | 'conflict'
  | 'server'
  | 'network'
  | 'bad-request'
  | 'unauthorized'
  | 'forbidden'
  | 'quota'
  | 'not-found'
  | 'operation-failed'
  | 'canceled'
  | 'unknown';

export interface ArmErrorInfo {
  retryable: boolean;
  kind: ArmErrorKind;
  code: string;
  message: string;
  statusCode?: number;
  retryAfterMs?: number;
}

// 409 codes that mean "busy right now", as opposed to a real conflict in the request.
const IN_PROGRESS_CODES = new Set(
  [
    'OperationInProgress',
    'AnotherOperationInProgress',
    'ConflictingServerOperation',
    'ConflictingOperationInProgress',
    'ServerBusy',
    'ServerIsBusy',
    'OperationNotAllowedWhileAnotherOperationInProgress',
    'ResourceNotReady',
    'RetryableError',
  ].map((c) => c.toLowerCase()),
);

const QUOTA_CODES = new Set(
  [
    'QuotaExceeded',
    'ResourceQuotaExceeded',
    'SubscriptionQuotaExceeded',
    'QuotaLimitExceeded',
    'ServerQuotaExceeded',
    'InsufficientQuota',
    'SkuNotAvailable',
    'RegionQuotaExceeded',
  ].map((c) => c.toLowerCase()),
);

// Codes a failed long-running operation may end with that another attempt can get past.
const TRANSIENT_OPERATION_CODES = new Set(
  ['InternalServerError', 'ServiceUnavailable', 'GatewayTimeout', 'Timeout', 'OperationTimedOut', 'TooManyRequests'].map((c) => c.toLowerCase()),
);

const NETWORK_CODES = new Set([
  'REQUEST_SEND_ERROR',
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

// The SDK's pollers report a failed operation only through this message (core-lro 2.x and 3.x).
const LRO_FAILED = /^The long-running operation has failed(?:\. ([^\s.]+)\. ([\s\S]*))?$/;

const MAX_MESSAGE = 1024;

function clean(message: string): string {
  const s = scrubSecrets(message.trim());
  return s.length > MAX_MESSAGE ? `${s.slice(0, MAX_MESSAGE)}…` : s;
}

interface ArmErrorBody {
  code?: unknown;
  message?: unknown;
}

// RestError.details holds the parsed body; ARM wraps the error as { error: { code, message } }.
function bodyError(details: unknown): ArmErrorBody | undefined {
  if (!details || typeof details !== 'object') return undefined;
  const d = details as { error?: unknown; code?: unknown; message?: unknown };
  if (d.error && typeof d.error === 'object') return d.error as ArmErrorBody;
  if (typeof d.code === 'string') return d;
  return undefined;
}

export function classifyHttpFailure(statusCode: number, code: string, message: string, retryAfter?: number): ArmErrorInfo {
  const lower = code.toLowerCase();
  const base = { code, message: clean(message), statusCode, ...(retryAfter !== undefined ? { retryAfterMs: retryAfter } : {}) };
  if (QUOTA_CODES.has(lower)) return { ...base, retryable: false, kind: 'quota' };
  if (statusCode === 429) return { ...base, retryable: true, kind: 'throttled' };
  if (statusCode === 409) {
    return IN_PROGRESS_CODES.has(lower) ? { ...base, retryable: true, kind: 'conflict' } : { ...base, retryable: false, kind: 'conflict' };
  }
  if (statusCode === 408 || statusCode >= 500) return { ...base, retryable: true, kind: 'server' };
  if (statusCode === 401) return { ...base, retryable: false, kind: 'unauthorized' };
  if (statusCode === 403) return { ...base, retryable: false, kind: 'forbidden' };
  if (statusCode === 404) return { ...base, retryable: false, kind: 'not-found' };
  if (statusCode >= 400) return { ...base, retryable: false, kind: 'bad-request' };
  return { ...base, retryable: false, kind: 'unknown' };
}

/** Classifies anything an SDK call may throw. */
export function classifyArmError(err: unknown): ArmErrorInfo {
  if (isRestError(err)) {
    const body = bodyError(err.details);
    const status = err.statusCode ?? err.response?.status;
    const code = (typeof body?.code === 'string' && body.code) || err.code || (status ? `Http${status}` : 'RequestFailed');
    const message = (typeof body?.message === 'string' && body.message) || err.message;
    if (status === undefined) {
      const network = NETWORK_CODES.has(err.code ?? '') || err.code === undefined;
      return { retryable: network, kind: network ? 'network' : 'unknown', code, message: clean(message) };
    }
    const retryAfter = err.response ? parseRetryAfter(err.response.headers) : undefined;
    return classifyHttpFailure(status, code, message, retryAfter);
  }
  if (err instanceof Error) {
    const lro = LRO_FAILED.exec(err.message);
    if (lro) {
      const code = lro[1] && lro[1] !== 'undefined' ? lro[1] : 'OperationFailed';
      const message = lro[2] && lro[2] !== 'undefined' ? lro[2] : err.message;
      const lower = code.toLowerCase();
      const retryable = TRANSIENT_OPERATION_CODES.has(lower) || IN_PROGRESS_CODES.has(lower);
      return { retryable, kind: QUOTA_CODES.has(lower) ? 'quota' : 'operation-failed', code, message: clean(message) };
    }
    if (err.message === 'Operation was canceled') {
      return { retryable: false, kind: 'canceled', code: 'OperationCanceled', message: err.message };
    }
    if (err.name === 'AbortError' || err.name === 'TimeoutError') {
      return { retryable: true, kind: 'network', code: err.name, message: clean(err.message) };
    }
    const sysCode = (err as { code?: unknown }).code;
    if (typeof sysCode === 'string' && NETWORK_CODES.has(sysCode)) {
      return { retryable: true, kind: 'network', code: sysCode, message: clean(err.message) };
    }
    return { retryable: false, kind: 'unknown', code: err.name || 'Error', message: clean(err.message) };
  }
  return { retryable: false, kind: 'unknown', code: 'Unknown', message: clean(String(err)) };
}
