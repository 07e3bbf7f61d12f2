// Leader election between real operator processes (src/main.ts under the pinned Node): only the leader
// reconciles; a SIGKILLed leader is replaced once its lease expires (within 20 s); a SIGTERMed leader
// releases the lease on its way out, so its successor takes over within 3 s.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { repoRoot } from '../../dev/env/paths.js';
import { freePort, isRunning, startProcess, stopProcess, type ProcessRecord } from '../../dev/env/proc.js';
import { createTestNamespace, testEnv } from '../../dev/env/testenv.js';
import { deleteAllKinds, eventually, exampleObjects, getJson, httpGet, installCrds, metricValue, run, scrape } from './helpers.js';

const NODE = path.join(repoRoot, 'node_modules', 'node', 'bin', 'node');
const LEASE = 'rt-leader';

interface Operator {
  name: string;
  rec: ProcessRecord;
  metricsPort: number;
  healthPort: number;
}

let ns: string;
let logDir: string;
const operators: Operator[] = [];

async function startOperator(name: string): Promise<Operator> {
  const [metricsPort, healthPort] = [await freePort(), await freePort()];
  const rec = startProcess({
    name,
    binary: NODE,
    args: [
      '--import',
      'tsx',
      path.join(repoRoot, 'src', 'main.ts'),
      `--kubeconfig=${testEnv().kubeconfig}`,
      `--namespaces=${ns}`,
      '--leader-elect',
      `--leader-election-namespace=${ns}`,
      `--leader-election-id=${LEASE}`,
      `--metrics-bind-address=127.0.0.1:${metricsPort}`,
      `--health-probe-bind-address=127.0.0.1:${healthPort}`,
      '--log-level=info',
    ],
    logFile: path.join(logDir, `${name}.log`),
    cwd: repoRoot,
    env: { ...process.env, PATH: `${path.join(repoRoot, 'node_modules', '.bin')}:${process.env.PATH ?? ''}` },
  });
  const op = { name, rec, metricsPort, healthPort };
  operators.push(op);
  await eventually(`${name} ready`, async () => (await httpGet(healthPort, '/readyz')).status === 200, 60_000, 250);
  return op;
}

async function isLeader(op: Operator): Promise<boolean> {
  return metricValue(await scrape(op.metricsPort), 'leader_election_master_status', { name: LEASE }) === 1;
}

async function reconciles(op: Operator): Promise<number> {
  return metricValue(await scrape(op.metricsPort), 'controller_runtime_reconcile_total');
}

/** Polls every 50 ms and returns how long (ms) it took until `op` leads. */
async function timeUntilLeader(op: Operator, since: number, timeoutMs: number): Promise<number> {
  for (;;) {
    if (await isLeader(op).catch(() => false)) return Date.now() - since;
    if (Date.now() - since > timeoutMs) throw new Error(`${op.name} did not take over within ${timeoutMs} ms`);
    await sleep(50);
  }
}

async function observed(kind: string, name: string): Promise<boolean> {
  const o = await getJson<{ metadata: { generation: number }; status?: { observedGeneration?: number } }>(['get', `${kind}.tenantdb.io`, name, '-n', ns]);
  return o?.status?.observedGeneration === o?.metadata.generation;
}

beforeAll(async () => {
  await installCrds();
  ns = await createTestNamespace('rt-leader');
  logDir = path.join(testEnv().dir, 'logs', ns);
  fs.mkdirSync(logDir, { recursive: true });
}, 60_000);

afterAll(async () => {
  if (ns && operators.some((op) => isRunning(op.rec))) await deleteAllKinds(ns);
  await Promise.all(operators.map((op) => stopProcess(op.rec, 'SIGKILL', 1_000)));
  if (ns) await run(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
});

test('only the leader reconciles; SIGKILL → takeover within 20 s; SIGTERM → takeover within 3 s', async () => {
  const [a, b] = await Promise.all([startOperator('operator-a'), startOperator('operator-b')]);
  const first = await eventually('one leader', async () => {
    const [la, lb] = [await isLeader(a as Operator), await isLeader(b as Operator)];
    if (la && lb) throw new Error('two leaders');
    return la ? a : lb ? b : undefined;
  });
  const second = first === a ? (b as Operator) : (a as Operator);

  // Only the leader reconciles.
  const objects = exampleObjects(ns);
  await run(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
  for (const o of objects) await eventually(`${o.kind} observed`, () => observed(o.kind.toLowerCase(), o.metadata.name));
  expect(await reconciles(first)).toBeGreaterThanOrEqual(objects.length * 2);
  expect(await reconciles(second)).toBe(0);
  expect(await isLeader(second)).toBe(false);

  // SIGKILL: no release; the successor waits for the lease to expire.
  const killedAt = Date.now();
  process.kill(first.rec.pid, 'SIGKILL');
  const killTakeover = await timeUntilLeader(second, killedAt, 25_000);
  expect(killTakeover).toBeLessThan(20_000);
  await run(['apply', '-f', '-'], JSON.stringify({ ...objects[2], metadata: { name: 'after-kill', namespace: ns } }));
  await eventually('object created after the kill observed by the new leader', () => observed('backuppolicy', 'after-kill'));
  expect(await reconciles(second)).toBeGreaterThan(0);

  // SIGTERM: the leader releases the lease on its way out.
  const third = await startOperator('operator-c');
  expect(await isLeader(third)).toBe(false);
  const termAt = Date.now();
  process.kill(second.rec.pid, 'SIGTERM');
  const termTakeover = await timeUntilLeader(third, termAt, 10_000);
  expect(termTakeover).toBeLessThan(3_000);
  await eventually('terminated leader exited', async () => !isRunning(second.rec), 15_000);
  const log = fs.readFileSync(second.rec.logFile, 'utf8');
  expect(log).toMatch(/"msg":"released leader lease"/);
  expect(log).toMatch(/"msg":"manager stopped"/);
  await run(['apply', '-f', '-'], JSON.stringify({ ...objects[2], metadata: { name: 'after-term', namespace: ns } }));
  await eventually('object created after the handover observed', () => observed('backuppolicy', 'after-term'));
  // eslint-disable-next-line no-console
  console.log(`takeover after SIGKILL: ${killTakeover} ms, after SIGTERM: ${termTakeover} ms`);
}, 110_000);
