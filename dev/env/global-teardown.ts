// Stops every process the global setup started, and fails the run if any of them survives.
import fs from 'node:fs';
import { down, recordedProcesses } from './localenv.js';
import { isRunning } from './proc.js';
import { testEnvDir } from './testenv.js';

export default async function globalTeardown(): Promise<void> {
  const dir = testEnvDir();
  const started = recordedProcesses(dir);
  await down(dir);
  const survivors = started.filter((p) => isRunning(p));
  if (survivors.length > 0) throw new Error(`processes left running after teardown: ${JSON.stringify(survivors)}`);
  // Keep the logs of a failed run for inspection only when asked; otherwise leave nothing behind.
  if (!process.env.TENANTDB_KEEP_TEST_ENV) fs.rmSync(dir, { recursive: true, force: true });
}
