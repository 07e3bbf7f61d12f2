// Schedule math for on-demand backups, restore drills and database maintenance, pure so it can be unit-tested: five-field
// cron or @daily/@weekly..., always in UTC (croner with timezone UTC, so the operator's local zone and
// its DST changes never move a run), standard cron day-of-month OR day-of-week semantics.
import { Cron } from 'croner';

export function nextRunAfter(expr: string, after: Date): Date {
  const next = new Cron(expr, { timezone: 'UTC', paused: true, domAndDow: false }).nextRun(after);
  if (!next) throw new Error(`schedule ${expr} has no future run`);
  return next;
}

export interface ScheduleDecision {
  /** Run now. */
  due: boolean;
  /** When the next run is due (after this one when `due`). */
  next: Date;
}

/**
 * Given the due time recorded in status (`recordedNext`), decides whether a run is due at `now`.
 * - Nothing recorded yet (first sight): not due; the next occurrence after now is recorded.
 * - A recorded time that is not an occurrence of the current schedule (the schedule changed): the
 *   next occurrence after now replaces it, nothing runs.
 * - `now` at or past the recorded time: one run, however many occurrences were missed while the
 *   operator was down (one catch-up, not a burst); the next due time is the first occurrence after now.
 */
export function decide(expr: string, recordedNext: Date | undefined, now: Date): ScheduleDecision {
  if (!recordedNext || Number.isNaN(recordedNext.getTime())) return { due: false, next: nextRunAfter(expr, now) };
  const occurrence = nextRunAfter(expr, new Date(recordedNext.getTime() - 1000)).getTime() === recordedNext.getTime();
  if (!occurrence) return { due: false, next: nextRunAfter(expr, now) };
  if (now.getTime() >= recordedNext.getTime()) return { due: true, next: nextRunAfter(expr, now) };
  return { due: false, next: recordedNext };
}
