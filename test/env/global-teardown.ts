// Stops every process the global setup started, and fails the run if any of them survives.
import { down, recordedProcesses } from './localenv.js';
import { isRunning } from './proc.js';
import { TEST_ENV_DIR } from './testenv.js';

export default async function globalTeardown(): Promise<void> {
  const started = recordedProcesses(TEST_ENV_DIR);
  await down(TEST_ENV_DIR);
  const survivors = started.filter((p) => isRunning(p));
  if (survivors.length > 0) throw new Error(`processes left running after teardown: ${JSON.stringify(survivors)}`);
}
