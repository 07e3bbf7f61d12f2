// The emulator's control API under /_emulator/ (same port as ARM, not an ARM path): LRO timing, fault and
// latency injection, pausing operations, throttling settings, the request log, reset. See README.md.
import type { EmulatorContext } from './framework/context.js';
import type { LatencyRule, OperationFaultRule, PauseRule, RequestFaultRule } from './framework/faults.js';
import type { LroSettings } from './framework/lro.js';
import type { ThrottleSettings } from './framework/throttle.js';

function need<T>(body: unknown, what: string): T {
  if (!body || typeof body !== 'object') throw new Error(`${what}: a JSON object body is required`);
  return body as T;
}

function checkRegex(p: string | undefined): void {
  if (p !== undefined) new RegExp(p);
}

export function registerControlApi(ctx: EmulatorContext): void {
  const c = ctx.addControlRoute;
  c('GET', '/_emulator/health', () => ({ ok: true, specs: ctx.specs.available, specsRoot: ctx.specs.root }));

  c('GET', '/_emulator/lro', () => ctx.lro.settings);
  c('PUT', '/_emulator/lro', (b) => ctx.lro.configure(need<Partial<LroSettings>>(b, 'lro')));
  c('GET', '/_emulator/operations', () => ctx.lro.list());
  c('POST', '/_emulator/operations/([^/]+)/pause', (_b, _q, m) => ({ ok: ctx.lro.pause(m[1]!) }));
  c('POST', '/_emulator/operations/([^/]+)/resume', (_b, _q, m) => ({ ok: ctx.lro.resume(m[1]!) }));

  c('POST', '/_emulator/faults/requests', (b) => {
    const r = need<RequestFaultRule>(b, 'request fault');
    if (typeof r.status !== 'number' || typeof r.code !== 'string') throw new Error('status (number) and code (string) are required');
    checkRegex(r.path);
    ctx.faults.requestFaults.push({ ...r, count: r.count ?? 1 });
    return { ok: true };
  });
  c('POST', '/_emulator/faults/operations', (b) => {
    const r = need<OperationFaultRule>(b, 'operation fault');
    if (typeof r.code !== 'string') throw new Error('code (string) is required');
    checkRegex(r.path);
    ctx.faults.operationFaults.push({ ...r, count: r.count ?? 1 });
    return { ok: true };
  });
  c('POST', '/_emulator/faults/pause', (b) => {
    const r = need<PauseRule>(b, 'pause rule');
    checkRegex(r.path);
    ctx.faults.pauses.push({ ...r, count: r.count ?? 1 });
    return { ok: true };
  });
  c('POST', '/_emulator/latency', (b) => {
    const r = need<LatencyRule>(b, 'latency rule');
    if (typeof r.ms !== 'number') throw new Error('ms (number) is required');
    checkRegex(r.path);
    ctx.faults.latency.push(r);
    return { ok: true };
  });
  c('GET', '/_emulator/faults', () => ({
    requests: ctx.faults.requestFaults,
    operations: ctx.faults.operationFaults,
    pauses: ctx.faults.pauses,
    latency: ctx.faults.latency,
  }));

  c('GET', '/_emulator/throttling', () => ctx.throttler.settings);
  c('PUT', '/_emulator/throttling', (b) => ctx.throttler.configure(need<Partial<ThrottleSettings>>(b, 'throttling')));

  c('GET', '/_emulator/requests', (_b, q) => ctx.requestLog.snapshot(q.get('since') ?? undefined));
  c('DELETE', '/_emulator/requests', () => {
    ctx.requestLog.clear();
    return { ok: true };
  });

  c('POST', '/_emulator/reset', () => {
    ctx.faults.reset();
    ctx.throttler.reset();
    ctx.lro.reset();
    ctx.requestLog.clear();
    return { ok: true };
  });
}
