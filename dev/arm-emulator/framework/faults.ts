// Test hooks applied to every ARM route: injected failures, added latency, and rules that make the next
// matching long-running operation fail or wait paused. Configured through the control API.
import { ArmError } from './errors.js';

interface Matcher {
  /** HTTP method (case-insensitive); omitted matches any. */
  method?: string;
  /** Regular expression tested against the request path (case-insensitive); omitted matches any. */
  path?: string;
}

export interface RequestFaultRule extends Matcher {
  status: number;
  code: string;
  message?: string;
  retryAfterSeconds?: number;
  /** Echo the request body in the message, as some ARM validation errors do (raw, JSON-escaped or percent-encoded). */
  echoBody?: 'raw' | 'json-escaped' | 'percent-encoded';
  /** How many matching requests fail; the rule is dropped once spent. */
  count: number;
}

export interface LatencyRule extends Matcher {
  ms: number;
  /** Matching requests delayed; omitted = every matching request until reset. */
  count?: number;
}

export interface OperationFaultRule extends Matcher {
  code: string;
  message?: string;
  count: number;
}

export interface PauseRule extends Matcher {
  count: number;
}

function matches(rule: Matcher, method: string, path: string): boolean {
  if (rule.method && rule.method.toUpperCase() !== method.toUpperCase()) return false;
  if (rule.path && !new RegExp(rule.path, 'i').test(path)) return false;
  return true;
}

/** Takes one use of the first matching rule, dropping it when spent. */
function consume<T extends Matcher & { count?: number }>(rules: T[], method: string, path: string): T | undefined {
  const i = rules.findIndex((r) => matches(r, method, path));
  if (i < 0) return undefined;
  const rule = rules[i]!;
  if (rule.count !== undefined) {
    rule.count -= 1;
    if (rule.count <= 0) rules.splice(i, 1);
  }
  return rule;
}

export class Faults {
  requestFaults: RequestFaultRule[] = [];
  latency: LatencyRule[] = [];
  operationFaults: OperationFaultRule[] = [];
  pauses: PauseRule[] = [];

  reset(): void {
    this.requestFaults = [];
    this.latency = [];
    this.operationFaults = [];
    this.pauses = [];
  }

  /** Throws the injected error when a request-fault rule matches. */
  checkRequest(method: string, path: string, body = ''): void {
    const rule = consume(this.requestFaults, method, path);
    if (!rule) return;
    const headers: Record<string, string> = {};
    if (rule.retryAfterSeconds !== undefined) headers['Retry-After'] = String(rule.retryAfterSeconds);
    const base = rule.message ?? `Injected fault: ${rule.code}.`;
    const echo = rule.echoBody === 'json-escaped' ? JSON.stringify(body) : rule.echoBody === 'percent-encoded' ? encodeURIComponent(body) : body;
    throw new ArmError(rule.status, rule.code, rule.echoBody ? `${base} Request body: ${echo}` : base, undefined, undefined, headers);
  }

  latencyFor(method: string, path: string): number {
    return consume(this.latency, method, path)?.ms ?? 0;
  }

  /** For a starting LRO: the error it must end with, if a rule says so. */
  operationFault(method: string, path: string): OperationFaultRule | undefined {
    return consume(this.operationFaults, method, path);
  }

  shouldPause(method: string, path: string): boolean {
    return consume(this.pauses, method, path) !== undefined;
  }
}
