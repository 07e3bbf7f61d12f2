// Leader election on a coordination.k8s.io/v1 Lease, following client-go's leaderelection package: a
// candidate takes the lease when it is free or its holder has not renewed it for a lease duration
// (measured on the candidate's own clock from when it last saw the record change, so clock skew
// between nodes does not matter); the leader renews every retry period and gives up leadership if it
// cannot renew within the renew deadline. On release the holder is cleared, so a successor does not
// wait out the lease.
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import { ApiError, isNotFound, resourcePath, type KubeClient, type KubeObject, type ResourceRef } from './kubeclient.js';
import { microTime } from './events.js';
import { Informer } from './informer.js';
import { leaderElectionMasterStatus } from './metrics.js';

export const LEASES: ResourceRef = { group: 'coordination.k8s.io', version: 'v1', plural: 'leases' };

export interface LeaderElectionConfig {
  client: KubeClient;
  namespace: string;
  name: string;
  identity?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  logger: Logger;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

type Lease = KubeObject & { spec?: LeaseSpec };

export function defaultIdentity(): string {
  return `${process.env.POD_NAME ?? os.hostname()}_${randomUUID()}`;
}

export class LeaderElector {
  readonly identity: string;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private observed: LeaseSpec | undefined;
  private observedTime = 0;
  private observedLease: Lease | undefined;
  private leading = false;
  private readonly log: Logger;

  constructor(private readonly cfg: LeaderElectionConfig) {
    this.identity = cfg.identity ?? defaultIdentity();
    this.leaseDurationMs = cfg.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = cfg.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = cfg.retryPeriodMs ?? 2_000;
    if (this.leaseDurationMs <= this.renewDeadlineMs) throw new Error('lease duration must be greater than the renew deadline');
    this.log = cfg.logger.child({ lease: `${cfg.namespace}/${cfg.name}`, identity: this.identity });
    leaderElectionMasterStatus.set({ name: cfg.name }, 0);
  }

  isLeader(): boolean {
    return this.leading;
  }

  /**
   * Blocks until this candidate holds the lease (true) or `signal` aborts (false). Besides retrying
   * every retry period, a candidate watches the Lease and tries at once when the holder releases it,
   * so a handover on graceful shutdown does not wait for the next retry tick.
   */
  async acquire(signal: AbortSignal): Promise<boolean> {
    this.log.info('attempting to acquire leader lease');
    let wake: AbortController | undefined;
    const watcher = new Informer({
      client: this.cfg.client,
      resource: LEASES,
      namespace: this.cfg.namespace,
      fieldSelector: `metadata.name=${this.cfg.name}`,
      logger: this.log,
    });
    const onChange = (lease: Lease | undefined): void => {
      if (!lease?.spec?.holderIdentity) wake?.abort();
    };
    watcher.addHandler({ onUpdate: (_o, n) => onChange(n as Lease), onDelete: () => onChange(undefined) });
    watcher.start();
    try {
      while (!signal.aborted) {
        if (await this.tryAcquireOrRenew()) {
          this.setLeading(true);
          this.log.info('acquired leader lease');
          return true;
        }
        wake = new AbortController();
        const stop = (): void => wake?.abort();
        signal.addEventListener('abort', stop, { once: true });
        await sleep(this.retryPeriodMs * (1 + Math.random() * 0.2), undefined, { signal: wake.signal }).catch(() => undefined);
        signal.removeEventListener('abort', stop);
      }
      return false;
    } finally {
      await watcher.stop();
    }
  }

  /**
   * Renews the lease until `signal` aborts (resolves true: leadership was given up on purpose) or a
   * renewal did not succeed within the renew deadline (resolves false: leadership lost).
   */
  async renewLoop(signal: AbortSignal): Promise<boolean> {
    let lastRenew = Date.now();
    while (!signal.aborted) {
      await sleep(this.retryPeriodMs, undefined, { signal }).catch(() => undefined);
      if (signal.aborted) break;
      if (await this.tryAcquireOrRenew()) {
        lastRenew = Date.now();
        continue;
      }
      if (Date.now() - lastRenew > this.renewDeadlineMs) {
        this.setLeading(false);
        this.log.error('failed to renew leader lease within the renew deadline; leadership lost');
        return false;
      }
    }
    return true;
  }

  /** Clears the holder so a successor can take over at once (client-go's ReleaseOnCancel). */
  async release(): Promise<void> {
    if (!this.leading) return;
    const path = resourcePath(LEASES, this.cfg.namespace, this.cfg.name);
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const lease = attempt === 0 && this.observedLease ? this.observedLease : await this.cfg.client.request<Lease>('GET', path, { timeoutMs: 5_000 });
        if (lease.spec?.holderIdentity !== this.identity) break; // someone else holds it already
        const now = microTime();
        await this.cfg.client.request('PUT', path, {
          timeoutMs: 5_000,
          body: { ...lease, spec: { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaseTransitions: lease.spec?.leaseTransitions ?? 0 } },
        });
        this.log.info('released leader lease');
        break;
      } catch (err) {
        // 409: our cached copy was stale; read it again and retry.
        if (err instanceof ApiError && err.statusCode === 409) continue;
        this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not release leader lease');
        break;
      }
    }
    this.setLeading(false);
  }

  private setLeading(v: boolean): void {
    this.leading = v;
    leaderElectionMasterStatus.set({ name: this.cfg.name }, v ? 1 : 0);
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const client = this.cfg.client;
    const path = resourcePath(LEASES, this.cfg.namespace, this.cfg.name);
    const now = Date.now();
    const nowMicro = microTime(new Date(now));
    const timeoutMs = Math.min(5_000, this.renewDeadlineMs / 2);
    let lease: Lease;
    try {
      lease = await client.request<Lease>('GET', path, { timeoutMs });
    } catch (err) {
      if (!isNotFound(err)) {
        this.log.warn({ err: (err as Error).message }, 'could not read leader lease');
        return false;
      }
      try {
        const created = await client.request<Lease>('POST', resourcePath(LEASES, this.cfg.namespace), {
          timeoutMs,
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name: this.cfg.name, namespace: this.cfg.namespace },
            spec: this.record(nowMicro, nowMicro, 0),
          },
        });
        this.observe(created, now);
        return true;
      } catch (e) {
        this.log.debug({ err: (e as Error).message }, 'could not create leader lease');
        return false;
      }
    }

    const spec = lease.spec ?? {};
    if (!isDeepStrictEqual(spec, this.observed)) this.observe(lease, now);
    else this.observedLease = lease;
    const holder = spec.holderIdentity ?? '';
    const durationMs = (spec.leaseDurationSeconds ?? 0) * 1000;
    if (holder !== '' && holder !== this.identity && this.observedTime + durationMs > now) return false;

    const mine = holder === this.identity;
    const next = this.record(
      mine && spec.acquireTime ? spec.acquireTime : nowMicro,
      nowMicro,
      mine ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
    );
    try {
      const updated = await client.request<Lease>('PUT', path, { timeoutMs, body: { ...lease, spec: next } });
      this.observe(updated, now);
      return true;
    } catch (err) {
      if (!(err instanceof ApiError && err.statusCode === 409)) this.log.warn({ err: (err as Error).message }, 'could not update leader lease');
      return false;
    }
  }

  private record(acquireTime: string, renewTime: string, transitions: number): LeaseSpec {
    return {
      holderIdentity: this.identity,
      leaseDurationSeconds: Math.round(this.leaseDurationMs / 1000),
      acquireTime,
      renewTime,
      leaseTransitions: transitions,
    };
  }

  private observe(lease: Lease, now: number): void {
    this.observedLease = lease;
    this.observed = lease.spec ?? {};
    this.observedTime = now;
  }
}
