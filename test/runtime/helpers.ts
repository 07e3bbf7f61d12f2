// Shared pieces of the runtime tests: CRD installation, polling, reading /metrics, object fixtures,
// informers on a private cluster.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import YAML from 'yaml';
import { Informer, type InformerHandler, type InformerOptions } from '../../src/runtime/informer.js';
import { KubeClient } from '../../src/runtime/kubeclient.js';
import { createLogger, type Logger } from '../../src/runtime/logging.js';
import { kubectl } from '../../dev/env/testenv.js';
import { repoRoot } from '../../dev/env/paths.js';

export const CRD_DIR = path.join(repoRoot, 'crds');
export const EXAMPLES_DIR = path.join(CRD_DIR, 'examples');

/** Logs of in-process managers: silent unless TEST_LOG_LEVEL asks for them. */
export function testLogger(): Logger {
  return createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
}

export async function run(args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, input === undefined ? {} : { input });
  if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** Installs the generated CRDs of all four kinds (server-side apply, so parallel test files agree). */
export async function installCrds(): Promise<void> {
  const files = fs
    .readdirSync(CRD_DIR)
    .filter((f) => /^tenantdb\.io_.*\.yaml$/.test(f))
    .flatMap((f) => ['-f', path.join(CRD_DIR, f)]);
  await run(['apply', '--server-side', '--force-conflicts', '--field-manager=tenantdb-tests', ...files]);
  await run(['wait', '--for=condition=Established', '--timeout=60s', ...files]);
}

export async function eventually<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(intervalMs);
  }
}

export function httpGet(port: number, urlPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, timeout: 3_000, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** Value of one Prometheus sample, 0 when absent. Labels must match exactly the ones given (subset match). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have: Record<string, string> = {};
    for (const pair of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) have[pair[1] as string] = pair[2] as string;
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) {
      total += Number(m[4]);
      found = true;
    }
  }
  return found ? total : 0;
}

export async function scrape(port: number): Promise<string> {
  const r = await httpGet(port, '/metrics');
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`);
  return r.body;
}

export interface KindObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  spec: Record<string, unknown>;
}

/**
 * One object of each kind: the files in crds/examples when the API work provides them, otherwise the
 * minimal valid objects below.
 */
export function exampleObjects(namespace: string): KindObject[] {
  const byKind = new Map<string, KindObject>();
  if (fs.existsSync(EXAMPLES_DIR)) {
    for (const f of fs.readdirSync(EXAMPLES_DIR).sort()) {
      if (!/\.ya?ml$/.test(f)) continue;
      for (const doc of YAML.parseAllDocuments(fs.readFileSync(path.join(EXAMPLES_DIR, f), 'utf8'))) {
        const o = doc.toJS() as KindObject | null;
        if (o?.apiVersion === 'tenantdb.io/v1alpha1' && !byKind.has(o.kind)) byKind.set(o.kind, o);
      }
    }
  }
  const fallback: KindObject[] = [
    {
      apiVersion: 'tenantdb.io/v1alpha1',
      kind: 'TenantDatabase',
      metadata: { name: 'orders' },
      spec: {
        server: { external: { host: 'pg.example.com', adminSecretRef: { name: 'pg-admin' } } },
        database: { name: 'orders' },
        roles: { owner: 'orders_owner', application: 'orders_app' },
      },
    },
    {
      apiVersion: 'tenantdb.io/v1alpha1',
      kind: 'Migration',
      metadata: { name: 'orders-schema' },
      spec: { databaseRef: { name: 'orders' }, migrations: [{ version: '1', name: 'init', up: 'create table t (id int)' }] },
    },
    { apiVersion: 'tenantdb.io/v1alpha1', kind: 'BackupPolicy', metadata: { name: 'orders-backup' }, spec: { databaseRef: { name: 'orders' } } },
    { apiVersion: 'tenantdb.io/v1alpha1', kind: 'AlertRuleSet', metadata: { name: 'orders-alerts' }, spec: { databaseRef: { name: 'orders' } } },
  ];
  for (const o of fallback) if (!byKind.has(o.kind)) byKind.set(o.kind, o);
  return ['TenantDatabase', 'Migration', 'BackupPolicy', 'AlertRuleSet'].map((k) => {
    const o = structuredClone(byKind.get(k) as KindObject);
    o.metadata = { name: o.metadata.name, namespace };
    return o;
  });
}

export async function getJson<T = Record<string, unknown>>(args: string[]): Promise<T | undefined> {
  const r = await kubectl([...args, '-o', 'json']);
  if (r.status !== 0) {
    if (/NotFound|not found/.test(r.stderr)) return undefined;
    throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  }
  return JSON.parse(r.stdout) as T;
}

const ALL_KINDS = 'tenantdatabases.tenantdb.io,migrations.tenantdb.io,backuppolicies.tenantdb.io,alertrulesets.tenantdb.io';

/**
 * Deletes every tenantdb object in `namespace` while an operator still runs, so its finalizers are
 * removed and the namespace can go away after the test.
 */
export async function deleteAllKinds(namespace: string): Promise<void> {
  await kubectl(['delete', ALL_KINDS, '--all', '-n', namespace, '--wait=true', '--timeout=30s']);
}

/**
 * Starts an informer with its own client on `kubeconfig` (a private cluster's proxy, so a test can break
 * the connection). It is returned before it has synced, so afterAll can stop it even when the sync never
 * comes; stop() also closes the client.
 */
export function startInformer(
  kubeconfig: KubeConfig,
  options: Omit<InformerOptions, 'client' | 'logger'>,
  handler: InformerHandler,
): { informer: Informer; stop(): Promise<void> } {
  const client = new KubeClient(kubeconfig);
  const informer = new Informer({ ...options, client, logger: testLogger() });
  informer.addHandler(handler);
  informer.start();
  return {
    informer,
    async stop() {
      await informer.stop();
      client.close();
    },
  };
}
