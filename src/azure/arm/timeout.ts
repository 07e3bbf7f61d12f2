// Every ARM call has a deadline: a request that hangs (a dropped connection, a budget wait behind a
// throttled subscription, an SDK retry loop) must end in an error the controller can requeue on, not
// hold a worker. The deadline covers the whole call (budget wait, retries, the poll an LRO start sends)
// and is well below the reconcile timeouts yet far above what a healthy call takes.
import type { OperationOptions } from '@azure/core-client';

export const ARM_CALL_TIMEOUT_MS = 120_000;

/** An abort signal that fires after the deadline, or with `signal` (whichever comes first). */
export function deadline(signal?: AbortSignal, ms = ARM_CALL_TIMEOUT_MS): AbortSignal {
  const t = AbortSignal.timeout(ms);
  return signal ? AbortSignal.any([signal, t]) : t;
}

/** SDK operation options carrying the deadline (merged with the caller's). */
export function withDeadline<T extends OperationOptions>(options?: T, ms = ARM_CALL_TIMEOUT_MS): T & { abortSignal: AbortSignal } {
  return { ...(options ?? ({} as T)), abortSignal: deadline(options?.abortSignal as AbortSignal | undefined, ms) };
}
