// Starts one local environment for the whole test run. Test files read it through testenv.ts.
import fs from 'node:fs';
import { envFlag, up } from './localenv.js';
import { TEST_ENV_DIR } from './testenv.js';

export default async function globalSetup(): Promise<void> {
  const started = Date.now();
  const say = (m: string) => process.stderr.write(`[env] ${m}\n`);
  // Start from clean state each run; `up` first stops whatever a crashed run left behind.
  const { down } = await import('./localenv.js');
  await down(TEST_ENV_DIR);
  fs.rmSync(TEST_ENV_DIR, { recursive: true, force: true });
  // TENANTDB_TEST_NO_ARM=1 skips the ARM emulator for a quicker loop on Kubernetes-only work.
  const info = await up({ dir: TEST_ENV_DIR, log: say, arm: !envFlag('TENANTDB_TEST_NO_ARM') });
  say(`environment ready in ${((Date.now() - started) / 1000).toFixed(1)} s (${info.kubernetes.server}, postgres ${info.postgres.host}:${info.postgres.port})`);
}
