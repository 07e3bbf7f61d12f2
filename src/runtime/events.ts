// Kubernetes Events on events.k8s.io/v1. A repeat of the same event (same object, type, reason, action
// and note) within the series window updates the first event's `series` instead of creating a new
// object, as client-go's event broadcaster does, so a flapping object does not flood etcd.
// Event failures are logged and never fail a reconcile.
import os from 'node:os';
import type { Logger } from 'pino';
import type { KubeClient, KubeObject, ResourceRef } from './kubeclient.js';

export const EVENTS: ResourceRef = { group: 'events.k8s.io', version: 'v1', plural: 'events' };
const SERIES_WINDOW_MS = 6 * 60_000;
const MAX_NOTE = 1024;

export type EventType = 'Normal' | 'Warning';

/** metav1.MicroTime: RFC 3339 with microseconds. */
export function microTime(d: Date = new Date()): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

interface SeriesEntry {
  name: string;
  namespace: string;
  count: number;
  firstSeen: number;
}

export class EventRecorder {
  private readonly series = new Map<string, SeriesEntry>();
  private pruneTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly client: KubeClient,
    private readonly logger: Logger,
    readonly reportingController = 'tenantdb.io/operator',
    readonly reportingInstance = process.env.POD_NAME ?? os.hostname(),
  ) {}

  async event(regarding: KubeObject, type: EventType, reason: string, action: string, note: string): Promise<void> {
    const namespace = regarding.metadata.namespace ?? 'default';
    const trimmedNote = note.length > MAX_NOTE ? note.slice(0, MAX_NOTE - 3) + '...' : note;
    const key = [regarding.metadata.uid, type, reason, action, trimmedNote].join('\u0000');
    const now = Date.now();
    this.prune(now);
    try {
      const seen = this.series.get(key);
      if (seen) {
        seen.count++;
        await this.client.patch(EVENTS, seen.namespace, seen.name, 'merge', { series: { count: seen.count, lastObservedTime: microTime(new Date(now)) } });
        return;
      }
      const name = `${regarding.metadata.name}.${(BigInt(now) * 1_000_000n + BigInt(Math.floor(Math.random() * 1e6))).toString(16)}`;
      await this.client.create(EVENTS, namespace, {
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        metadata: { name, namespace },
        eventTime: microTime(new Date(now)),
        reportingController: this.reportingController,
        reportingInstance: this.reportingInstance.slice(0, 128),
        action,
        reason,
        note: trimmedNote,
        type,
        regarding: {
          apiVersion: regarding.apiVersion,
          kind: regarding.kind,
          name: regarding.metadata.name,
          namespace: regarding.metadata.namespace,
          uid: regarding.metadata.uid,
          resourceVersion: regarding.metadata.resourceVersion,
        },
      });
      this.series.set(key, { name, namespace, count: 1, firstSeen: now });
      this.schedulePrune();
    } catch (err) {
      this.series.delete(key);
      this.logger.warn({ err: err instanceof Error ? err.message : String(err), reason, object: `${namespace}/${regarding.metadata.name}` }, 'could not record event');
    }
  }

  private prune(now: number): void {
    for (const [k, v] of this.series) if (now - v.firstSeen > SERIES_WINDOW_MS) this.series.delete(k);
  }

  /**
   * Entries past the window go even when no further event comes (a converged fleet records none): one
   * timer while the map holds entries, so a quiet operator keeps no per-object state here.
   */
  private schedulePrune(): void {
    if (this.pruneTimer) return;
    this.pruneTimer = setTimeout(() => {
      this.pruneTimer = undefined;
      this.prune(Date.now());
      if (this.series.size > 0) this.schedulePrune();
    }, SERIES_WINDOW_MS + 1_000);
    this.pruneTimer.unref();
  }
}
