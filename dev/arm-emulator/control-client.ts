// Typed client for the emulator's control API (see README.md), for tests and benchmarks.
import fs from 'node:fs';
import https from 'node:https';
import type { LatencyRule, OperationFaultRule, PauseRule, RequestFaultRule } from './framework/faults.js';
import type { LroSettings, OperationRecord } from './framework/lro.js';
import type { RequestLogSnapshot } from './framework/request-log.js';
import type { BucketName, BucketSettings, ThrottleSettings } from './framework/throttle.js';

export type { LatencyRule, OperationFaultRule, PauseRule, RequestFaultRule, LroSettings, OperationRecord, RequestLogSnapshot, ThrottleSettings };

type Optional<T, K extends keyof T> = Omit<T, K> & Partial<Pick<T, K>>;

export class EmulatorControl {
  private readonly ca: string;

  /** `controlEndpoint` as in arm.json (`https://host:port/_emulator`); `caFile` the harness CA. */
  constructor(
    private readonly controlEndpoint: string,
    caFile: string,
  ) {
    this.ca = fs.readFileSync(caFile, 'utf8');
  }

  private call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = new URL(this.controlEndpoint.replace(/\/$/, '') + path);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise<T>((resolve, reject) => {
      const req = https.request(
        url,
        { method, ca: this.ca, headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {} },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if ((res.statusCode ?? 500) >= 400) reject(new Error(`control API ${method} ${path}: ${res.statusCode} ${text}`));
            else resolve((text ? JSON.parse(text) : undefined) as T);
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  health(): Promise<{ ok: boolean; specs: boolean; specsRoot: string }> {
    return this.call('GET', '/health');
  }
  lroSettings(): Promise<LroSettings> {
    return this.call('GET', '/lro');
  }
  configureLro(settings: Partial<LroSettings>): Promise<LroSettings> {
    return this.call('PUT', '/lro', settings);
  }
  operations(): Promise<OperationRecord[]> {
    return this.call('GET', '/operations');
  }
  pauseOperation(id: string): Promise<{ ok: boolean }> {
    return this.call('POST', `/operations/${encodeURIComponent(id)}/pause`);
  }
  resumeOperation(id: string): Promise<{ ok: boolean }> {
    return this.call('POST', `/operations/${encodeURIComponent(id)}/resume`);
  }
  /** The next `count` (default 1) requests matching method/path (regex) fail with status + code. */
  failRequests(rule: Optional<RequestFaultRule, 'count'>): Promise<{ ok: boolean }> {
    return this.call('POST', '/faults/requests', rule);
  }
  /** The next matching long-running operations end Failed with code/message. */
  failOperations(rule: Optional<OperationFaultRule, 'count'>): Promise<{ ok: boolean }> {
    return this.call('POST', '/faults/operations', rule);
  }
  /** The next matching long-running operations start paused (see resumeOperation). */
  pauseOperations(rule: Optional<PauseRule, 'count'>): Promise<{ ok: boolean }> {
    return this.call('POST', '/faults/pause', rule);
  }
  addLatency(rule: LatencyRule): Promise<{ ok: boolean }> {
    return this.call('POST', '/latency', rule);
  }
  throttling(): Promise<ThrottleSettings> {
    return this.call('GET', '/throttling');
  }
  configureThrottling(settings: Partial<Record<BucketName, Partial<BucketSettings>>>): Promise<ThrottleSettings> {
    return this.call('PUT', '/throttling', settings);
  }
  requests(since?: string): Promise<RequestLogSnapshot> {
    return this.call('GET', `/requests${since ? `?since=${encodeURIComponent(since)}` : ''}`);
  }
  clearRequests(): Promise<{ ok: boolean }> {
    return this.call('DELETE', '/requests');
  }
  reset(): Promise<{ ok: boolean }> {
    return this.call('POST', '/reset');
  }
  /** Registers a service principal in the emulator's Microsoft Entra (client secret and/or federated credentials). */
  registerServicePrincipal(sp: {
    tenantId: string;
    clientId: string;
    objectId?: string;
    displayName?: string;
    clientSecret?: string;
    federatedCredentials?: { issuer: string; subject: string }[];
    /** ARM scopes the principal has a role on; absent: all (requests elsewhere get 403 AuthorizationFailed). */
    roleAssignments?: string[];
  }): Promise<{ tenantId: string; clientId: string; objectId: string }> {
    return this.call('POST', '/entra/servicePrincipals', sp);
  }
  removeServicePrincipal(tenantId: string, clientId: string): Promise<{ ok: boolean }> {
    return this.call('DELETE', `/entra/servicePrincipals/${encodeURIComponent(tenantId)}/${encodeURIComponent(clientId)}`);
  }
  /** Lifetime of the tokens the Entra endpoint issues from now on (a test hook). */
  entraSettings(s: { tokenLifetimeSeconds: number }): Promise<{ tokenLifetimeSeconds: number }> {
    return this.call('PUT', '/entra/settings', s);
  }
  entraStats(): Promise<{ tokensIssued: number; failures: number; byClient: Record<string, number>; byAudience: Record<string, number> }> {
    return this.call('GET', '/entra/stats');
  }
  /** A token signed with the emulator's Entra key carrying these claims (expired, another audience...). A test hook, not Entra. */
  mintToken(o: { authority: string; tenantId: string; objectId: string; audience: string; expiresInSeconds?: number; claims?: Record<string, unknown> }): Promise<{ accessToken: string }> {
    return this.call('POST', '/entra/tokens', o);
  }
  /** Database logins the emulator's Entra login endpoint checked. */
  entraLogins(): Promise<{ accepted: number; refused: number }> {
    return this.call('GET', '/entra/logins');
  }
  /**
   * Pauses (or resumes) WAL replay on a read replica (pg_wal_replay_pause/resume as its superuser): it keeps
   * receiving WAL but stops applying it, so its replay lag on the primary grows. A test hook, not ARM.
   */
  replicaReplay(serverName: string, action: 'pause' | 'resume'): Promise<{ paused: boolean }> {
    return this.call('POST', `/replicas/${encodeURIComponent(serverName)}/replay/${action}`);
  }
  /** Stops (or starts again) a read replica's walreceiver: its slot on the primary stays, nobody streams from it. A test hook, not ARM. */
  replicaStreaming(serverName: string, action: 'stop' | 'start'): Promise<{ streaming: boolean }> {
    return this.call('POST', `/replicas/${encodeURIComponent(serverName)}/streaming/${action}`);
  }
  /**
   * Ships a server's current WAL segment to its archive now (and so to its geo copy), as archive_timeout
   * does on its own every few minutes: what was committed so far becomes restorable by a GeoRestore. A test hook, not ARM.
   */
  archiveWal(serverName: string): Promise<{ segment: string }> {
    return this.call('POST', `/servers/${encodeURIComponent(serverName)}/wal/archive`);
  }
  /** FQDN → { host, port } of every emulated PostgreSQL server. */
  hosts(): Promise<Record<string, { host: string; port: number }>> {
    return this.call('GET', '/hosts');
  }
}
