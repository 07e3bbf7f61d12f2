// Long-running operations as ARM runs them. A write answers 202 with Azure-AsyncOperation (operation
// status document), Location (operation result: 202 while running, then 200/204 or the error) and
// Retry-After. The operation's work runs after its configured duration; a rule can make it end Failed or
// hold it paused. A second write to a resource with an operation in flight gets a 409 from the handler.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ArmError, toArmError, type ArmErrorDetail } from './errors.js';
import type { Faults } from './faults.js';
import type { ArmRequest, ArmResponse } from './types.js';

export type OperationStatus = 'InProgress' | 'Succeeded' | 'Failed' | 'Canceled';

export interface OperationRecord {
  id: string;
  /** Resource-provider namespace and location that appear in the polling URLs. */
  namespace: string;
  location: string;
  subscriptionId: string;
  /** ARM id of the resource the operation acts on. */
  resourceId: string;
  /** Name used for durations and in the log, e.g. `servers.create`. */
  action: string;
  method: string;
  path: string;
  lockKey: string | undefined;
  status: OperationStatus;
  startTime: string;
  endTime?: string;
  error?: ArmErrorDetail;
  /** HTTP status the Location endpoint answers with when the operation failed. */
  failureStatus?: number;
  paused: boolean;
}

export interface StartOperation {
  req: ArmRequest;
  namespace: string;
  location: string;
  subscriptionId: string;
  resourceId: string;
  action: string;
  /** Operations sharing a lock key exclude each other (see `busy`). Defaults to the resource id. */
  lockKey?: string;
  /** Overrides the configured duration for this action. */
  durationMs?: number;
  /** The operation's effect; throwing an ArmError ends the operation Failed with that error. */
  run: (op: OperationRecord) => Promise<void> | void;
  /** Called when the operation ends Failed (injected or thrown), e.g. to set the resource's state back. */
  onFailed?: (op: OperationRecord, error: ArmError) => Promise<void> | void;
}

export interface LroSettings {
  /** Duration of an operation whose action has no entry in `durations`. */
  defaultDurationMs: number;
  durations: Record<string, number>;
  /** Retry-After (seconds) sent on 202s and on running polls. 0 lets clients use their own interval. */
  retryAfterSeconds: number;
}

export const defaultLroSettings = (): LroSettings => ({ defaultDurationMs: 1000, durations: {}, retryAfterSeconds: 1 });

export class LroManager {
  settings: LroSettings = defaultLroSettings();
  private ops = new Map<string, OperationRecord>();
  private waiters = new Map<string, () => void>();
  private running = new Set<Promise<void>>();

  /** Called whenever an operation ends (the emulator saves its state then). */
  onSettled: () => void = () => {};

  constructor(private readonly faults: Faults) {}

  configure(patch: Partial<LroSettings>): LroSettings {
    this.settings = { ...this.settings, ...patch, durations: { ...this.settings.durations, ...(patch.durations ?? {}) } };
    return this.settings;
  }

  reset(): void {
    this.settings = defaultLroSettings();
    for (const id of [...this.waiters.keys()]) this.resume(id);
  }

  get(id: string): OperationRecord | undefined {
    return this.ops.get(id.toLowerCase());
  }

  list(): OperationRecord[] {
    return [...this.ops.values()];
  }

  /** The in-flight operation holding `lockKey`, if any. */
  busy(lockKey: string): OperationRecord | undefined {
    const key = lockKey.toLowerCase();
    for (const op of this.ops.values()) if (op.status === 'InProgress' && op.lockKey === key) return op;
    return undefined;
  }

  /** Waits for every operation still running (used on shutdown and by tests). */
  async drain(): Promise<void> {
    for (const id of [...this.waiters.keys()]) this.resume(id);
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  pause(id: string): boolean {
    const op = this.get(id);
    if (!op || op.status !== 'InProgress') return false;
    op.paused = true;
    return true;
  }

  resume(id: string): boolean {
    const op = this.get(id);
    if (!op) return false;
    op.paused = false;
    const w = this.waiters.get(op.id);
    this.waiters.delete(op.id);
    w?.();
    return true;
  }

  private async gate(op: OperationRecord): Promise<void> {
    while (op.paused) await new Promise<void>((resolve) => this.waiters.set(op.id, resolve));
  }

  asyncOperationUrl(op: OperationRecord, baseUrl: string, apiVersion: string | undefined): string {
    return `${baseUrl}/subscriptions/${op.subscriptionId}/providers/${op.namespace}/locations/${encodeURIComponent(op.location)}/azureAsyncOperation/${op.id}${apiVersion ? `?api-version=${apiVersion}` : ''}`;
  }

  operationResultUrl(op: OperationRecord, baseUrl: string, apiVersion: string | undefined): string {
    return `${baseUrl}/subscriptions/${op.subscriptionId}/providers/${op.namespace}/locations/${encodeURIComponent(op.location)}/operationResults/${op.id}${apiVersion ? `?api-version=${apiVersion}` : ''}`;
  }

  /** Starts the operation and returns ARM's 202 response for the initial request. */
  start(o: StartOperation): ArmResponse {
    const op: OperationRecord = {
      id: randomUUID(),
      namespace: o.namespace,
      location: o.location.replace(/\s+/g, '').toLowerCase(),
      subscriptionId: o.subscriptionId,
      resourceId: o.resourceId,
      action: o.action,
      method: o.req.method,
      path: o.req.path,
      lockKey: (o.lockKey ?? o.resourceId).toLowerCase(),
      status: 'InProgress',
      startTime: new Date().toISOString(),
      paused: this.faults.shouldPause(o.req.method, o.req.path),
    };
    this.ops.set(op.id, op);
    const injected = this.faults.operationFault(o.req.method, o.req.path);
    const duration = o.durationMs ?? this.settings.durations[o.action] ?? this.settings.defaultDurationMs;
    const task = (async () => {
      await sleep(duration);
      await this.gate(op);
      try {
        if (injected) throw new ArmError(500, injected.code, injected.message ?? `Injected operation failure: ${injected.code}.`);
        await o.run(op);
        op.status = 'Succeeded';
      } catch (err) {
        const e = toArmError(err);
        op.status = 'Failed';
        op.error = e.toDetail();
        op.failureStatus = e.status;
        try {
          await o.onFailed?.(op, e);
        } catch {
          /* the failure is already recorded */
        }
      } finally {
        op.endTime = new Date().toISOString();
        this.onSettled();
      }
    })();
    this.running.add(task);
    void task.finally(() => this.running.delete(task));
    return {
      status: 202,
      headers: {
        'Azure-AsyncOperation': this.asyncOperationUrl(op, o.req.baseUrl, o.req.apiVersion),
        Location: this.operationResultUrl(op, o.req.baseUrl, o.req.apiVersion),
        'Retry-After': String(this.settings.retryAfterSeconds),
      },
    };
  }

  /** Body of the Azure-AsyncOperation URL (common-types OperationStatusResult shape). */
  statusDocument(op: OperationRecord): Record<string, unknown> {
    const doc: Record<string, unknown> = { name: op.id, status: op.status, startTime: op.startTime };
    if (op.endTime) doc.endTime = op.endTime;
    if (op.status === 'Succeeded') doc.percentComplete = 100;
    if (op.error) doc.error = op.error;
    return doc;
  }
}
