// Steps from a Flux source artifact, through the controller against the real apiserver and PostgreSQL.
// Flux's source-controller is not built here (a Go build of it and its dependencies does not fit this
// environment's time); in its place a node HTTP server serves artifacts as source-controller documents
// them (https://fluxcd.io/flux/components/source/gitrepositories/#artifact): a tar.gz (made by the
// system's GNU tar) at /gitrepository/<namespace>/<name>/<checksum>.tar.gz, its sha256 in
// status.artifact.digest. Flux's own CRDs are installed (dev/env/flux.ts); the tests write status.artifact as
// source-controller would. flux-source-controller.test.ts runs the real source-controller.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Manager } from '../../src/runtime/manager.js';
import type { ResourceRef } from '../../src/runtime/kubeclient.js';
import { DEFAULT_ARTIFACT_LIMITS } from '../../src/migrations/artifact/fetch.js';
import { fluxCrdFiles } from '../../dev/env/flux.js';
import { createTestNamespace } from '../../dev/env/testenv.js';
import { deleteAllKinds, eventually, installCrds, run } from '../runtime/helpers.js';
import { closeKube, createMigration, createTenantDatabase, getMigration, kube, markReady, startMigrationOperator, waitFor } from './fixtures.js';
import { closeConnections, createTestDatabase, type TestDatabase } from './pg.js';

const GIT_REPOSITORIES: ResourceRef = { group: 'source.toolkit.fluxcd.io', version: 'v1', plural: 'gitrepositories' };

/** A server that serves artifacts by path and counts every request it gets. */
class ArtifactServer {
  readonly files = new Map<string, Buffer>();
  requests = 0;
  private server = http.createServer((req, res) => {
    this.requests++;
    const body = this.files.get(req.url ?? '');
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/gzip', 'content-length': body.length }).end(body);
  });
  origin = '';
  async start(host: string): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, host, r));
    this.origin = `http://${host === '127.0.0.1' ? '127.0.0.1' : 'localhost'}:${(this.server.address() as AddressInfo).port}`;
  }
  stop(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** A tar.gz of `files` (path -> content) made by GNU tar, as source-controller archives a checkout. */
function tarGz(files: Record<string, string>): Buffer {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flux-artifact-'));
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.join(dir, 'src', path.dirname(name)), { recursive: true });
    fs.writeFileSync(path.join(dir, 'src', name), text);
  }
  execFileSync('tar', ['-czf', path.join(dir, 'a.tar.gz'), '-C', path.join(dir, 'src'), '.']);
  const body = fs.readFileSync(path.join(dir, 'a.tar.gz'));
  fs.rmSync(dir, { recursive: true, force: true });
  return body;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let ns: string;
let mgr: Manager;
const served = new ArtifactServer();
const elsewhere = new ArtifactServer();
const dbs: TestDatabase[] = [];

beforeAll(async () => {
  await installCrds();
  const crds = fluxCrdFiles();
  for (const f of crds) await run(['apply', '--server-side', '--force-conflicts', '--field-manager=tenantdb-tests', '-f', f]);
  for (const f of crds) await run(['wait', '--for=condition=Established', '--timeout=60s', '-f', f]);
  await served.start('127.0.0.1');
  await elsewhere.start('localhost');
  ns = await createTestNamespace('mig-flux');
  ({ mgr } = await startMigrationOperator(ns, 'test-operator', { artifactLimits: { ...DEFAULT_ARTIFACT_LIMITS, origin: served.origin, timeoutMs: 5_000 }, sourcePollMs: 500 }));
});

afterAll(async () => {
  if (ns) await deleteAllKinds(ns);
  await mgr?.stop();
  closeKube();
  await closeConnections();
  await served.stop();
  await elsewhere.stop();
  if (ns) await run(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  for (const db of dbs) await db.drop().catch(() => undefined);
});

async function database(name: string): Promise<TestDatabase> {
  const db = await createTestDatabase('flux');
  dbs.push(db);
  await createTenantDatabase(ns, name, db);
  await markReady(ns, name);
  return db;
}

/** Publishes `body` on `server` and points the GitRepository's status.artifact at it (as source-controller does). */
async function publish(server: ArtifactServer, repo: string, body: Buffer, revision: string, digest = `sha256:${sha256(body)}`): Promise<string> {
  const urlPath = `/gitrepository/${ns}/${repo}/${sha256(body)}.tar.gz`;
  server.files.set(urlPath, body);
  await kube()
    .create(GIT_REPOSITORIES, ns, { apiVersion: 'source.toolkit.fluxcd.io/v1', kind: 'GitRepository', metadata: { name: repo }, spec: { interval: '1m', url: 'https://example.invalid/app.git', ref: { branch: 'main' } } })
    .catch((e: { statusCode?: number }) => {
      if (e.statusCode !== 409) throw e;
    });
  const artifact = { path: `gitrepository/${ns}/${repo}/${sha256(body)}.tar.gz`, url: `${server.origin}${urlPath}`, revision, digest, lastUpdateTime: new Date().toISOString(), size: body.length };
  await kube().patch(GIT_REPOSITORIES, ns, repo, 'merge', { status: { artifact } }, { subresource: 'status' });
  return digest;
}

const tableExists = async (db: TestDatabase, table: string) => (await db.sql<{ t: string | null }>(`SELECT to_regclass('public.${table}')::text AS t`))[0]?.t !== null;

const v1 = {
  'README.md': 'not a migration, outside path',
  'db/migrations/1_items.up.sql': 'CREATE TABLE items (id int PRIMARY KEY);',
  'db/migrations/1_items.down.sql': 'DROP TABLE items;',
  'db/migrations/archive/9_never.up.sql': 'CREATE TABLE never (id int);',
};

test('steps from a GitRepository artifact apply; a new revision with one more step applies it; an unchanged digest is not fetched again', async () => {
  const db = await database('git-db');
  const body1 = tarGz(v1);
  const digest1 = await publish(served, 'app', body1, 'main@sha1:1111111111111111111111111111111111111111');
  await createMigration(ns, 'from-git', { databaseRef: { name: 'git-db' }, sources: [{ sourceRef: { kind: 'GitRepository', name: 'app' }, path: 'db/migrations' }] });
  const m1 = await waitFor(ns, 'from-git', { ready: true, reason: 'Migrated' });
  expect(m1.status).toMatchObject({
    appliedVersion: '1',
    sources: [{ name: 'GitRepository/app:db/migrations', format: 'golang-migrate', detected: true, revision: 'main@sha1:1111111111111111111111111111111111111111', digest: digest1 }],
  });
  expect(await tableExists(db, 'items')).toBe(true);
  expect(await tableExists(db, 'never')).toBe(false); // a subdirectory of path is not read
  // Looked at again (the watch, a reconcile): the same digest is served from the cache.
  const fetched = served.requests;
  await new Promise((r) => setTimeout(r, 2_000));
  expect(served.requests).toBe(fetched);

  const body2 = tarGz({ ...v1, 'db/migrations/2_more.up.sql': 'CREATE TABLE more (id int);' });
  const digest2 = await publish(served, 'app', body2, 'main@sha1:2222222222222222222222222222222222222222');
  const m2 = await eventually('version 2 applied from the new revision', async () => {
    const m = await getMigration(ns, 'from-git');
    return m.status?.appliedVersion === '2' ? m : undefined;
  });
  expect(m2.status).toMatchObject({ sources: [{ revision: 'main@sha1:2222222222222222222222222222222222222222', digest: digest2 }] });
  expect(await tableExists(db, 'more')).toBe(true);
}, 120_000);

test('an artifact whose digest does not match status.artifact.digest stalls the Migration and runs nothing', async () => {
  const db = await database('mismatch-db');
  const body = tarGz(v1);
  await publish(served, 'tampered', body, 'main@sha1:3333333333333333333333333333333333333333', `sha256:${sha256(Buffer.from('something else'))}`);
  await createMigration(ns, 'tampered', { databaseRef: { name: 'mismatch-db' }, sources: [{ sourceRef: { kind: 'GitRepository', name: 'tampered' }, path: 'db/migrations' }] });
  const m = await waitFor(ns, 'tampered', { stalled: true, reason: 'ArtifactDigestMismatch' });
  expect(m.status?.appliedVersion).toBeUndefined();
  // Looked at again: the same URL and digest are not downloaded again.
  const fetched = served.requests;
  await new Promise((r) => setTimeout(r, 1_500));
  expect(served.requests).toBe(fetched);
  expect(await tableExists(db, 'items')).toBe(false);
}, 60_000);

test('an artifact URL on another origin is refused without a request to it', async () => {
  const db = await database('origin-db');
  await publish(elsewhere, 'elsewhere', tarGz(v1), 'main@sha1:4444444444444444444444444444444444444444');
  await createMigration(ns, 'elsewhere', { databaseRef: { name: 'origin-db' }, sources: [{ sourceRef: { kind: 'GitRepository', name: 'elsewhere' }, path: 'db/migrations' }] });
  const m = await waitFor(ns, 'elsewhere', { stalled: true, reason: 'ArtifactOriginNotAllowed' });
  expect(m.status?.conditions?.find((c) => c.type === 'Ready')?.message).toContain(elsewhere.origin);
  expect(elsewhere.requests).toBe(0);
  expect(await tableExists(db, 'items')).toBe(false);
}, 60_000);

test('the schema refuses a source with both or neither reference, and a path that climbs out', async () => {
  const bad = async (source: Record<string, unknown>) => {
    const err = await createMigration(ns, `bad-${Math.random().toString(36).slice(2, 8)}`, { databaseRef: { name: 'x' }, sources: [source] }).then(() => undefined, (e: Error) => e);
    return String(err?.message ?? 'accepted');
  };
  expect(await bad({ configMapRef: { name: 'a' }, sourceRef: { kind: 'GitRepository', name: 'b' } })).toContain('exactly one of configMapRef or sourceRef');
  expect(await bad({ path: 'db' })).toContain('exactly one of configMapRef or sourceRef');
  expect(await bad({ sourceRef: { kind: 'GitRepository', name: 'b' }, path: 'db/../secrets' })).toContain('must not contain . or .. segments');
  expect(await bad({ sourceRef: { kind: 'GitRepository', name: 'b' }, path: '/etc' })).toContain('path');
  expect(await bad({ configMapRef: { name: 'a' }, path: 'db' })).toContain('path applies to sourceRef only');
});
