// What a test file needs from the environment jest's global setup started: its description, a
// KubeConfig for @kubernetes/client-node, and the built kubectl bound to that cluster.
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { readEnvInfo, type EnvInfo } from './localenv.js';
import { repoRoot } from './paths.js';
import { runCommand } from './proc.js';

/** Parent of the per-run environments jest's global setup starts (apart from a developer's `.local/`). */
export const TEST_RUNS_DIR = path.join(repoRoot, '.local', 'test');

/**
 * The environment of this test run. Global setup picks a folder per run and exports it in
 * TENANTDB_TEST_ENV_DIR, which the jest workers inherit, so concurrent runs never share or stop
 * each other's servers.
 */
export function testEnvDir(): string {
  const dir = process.env.TENANTDB_TEST_ENV_DIR;
  if (!dir) throw new Error('TENANTDB_TEST_ENV_DIR is not set: run the tests through jest (npm test), whose global setup starts the environment');
  return dir;
}

let cached: EnvInfo | undefined;

export function testEnv(): EnvInfo {
  cached ??= readEnvInfo(testEnvDir());
  return cached;
}

export function kubeConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(testEnv().kubeconfig);
  return kc;
}

export interface KubectlResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs the environment's kubectl (asynchronously, so parallel calls overlap). */
export async function kubectl(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<KubectlResult> {
  const env = testEnv();
  const res = await runCommand(env.kubectl, ['--kubeconfig', env.kubeconfig, ...args], { timeoutMs: opts.timeoutMs ?? 60_000, ...(opts.input !== undefined ? { input: opts.input } : {}) });
  return { status: res.code, stdout: res.stdout, stderr: res.stderr };
}

/** Creates a namespace with a unique name for one test file and returns its name. */
export async function createTestNamespace(prefix: string): Promise<string> {
  const name = `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`.toLowerCase();
  const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
  await core.createNamespace({ body: { metadata: { name } } });
  return name;
}
