// `npm run dev`: the main job. Brings the local environment up (or reuses a running one), installs the
// CRDs, runs the operator against it, applies the examples and reports when every one of them is Ready.
// The operator stays in the foreground until Ctrl-C; `--once` stops it after the report (used by tests).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { KINDS } from '../../src/api/kinds.js';
import { readEnvInfo, recordedProcesses, up, type EnvInfo } from './localenv.js';
import { localDir, repoRoot } from './paths.js';
import { EnvError, freePort, isRunning, runCommand, waitFor } from './proc.js';
import { prepareFixtures } from './dev-fixtures/index.js';
import { showPooler } from './dev-fixtures/pooler.js';
import { localOperatorFlags } from './operator.js';

const NAMESPACE = 'tenantdb-dev';
const say = (m: string) => process.stderr.write(`[dev] ${m}\n`);

async function kubectl(env: EnvInfo, args: string[], input?: string): Promise<string> {
  const res = await runCommand(env.kubectl, ['--kubeconfig', env.kubeconfig, ...args], input === undefined ? {} : { input });
  if (res.code !== 0) throw new EnvError(`kubectl ${args.join(' ')} failed: ${res.stderr.trim()}`);
  return res.stdout;
}

async function ensureEnvironment(dir: string): Promise<EnvInfo> {
  const recs = recordedProcesses(dir);
  if (recs.length > 0 && recs.every(isRunning)) {
    try {
      const info = readEnvInfo(dir);
      say(`reusing the running local environment in ${dir}`);
      return info;
    } catch {
      /* half up: start again */
    }
  }
  return up({ dir, log: say });
}

interface Conditioned {
  kind: string;
  metadata: { name: string; generation?: number };
  status?: { observedGeneration?: number; conditions?: Array<{ type: string; status: string; reason?: string; message?: string }> };
}

function readiness(o: Conditioned): { ready: boolean; reason: string } {
  const ready = o.status?.conditions?.find((c) => c.type === 'Ready');
  const current = o.status?.observedGeneration === o.metadata.generation;
  return { ready: ready?.status === 'True' && current, reason: ready ? `${ready.reason ?? ''}: ${ready.message ?? ''}` : 'no Ready condition yet' };
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { dir: { type: 'string' }, once: { type: 'boolean' }, timeout: { type: 'string' } } });
  const dir = path.resolve(values.dir ?? localDir());
  const timeoutMs = Number(values.timeout ?? 180) * 1000;
  const env = await ensureEnvironment(dir);

  say('installing the CRDs from crds/');
  await kubectl(env, ['apply', '--server-side', '--field-manager=tenantdb-dev', '-f', path.join(repoRoot, 'crds')]);
  await kubectl(env, ['wait', '--for=condition=Established', '--timeout=60s', ...Object.values(KINDS).map((k) => `crd/${k.plural}.tenantdb.io`)]);
  await kubectl(env, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } }));

  const metricsPort = await freePort();
  const healthPort = await freePort();
  const logFile = path.join(dir, 'logs', 'operator.log');
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  say(`starting the operator (logs: ${logFile}, metrics: http://127.0.0.1:${metricsPort}/metrics)`);
  const logFd = fs.openSync(logFile, 'a');
  const operator: ChildProcess = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(repoRoot, 'src', 'main.ts'),
      ...localOperatorFlags(env),
      `--metrics-bind-address=127.0.0.1:${metricsPort}`,
      `--health-probe-bind-address=127.0.0.1:${healthPort}`,
    ],
    { cwd: repoRoot, stdio: ['ignore', logFd, logFd] },
  );
  fs.closeSync(logFd);
  const exited = new Promise<number>((resolve) => operator.on('exit', (code) => resolve(code ?? 1)));
  const stopOperator = async () => {
    if (operator.exitCode === null) operator.kill('SIGTERM');
    return exited;
  };
  process.on('SIGINT', () => void stopOperator().then(() => process.exit(0)));
  process.on('SIGTERM', () => void stopOperator().then(() => process.exit(0)));

  try {
    await waitFor(
      'operator /readyz',
      async () => (await fetch(`http://127.0.0.1:${healthPort}/readyz`, { signal: AbortSignal.timeout(1000) })).ok,
      { timeoutMs: 60_000 },
    );
    await prepareFixtures({
      env,
      dir,
      namespace: NAMESPACE,
      kubectl: (args, input) => kubectl(env, args, input),
      apply: async (manifest) => void (await kubectl(env, ['apply', '-n', NAMESPACE, '-f', '-'], typeof manifest === 'string' ? manifest : JSON.stringify(manifest))),
      say,
    });
    say(`applying crds/examples/ to namespace ${NAMESPACE}`);
    await kubectl(env, ['apply', '-n', NAMESPACE, '-f', path.join(repoRoot, 'crds', 'examples')]);

    const kinds = Object.values(KINDS).map((k) => `${k.plural}.tenantdb.io`).join(',');
    const deadline = Date.now() + timeoutMs;
    let pending: string[] = [];
    for (;;) {
      const list = JSON.parse(await kubectl(env, ['get', kinds, '-n', NAMESPACE, '-o', 'json'])) as { items: Conditioned[] };
      pending = list.items.filter((o) => !readiness(o).ready).map((o) => `${o.kind}/${o.metadata.name} (${readiness(o).reason})`);
      if (list.items.length > 0 && pending.length === 0) {
        process.stdout.write(await kubectl(env, ['get', kinds, '-n', NAMESPACE]));
        say(`all ${list.items.length} examples are Ready`);
        await showPooler({ env, dir, namespace: NAMESPACE, kubectl: (args, input) => kubectl(env, args, input), apply: async () => undefined, say });
        break;
      }
      if (operator.exitCode !== null) throw new EnvError(`the operator exited (code ${operator.exitCode}); see ${logFile}`);
      if (Date.now() > deadline) throw new EnvError(`not Ready after ${timeoutMs / 1000} s: ${pending.join(', ')}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    if (values.once) {
      await stopOperator();
      return 0;
    }
    say('the operator keeps running; Ctrl-C stops it (`npm run env -- down` stops the environment)');
    return await exited;
  } catch (err) {
    await stopOperator();
    throw err;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`error: ${err instanceof EnvError ? err.message : (err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
