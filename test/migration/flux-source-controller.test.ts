// Steps from a Flux GitRepository that Flux's real source-controller reconciles: source-controller (built
// from the Go module proxy, dev/env/go/source-controller) runs against the test apiserver with Flux's own
// CRDs, clones from Flux's test Git server (dev/env/go/gitserver, smart HTTP) and serves the artifact
// itself. The operator reads status.artifact, fetches from source-controller's storage address (its
// --source-artifact-origin), verifies the digest and applies the steps; a new commit reaches the database
// once source-controller publishes the new revision: through the operator's watch on GitRepositories (the
// fallback poll is set to 10 minutes here, so only the watch can bring it within the test's time). flux-source.test.ts covers what a real
// source-controller never does (a digest that does not match, an artifact on another origin).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ensureGoTool } from '../../dev/env/binaries.js';
import { fluxCrdFiles } from '../../dev/env/flux.js';
import { createTestNamespace, testEnv } from '../../dev/env/testenv.js';
import { DEFAULT_ARTIFACT_LIMITS } from '../../src/migrations/artifact/fetch.js';
import type { ResourceRef } from '../../src/runtime/kubeclient.js';
import type { Manager } from '../../src/runtime/manager.js';
import { deleteAllKinds, eventually, installCrds, run } from '../runtime/helpers.js';
import { closeKube, createMigration, createTenantDatabase, getMigration, kube, markReady, startMigrationOperator, waitFor } from './fixtures.js';
import { closeConnections, createTestDatabase, type TestDatabase } from './pg.js';

const GIT_REPOSITORIES: ResourceRef = { group: 'source.toolkit.fluxcd.io', version: 'v1', plural: 'gitrepositories' };
/** Building source-controller the first time on a machine takes minutes (the test set-up normally has). */
const BUILD_MS = 30 * 60_000;

let ns: string;
let mgr: Manager;
let work: string;
let gitServer: ChildProcess | undefined;
let sourceController: ChildProcess | undefined;
let gitUrl = '';
let storage = '';
const dbs: TestDatabase[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=tenantdb-tests', '-c', 'user.email=tests@tenantdb.local', '-c', 'init.defaultBranch=main', ...args], { cwd, encoding: 'utf8' });
}

/** Commits `files` (path -> content) on main of the served repository and returns the commit. */
function commit(files: Record<string, string>, message: string): string {
  const clone = path.join(work, 'clone');
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.join(clone, path.dirname(name)), { recursive: true });
    fs.writeFileSync(path.join(clone, name), text);
  }
  git(clone, 'add', '-A');
  git(clone, 'commit', '-q', '-m', message);
  git(clone, 'push', '-q', 'origin', 'HEAD:main');
  return git(clone, 'rev-parse', 'HEAD').trim();
}

/** Starts the Git server on a bare repository and waits for the URL it prints. */
async function startGitServer(): Promise<void> {
  const bin = await ensureGoTool('gitserver', () => undefined, BUILD_MS);
  const root = path.join(work, 'repos');
  fs.mkdirSync(root, { recursive: true });
  git(root, 'init', '-q', '--bare', 'steps.git');
  git(work, 'clone', '-q', path.join(root, 'steps.git'), 'clone');
  gitServer = spawn(bin, ['-root', root], { stdio: ['ignore', 'pipe', 'inherit'] });
  gitUrl = await new Promise<string>((resolve, reject) => {
    gitServer?.once('exit', (code) => reject(new Error(`gitserver exited with ${code}`)));
    gitServer?.stdout?.once('data', (d: Buffer) => resolve(d.toString().trim().split('\n')[0] as string));
  });
}

/** Starts source-controller on the test apiserver, watching the test namespace only. */
async function startSourceController(): Promise<void> {
  const bin = await ensureGoTool('source-controller', () => undefined, BUILD_MS);
  const port = await freePort();
  storage = `http://127.0.0.1:${port}`;
  const storagePath = path.join(work, 'storage');
  fs.mkdirSync(storagePath, { recursive: true });
  // Kept beside the run's environment for a failure's diagnosis.
  const log = fs.openSync(path.join(testEnv().dir, `source-controller-${ns}.log`), 'w');
  sourceController = spawn(
    bin,
    [
      '--watch-all-namespaces=false',
      '--enable-leader-election=false',
      `--storage-path=${storagePath}`,
      `--storage-addr=127.0.0.1:${port}`,
      `--storage-adv-addr=127.0.0.1:${port}`,
      '--metrics-addr=127.0.0.1:0',
      `--health-addr=127.0.0.1:${await freePort()}`,
      '--log-level=info',
    ],
    { stdio: ['ignore', log, log], env: { ...process.env, KUBECONFIG: testEnv().kubeconfig, RUNTIME_NAMESPACE: ns } },
  );
}

beforeAll(async () => {
  await installCrds();
  const crds = fluxCrdFiles();
  for (const f of crds) await run(['apply', '--server-side', '--force-conflicts', '--field-manager=tenantdb-tests', '-f', f]);
  for (const f of crds) await run(['wait', '--for=condition=Established', '--timeout=60s', '-f', f]);
  work = fs.mkdtempSync(path.join(testEnv().dir, 'flux-sc-'));
  ns = await createTestNamespace('mig-fluxsc');
  await startGitServer();
  await startSourceController();
  ({ mgr } = await startMigrationOperator(ns, 'test-operator', { artifactLimits: { ...DEFAULT_ARTIFACT_LIMITS, origin: storage, timeoutMs: 10_000 }, sourcePollMs: 10 * 60_000 }));
}, BUILD_MS + 120_000);

afterAll(async () => {
  if (ns) await deleteAllKinds(ns);
  await mgr?.stop();
  sourceController?.kill('SIGTERM');
  gitServer?.kill('SIGTERM');
  closeKube();
  await closeConnections();
  if (ns) await run(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  for (const db of dbs) await db.drop().catch(() => undefined);
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

const tableExists = async (db: TestDatabase, table: string) => (await db.sql<{ t: string | null }>(`SELECT to_regclass('public.${table}')::text AS t`))[0]?.t !== null;

/** status.artifact of the GitRepository once source-controller archived `commitSha`. */
async function artifactOf(name: string, commitSha: string): Promise<{ revision: string; digest: string; url: string }> {
  return eventually(
    `source-controller archives ${commitSha.slice(0, 8)}`,
    async () => {
      const repo = (await kube().get(GIT_REPOSITORIES, ns, name)) as { status?: { artifact?: { revision: string; digest: string; url: string } } };
      const a = repo.status?.artifact;
      return a && a.revision.endsWith(commitSha) ? a : undefined;
    },
    90_000,
    250,
  );
}

test('source-controller clones, archives and serves; the operator verifies the digest and applies; a new commit applies its step', async () => {
  const db = await createTestDatabase('fluxsc');
  dbs.push(db);
  await createTenantDatabase(ns, 'git-db', db);
  await markReady(ns, 'git-db');
  const first = commit(
    {
      'README.md': 'not a migration, outside path',
      'db/migrations/1_items.up.sql': 'CREATE TABLE items (id int PRIMARY KEY);',
      'db/migrations/1_items.down.sql': 'DROP TABLE items;',
    },
    'first step',
  );
  await kube().create(GIT_REPOSITORIES, ns, { apiVersion: 'source.toolkit.fluxcd.io/v1', kind: 'GitRepository', metadata: { name: 'app' }, spec: { interval: '1m', url: `${gitUrl}/steps.git`, ref: { branch: 'main' } } });
  const a1 = await artifactOf('app', first);
  expect(a1.url.startsWith(`${storage}/gitrepository/${ns}/app/`)).toBe(true);
  expect(a1.digest).toMatch(/^sha256:[0-9a-f]{64}$/);

  await createMigration(ns, 'from-git', { databaseRef: { name: 'git-db' }, sources: [{ sourceRef: { kind: 'GitRepository', name: 'app' }, path: 'db/migrations' }] });
  const m1 = await waitFor(ns, 'from-git', { ready: true, reason: 'Migrated' });
  expect(m1.status).toMatchObject({ appliedVersion: '1', sources: [{ name: 'GitRepository/app:db/migrations', format: 'golang-migrate', revision: a1.revision, digest: a1.digest }] });
  expect(await tableExists(db, 'items')).toBe(true);

  // A new commit; source-controller is asked to look now (Flux's reconcile request annotation) rather
  // than at its next interval.
  const second = commit({ 'db/migrations/2_more.up.sql': 'CREATE TABLE more (id int);' }, 'second step');
  await kube().patch(GIT_REPOSITORIES, ns, 'app', 'merge', { metadata: { annotations: { 'reconcile.fluxcd.io/requestedAt': new Date().toISOString() } } });
  const a2 = await artifactOf('app', second);
  expect(a2.digest).not.toBe(a1.digest);
  const m2 = await eventually('version 2 applied from the new revision', async () => {
    const m = await getMigration(ns, 'from-git');
    return m.status?.appliedVersion === '2' ? m : undefined;
  }, 60_000);
  expect(m2.status).toMatchObject({ sources: [{ revision: a2.revision, digest: a2.digest }] });
  expect(await tableExists(db, 'more')).toBe(true);
}, 240_000);
