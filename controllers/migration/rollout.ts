// Step 4 of a Migration pass: which of the databases with pending work start a run now. At most
// rollout.maxParallel at once (one for a databaseRef); after a failure, stopOnFailure starts no more.
import type { Evaluation, MigrationPass } from './pass.js';
import { runningMessage } from './run.js';

export function applyRollout(pass: MigrationPass, evals: ReadonlyMap<string, Evaluation>): void {
  const { spec, key } = pass.kit;
  const maxParallel = spec.databaseSelector !== undefined ? (spec.rollout?.maxParallel ?? 1) : 1;
  const stopOnFailure = spec.rollout?.stopOnFailure ?? true;
  const failedDb = [...evals.values()].find((e) => e.progress.phase === 'Failed');
  let slots = maxParallel - pass.env.runs.activeCount(key);
  for (const e of evals.values()) {
    if (!e.start) continue;
    if (failedDb && stopOnFailure) {
      e.progress = { ...e.progress, reason: 'StoppedOnFailure', message: `not started: ${failedDb.progress.name} failed and rollout.stopOnFailure is set` };
      continue;
    }
    if (slots <= 0) {
      e.progress = { ...e.progress, reason: 'WaitingForRollout', message: `${e.progress.message}; waiting for a rollout slot (maxParallel ${maxParallel})` };
      continue;
    }
    slots--;
    const run = e.start();
    e.progress = { ...e.progress, phase: 'Running', ...runningMessage(run) };
  }
}
