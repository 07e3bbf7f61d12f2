// Starts one local environment for the whole test run. Test files read it through testenv.ts.
import fs from 'node:fs';
import path from 'node:path';
import { down, envFlag, up } from './localenv.js';
import { prebuildShipTools, runNeedsShipTools, type SelectedTests } from './prebuild.js';
import { TEST_RUNS_DIR } from './testenv.js';

/** Environments of earlier runs whose jest process is gone (crashed or killed): stop and remove them. */
async function reapStaleRuns(): Promise<void> {
  if (!fs.existsSync(TEST_RUNS_DIR)) return;
  for (const entry of fs.readdirSync(TEST_RUNS_DIR)) {
    const m = /^run-(\d+)$/.exec(entry);
    if (!m || fs.existsSync(`/proc/${m[1]}`)) continue;
    const dir = path.join(TEST_RUNS_DIR, entry);
    await down(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export default async function globalSetup(selected?: SelectedTests): Promise<void> {
  const started = Date.now();
  const say = (m: string) => process.stderr.write(`[env] ${m}\n`);
  await reapStaleRuns();
  // One folder per run, exported to the workers, so parallel runs (two terminals, CI and a developer)
  // keep separate servers. An explicit TENANTDB_TEST_ENV_DIR is honoured and started afresh.
  const dir = process.env.TENANTDB_TEST_ENV_DIR ?? path.join(TEST_RUNS_DIR, `run-${process.pid}`);
  process.env.TENANTDB_TEST_ENV_DIR = dir;
  await down(dir);
  fs.rmSync(dir, { recursive: true, force: true });
  // Built before the servers start, so a build that fails leaves nothing running.
  if (runNeedsShipTools(selected)) {
    const t = Date.now();
    await prebuildShipTools(dir, say);
    say(`test tools ready in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  }
  // TENANTDB_TEST_NO_ARM=1 skips the ARM emulator for a quicker loop on Kubernetes-only work.
  const info = await up({ dir, log: say, arm: !envFlag('TENANTDB_TEST_NO_ARM') });
  say(`environment ready in ${((Date.now() - started) / 1000).toFixed(1)} s (${info.kubernetes.server}, postgres ${info.postgres.host}:${info.postgres.port})`);
}
