// Every ARM request the emulator answered, for tests and benchmarks (counts by kind show, for example,
// how many status polls a reconcile cost).
import type { RequestKind } from './types.js';

export interface RequestLogEntry {
  time: string;
  method: string;
  path: string;
  apiVersion: string | undefined;
  status: number;
  kind: RequestKind;
  principal: string;
  /** ARM error code when the response was an error. */
  code?: string;
  durationMs: number;
}

export interface RequestLogSnapshot {
  entries: RequestLogEntry[];
  counts: Record<RequestKind, number> & { total: number; throttled: number; errors: number };
}

const MAX_ENTRIES = 50_000;

export class RequestLog {
  private entries: RequestLogEntry[] = [];
  private counts = RequestLog.emptyCounts();

  private static emptyCounts(): RequestLogSnapshot['counts'] {
    return { read: 0, write: 0, delete: 0, poll: 0, total: 0, throttled: 0, errors: 0 };
  }

  add(e: RequestLogEntry): void {
    this.entries.push(e);
    if (this.entries.length > MAX_ENTRIES) this.entries.splice(0, this.entries.length - MAX_ENTRIES);
    this.counts[e.kind] += 1;
    this.counts.total += 1;
    if (e.status === 429) this.counts.throttled += 1;
    if (e.status >= 400) this.counts.errors += 1;
  }

  snapshot(since?: string): RequestLogSnapshot {
    const entries = since ? this.entries.filter((e) => e.time >= since) : [...this.entries];
    if (!since) return { entries, counts: { ...this.counts } };
    const counts = RequestLog.emptyCounts();
    for (const e of entries) {
      counts[e.kind] += 1;
      counts.total += 1;
      if (e.status === 429) counts.throttled += 1;
      if (e.status >= 400) counts.errors += 1;
    }
    return { entries, counts };
  }

  clear(): void {
    this.entries = [];
    this.counts = RequestLog.emptyCounts();
  }
}
