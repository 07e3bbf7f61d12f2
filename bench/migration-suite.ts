// A realistic suite through the Migration controller: the 208 up scripts of Harness (Gitness), shipped
// under bench/fixtures/harness/ with its license, against `psql` running the same files in one session.
// A private local environment (etcd + kube-apiserver + PostgreSQL; no ARM), a Manager in this process
// with only the Migration controller, a TenantDatabase made Ready through /status, fresh databases. The
// process runs with the image's node flags and ENV (suite-image-runtime, node-runtime.ts), as the
// deployed operator does; kubectl and psql are started from a user's shell (user-shell.ts).
//  - psql: one `psql -X -q -v ON_ERROR_STOP=1 -f ... ` process as the administrator with role=<owner>,
//    wall time; runs before, between and after the operator's runs; the minimum is compared.
//  - operator: the suite in ONE ConfigMap (format detected: golang-migrate) and one Migration applied
//    with `kubectl apply` (the ConfigMap applied the same way before, the TenantDatabase Ready and both
//    in the operator's cache). Its span is first step's started_at to last step's applied_at (server
//    clock); overhead per step = (min span - min psql) / steps.
//  - apply to first statement: from the moment a user's shell (user-shell.ts: one small bash, not this
//    process, which hosts the operator and costs a fork of hundreds of MB) starts `kubectl apply -f
//    migration.json`, to the first history row's started_at (the step's BEGIN; the server's clock).
//    Shell, server and benchmark run on one machine and read one system clock, so the two are
//    comparable to well under a millisecond.
//    The median of the runs is the actual; kubectl's own time (process start, request, exit) is reported
//    beside it, as is the time from kubectl's exit to the first statement.
//  - day two (reported, no goal of its own): after the runs, three steps added to each run's ConfigMap,
//    applied with kubectl from the user's shell; its start to the first new step's BEGIN, with the
//    operator's sessions closed.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { registerMigrationController } from '../controllers/migration/index.js';
import { resourceOf } from '../src/api/resources.js';
import { closeAllPostgresConnections } from '../src/postgres/connections.js';
import { ident, literal } from '../src/postgres/ident.js';
import { KubeClient, type KubeObject, type ResourceRef } from '../src/runtime/kubeclient.js';
import { createLogger } from '../src/runtime/logging.js';
import { Manager } from '../src/runtime/manager.js';
import type { EnvInfo } from '../dev/env/localenv.js';
import { repoRoot } from '../dev/env/paths.js';
import { allPass, benchDir, goal, log, numFlag, quantile, round, withEnv, type Benchmark, type BenchResult, type Flags } from './common.js';
import { kubectl, psqlBinary, superSql } from './migration-overhead.js';
import { IMAGE_RUNTIME_FLAG, ownNodeFlags } from './node-runtime.js';
import { withUserShell, type UserShell } from './user-shell.js';

const MIGRATIONS = resourceOf('Migration');
const TDS = resourceOf('TenantDatabase');
const CONFIGMAPS: ResourceRef = { group: '', version: 'v1', plural: 'configmaps' };
const SECRETS: ResourceRef = { group: '', version: 'v1', plural: 'secrets' };
const NS = 'bench-suite';
const SUITE = path.join(repoRoot, 'bench', 'fixtures', 'harness', 'migrations');

type Cond = { type: string; status: string; reason?: string; message?: string };
const conditionsOf = (o: KubeObject | undefined): Cond[] => ((o?.status as { conditions?: Cond[] } | undefined)?.conditions ?? []);

/** The TenantDatabase made Ready through /status (no TenantDatabase controller runs here). */
async function readyDatabase(client: KubeClient, env: EnvInfo, name: string, database: string, owner: string): Promise<void> {
  await client.create(TDS, NS, {
    apiVersion: 'tenantdb.io/v1alpha1',
    kind: 'TenantDatabase',
    metadata: { name },
    spec: {
      server: { external: { host: env.postgres.host, port: env.postgres.port, sslMode: 'verify-full', caSecretRef: { name: 'ca' }, adminSecretRef: { name: 'admin' } } },
      database: { name: database },
      roles: { owner, application: 'bench_app' },
    },
  });
  const td = (await client.get(TDS, NS, name)) as KubeObject;
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const c = (type: string, status: string) => ({ type, status, reason: 'Bench', message: '', lastTransitionTime: now, observedGeneration: td.metadata.generation });
  await client.patch(TDS, NS, name, 'merge', { status: { observedGeneration: td.metadata.generation, conditions: [c('Ready', 'True'), c('Reconciling', 'False'), c('Stalled', 'False')] } }, { subresource: 'status' });
}

/** Polls `check` every `everyMs` (the polls run on the operator's thread: a wait that times nothing polls seldom). */
async function until(what: string, ms: number, check: () => boolean, everyMs = 5): Promise<void> {
  const t0 = performance.now();
  while (!check()) {
    if (performance.now() - t0 > ms) throw new Error(`${what}: not within ${ms / 1000} s`);
    await sleep(everyMs);
  }
}

/**
 * Day two: the steps a team adds to a suite that is already applied (a table, a column, an index), in the
 * same ConfigMap. Applying the ConfigMap is what reconciles the Migration (its ConfigMap watch).
 */
const DAY_TWO: ReadonlyArray<readonly [string, string]> = [
  ['0209_day2_create_audit.up.sql', 'CREATE TABLE day2_audit (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), principal_id integer);\n'],
  ['0210_day2_audit_note.up.sql', 'ALTER TABLE day2_audit ADD COLUMN note text;\n'],
  ['0211_day2_audit_at.up.sql', 'CREATE INDEX day2_audit_at ON day2_audit (at);\n'],
];

/** Until the operator holds no session on these databases (its pools close idle sessions after 10 s). */
async function noOperatorSessions(env: EnvInfo, dbs: string[]): Promise<void> {
  const t0 = performance.now();
  for (;;) {
    const rows = await superSql(env, `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = ANY(${literal(`{${dbs.join(',')}}`)}::text[]) AND application_name LIKE 'tenantdb-operator%'`);
    if (Number(rows[0]?.n) === 0) return;
    if (performance.now() - t0 > 30_000) throw new Error('the operator still holds sessions on the suite databases after 30 s');
    await sleep(250);
  }
}

interface DayTwo {
  latencies: number[];
  kubectlMs: number[];
  afterKubectl: number[];
}

/** Run r's ConfigMap (its suite, first script marked with the run) and Migration. */
const cmName = (r: number) => `harness-${r + 1}`;
const migrationName = (r: number) => `suite-${r + 1}`;

/** `kubectl apply` of one file from the user's shell: when it started and when it exited (wall clock). */
async function userApply(shell: UserShell, env: EnvInfo, args: string[]): Promise<{ t0: number; t1: number }> {
  const res = await shell.run([env.kubectl, '--kubeconfig', env.kubeconfig, 'apply', ...args]);
  if (res.code !== 0) throw new Error(`kubectl apply ${args.join(' ')}: ${res.code} ${res.stderr}`);
  return { t0: res.startMs, t1: res.endMs };
}

/**
 * On each database the runs migrated: the ConfigMap applied again with DAY_TWO added, timed from kubectl's
 * start (in the user's shell) to the first new step's BEGIN. The operator is warm and has read each history
 * before; its pool sessions have closed, as they have when a team's next change comes hours later.
 */
async function dayTwo(env: EnvInfo, mgr: Manager, shell: UserShell, work: string, dbs: string[], dataOf: (r: number) => Record<string, string>): Promise<DayTwo> {
  await noOperatorSessions(env, dbs);
  const out: DayTwo = { latencies: [], kubectlMs: [], afterKubectl: [] };
  for (let r = 0; r < dbs.length; r++) {
    const cmFile = path.join(work, `configmap-${r + 1}-day2.json`);
    fs.writeFileSync(cmFile, JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: cmName(r), namespace: NS }, data: { ...dataOf(r), ...Object.fromEntries(DAY_TWO) } }));
    const { t0, t1 } = await userApply(shell, env, ['--server-side', '-f', cmFile]);
    const mName = migrationName(r);
    await until(`Migration ${mName} at version 0211`, 60_000, () => {
      const m = mgr.getCached(MIGRATIONS, NS, mName);
      return (m?.status as { appliedVersion?: string } | undefined)?.appliedVersion === '0211' && conditionsOf(m).some((c) => c.type === 'Ready' && c.status === 'True');
    }).catch((err: unknown) => {
      throw new Error(`${String(err)}; status ${JSON.stringify(mgr.getCached(MIGRATIONS, NS, mName)?.status)}`);
    });
    const rows = await superSql(env, `SELECT extract(epoch FROM min(started_at)) * 1000 AS first_ms, count(*) AS n FROM tenantdb.schema_migrations WHERE name LIKE 'day2\\_%'`, dbs[r]);
    if (Number(rows[0]?.n) !== DAY_TWO.length) throw new Error(`day two on ${dbs[r]}: ${rows[0]?.n} new rows, expected ${DAY_TWO.length}`);
    out.latencies.push(Number(rows[0]?.first_ms) - t0);
    out.kubectlMs.push(round(t1 - t0, 1));
    out.afterKubectl.push(Number(rows[0]?.first_ms) - t1);
    log(`day two on ${dbs[r]}: kubectl apply (ConfigMap) to first new statement ${round(out.latencies[r] as number, 1)} ms (kubectl ${out.kubectlMs[r]} ms)`);
  }
  return out;
}

export const migrationSuiteBench: Benchmark = {
  name: 'migration-suite',
  description: 'Migration controller on a realistic suite (Harness, 208 golang-migrate steps from one ConfigMap): overhead per step over psql, kubectl apply to first statement',
  flags: {
    'suite-runs': { default: 5, help: 'operator runs (each on a fresh database; psql runs one more time). The first is a cold operator (it loads the SQL parser); 5 keeps the median off it' },
    'suite-max-overhead-ms': { default: 5, help: 'goal: operator overhead per step over psql, at most (ms)' },
    'suite-max-apply-latency-ms': { default: 250, help: 'goal: kubectl apply of the Migration to its first statement, at most (ms, median of the runs)' },
    'suite-lint-block': { default: 0, help: '1: the Migration has spec.lint.mode Block (the first statement then waits for the lint of the 208 new steps; default Warn, where it does not)' },
    'suite-image-runtime': IMAGE_RUNTIME_FLAG,
    'suite-log-level': { default: 0, help: '1: write the operator log (debug) to .local/bench-migration-suite/operator.log and log every statement on the server (changes the timings)' },
  },
  imageRuntimeFlag: 'suite-image-runtime',
  async run(flags: Flags): Promise<BenchResult> {
    const runs = numFlag(flags, this, 'suite-runs');
    const maxOverhead = numFlag(flags, this, 'suite-max-overhead-ms');
    const maxLatency = numFlag(flags, this, 'suite-max-apply-latency-ms');
    const debugLog = numFlag(flags, this, 'suite-log-level') > 0;
    const lintMode = numFlag(flags, this, 'suite-lint-block') > 0 ? 'Block' : 'Warn';
    const files = fs.readdirSync(SUITE).filter((f) => f.endsWith('.up.sql')).sort();
    const n = files.length;
    return withEnv(this.name, { arm: false }, (env) => withUserShell(async (shell) => {
      const work = benchDir(this.name);
      fs.mkdirSync(work, { recursive: true });
      const admin = 'bench_admin';
      const owner = 'bench_owner';
      const password = 'bench-password-1';
      await superSql(env, `CREATE ROLE ${ident(admin)} LOGIN CREATEROLE PASSWORD ${literal(password)}`);
      await superSql(env, `CREATE ROLE ${ident(owner)} NOLOGIN`);
      await superSql(env, `GRANT ${ident(owner)} TO ${ident(admin)} WITH ADMIN OPTION`);
      const psqlDbs = Array.from({ length: runs + 1 }, (_, i) => `suite_psql_${i + 1}`);
      const operatorDbs = Array.from({ length: runs }, (_, i) => `suite_operator_${i + 1}`);
      for (const db of [...psqlDbs, ...operatorDbs]) {
        await superSql(env, `CREATE DATABASE ${ident(db)} OWNER ${ident(owner)}`);
        await superSql(env, `GRANT ALL ON DATABASE ${ident(db)} TO ${ident(admin)}`);
      }

      if (debugLog) {
        // The server's side of the timeline: connections and statements with millisecond timestamps.
        await superSql(env, `ALTER SYSTEM SET log_statement = 'all'`);
        await superSql(env, `ALTER SYSTEM SET log_connections = 'on'`);
        await superSql(env, `ALTER SYSTEM SET log_line_prefix = '%m [%p] %d %u '`);
        await superSql(env, 'SELECT pg_reload_conf()');
      }
      // psql: the files in one session, as the administrator acting as the owner (as the operator runs them),
      // started from the user's shell as kubectl is (a fork of this process would add its cost to psql's).
      const psqlTimes: number[] = [];
      const runPsql = async (db: string) => {
        const conninfo = `host=${env.postgres.host} port=${env.postgres.port} dbname=${db} user=${admin} sslmode=verify-full sslrootcert=${env.postgres.caFile}`;
        const args = ['-X', '-q', '-o', '/dev/null', '-v', 'ON_ERROR_STOP=1', '-d', conninfo, ...files.flatMap((f) => ['-f', path.join(SUITE, f)])];
        const res = await shell.run([psqlBinary(), ...args], { PGPASSWORD: password, PGOPTIONS: `-c role=${owner}` });
        const ms = res.endMs - res.startMs;
        if (res.code !== 0) throw new Error(`psql failed on ${db}: ${res.stderr}`);
        psqlTimes.push(ms);
        log(`psql ${n} files on ${db}: ${round(ms, 1)} ms`);
      };
      await runPsql(psqlDbs[0] as string);

      const crds = fs.readdirSync(path.join(repoRoot, 'crds')).filter((f) => /^tenantdb\.io_.*\.yaml$/.test(f)).flatMap((f) => ['-f', path.join(repoRoot, 'crds', f)]);
      await kubectl(env, ['apply', '--server-side', '--field-manager=tenantdb-bench', ...crds]);
      await kubectl(env, ['wait', '--for=condition=Established', '--timeout=60s', ...crds]);
      await kubectl(env, ['create', 'namespace', NS]);
      const { KubeConfig } = await import('@kubernetes/client-node');
      const kc = new KubeConfig();
      kc.loadFromFile(env.kubeconfig);
      const client = new KubeClient(kc);
      const logger = debugLog ? createLogger({ level: 'debug', destination: fs.createWriteStream(path.join(work, 'operator.log')) }) : createLogger({ level: 'silent' });
      const mgr = new Manager({ kubeConfig: kc, logger, namespaces: [NS], metricsBindAddress: '0', healthProbeBindAddress: '0', maxConcurrentReconciles: 2 });
      registerMigrationController(mgr, { azure: { cloud: 'AzurePublicCloud', armEndpoint: undefined, authorityHost: undefined, caFile: undefined, staticToken: undefined }, postgres: { caFile: env.postgres.caFile, hostsFile: undefined } }, { progressIntervalMs: 1_000 });
      await mgr.start();
      try {
        await client.create(SECRETS, NS, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'admin' }, stringData: { username: admin, password } });
        await client.create(SECRETS, NS, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'ca' }, stringData: { 'ca.crt': fs.readFileSync(env.postgres.caFile, 'utf8') } });
        // The suite as a user ships it: one ConfigMap of the directory, applied with kubectl. One per run,
        // each with a comment of its own in the first script, so no run finds its steps already linted
        // (the lint cache is by content): each run is a new suite for a warm operator.
        const scripts = files.map((f) => fs.readFileSync(path.join(SUITE, f), 'utf8'));
        const dataOf = (r: number) => Object.fromEntries(files.map((f, i) => [f, (i === 0 ? `-- bench run ${r + 1}\n` : '') + scripts[i]]));
        for (let r = 0; r < runs; r++) {
          const data = dataOf(r);
          const cmFile = path.join(work, `configmap-${r + 1}.json`);
          fs.writeFileSync(cmFile, JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: cmName(r), namespace: NS }, data }));
          await kubectl(env, ['apply', '--server-side', '-f', cmFile]);
        }

        const spans: number[] = [];
        const latencies: number[] = [];
        const kubectlMs: number[] = [];
        const afterKubectl: number[] = [];
        const cacheMs: number[] = [];
        const endToEnd: number[] = [];
        for (let r = 0; r < runs; r++) {
          const tdName = `suite-db-${r + 1}`;
          const mName = migrationName(r);
          await readyDatabase(client, env, tdName, operatorDbs[r] as string, owner);
          await until('TenantDatabase Ready and ConfigMap in the cache', 30_000, () => conditionsOf(mgr.getCached(TDS, NS, tdName)).some((c) => c.type === 'Ready' && c.status === 'True') && mgr.getCached(CONFIGMAPS, NS, cmName(r)) !== undefined);
          await sleep(500);
          const mFile = path.join(work, `${mName}.json`);
          fs.writeFileSync(mFile, JSON.stringify({ apiVersion: 'tenantdb.io/v1alpha1', kind: 'Migration', metadata: { name: mName, namespace: NS }, spec: { databaseRef: { name: tdName }, sources: [{ configMapRef: { name: cmName(r) } }], ...(lintMode === 'Block' ? { lint: { mode: 'Block' } } : {}) } }));
          // When the operator's cache (its informer) has the Migration: the watch's share of the latency.
          let seen = 0;
          const watching = until('Migration in the cache', 60_000, () => (mgr.getCached(MIGRATIONS, NS, mName) ? ((seen = Date.now()), true) : false));
          const { t0, t1 } = await userApply(shell, env, ['-f', mFile]);
          await watching;
          cacheMs.push(seen - t1);
          await until(`Migration ${mName} Ready`, Number(process.env.SUITE_READY_TIMEOUT_MS ?? 120_000), () => {
            const conds = conditionsOf(mgr.getCached(MIGRATIONS, NS, mName));
            const stalled = conds.find((c) => c.type === 'Stalled' && c.status === 'True');
            if (stalled) throw new Error(`Migration ${mName} stalled: ${stalled.reason}: ${stalled.message}`);
            return conds.some((c) => c.type === 'Ready' && c.status === 'True');
          }, 25).catch(async (err: unknown) => {
            // What the run was doing: its sessions, and its status.
            const sessions = await superSql(env, `SELECT datname, usename, state, wait_event_type, wait_event, left(query, 200) AS query FROM pg_stat_activity WHERE backend_type = 'client backend'`);
            throw new Error(`${String(err)}; sessions ${JSON.stringify(sessions)}; status ${JSON.stringify(mgr.getCached(MIGRATIONS, NS, mName)?.status)}`);
          });
          endToEnd.push(Date.now() - t0);
          const rows = await superSql(
            env,
            `SELECT extract(epoch FROM min(started_at)) * 1000 AS first_ms, extract(epoch FROM max(applied_at) - min(started_at)) * 1000 AS span_ms, count(*) AS n FROM tenantdb.schema_migrations`,
            operatorDbs[r],
          );
          if (Number(rows[0]?.n) !== n) throw new Error(`history has ${rows[0]?.n} rows, expected ${n}`);
          spans.push(Number(rows[0]?.span_ms));
          latencies.push(Number(rows[0]?.first_ms) - t0);
          kubectlMs.push(round(t1 - t0, 1));
          afterKubectl.push(Number(rows[0]?.first_ms) - t1);
          log(`operator run ${r + 1}: span ${round(spans[r] as number, 1)} ms; kubectl apply to first statement ${round(latencies[r] as number, 1)} ms (kubectl ${kubectlMs[r]} ms); apply to Ready ${round(endToEnd[r] as number, 1)} ms`);
          await runPsql(psqlDbs[r + 1] as string);
        }
        const day2 = await dayTwo(env, mgr, shell, work, operatorDbs, dataOf);
        const day2Median = quantile([...day2.latencies].sort((a, b) => a - b), 0.5);
        log(`day two: kubectl apply (ConfigMap) to first new statement median ${round(day2Median, 1)} ms`);
        const psqlMs = Math.min(...psqlTimes);
        const spanMs = Math.min(...spans);
        const overhead = (spanMs - psqlMs) / n;
        const latency = quantile([...latencies].sort((a, b) => a - b), 0.5);
        log(`overhead ${round(overhead, 3)} ms/step (min span ${round(spanMs, 1)} ms vs min psql ${round(psqlMs, 1)} ms); apply to first statement median ${round(latency, 1)} ms`);
        const goals = {
          overheadPerStep: goal(`<= ${maxOverhead} ms per step over psql (${n} steps)`, round(overhead, 3), overhead <= maxOverhead),
          applyToFirstStatement: goal(`< ${maxLatency} ms from kubectl apply to the first statement (median of ${runs})`, round(latency, 1), latency < maxLatency),
        };
        return {
          name: this.name,
          params: { suite: 'bench/fixtures/harness (harness/harness@ad5c876, Apache-2.0)', steps: n, runs, psql: psqlBinary(), format: 'golang-migrate (detected)', lint: lintMode, nodeFlags: ownNodeFlags(), launchedFrom: 'a user shell (bench/user-shell.ts)' },
          results: {
            psqlMs: round(psqlMs, 1),
            psqlRunsMs: psqlTimes.map((t) => round(t, 1)),
            operatorRunSpanMs: round(spanMs, 1),
            operatorRunSpansMs: spans.map((t) => round(t, 1)),
            psqlPerStepMs: round(psqlMs / n, 3),
            operatorPerStepMs: round(spanMs / n, 3),
            overheadPerStepMs: round(overhead, 3),
            applyToFirstStatementMs: latencies.map((t) => round(t, 1)),
            kubectlApplyMs: kubectlMs,
            kubectlExitToFirstStatementMs: afterKubectl.map((t) => round(t, 1)),
            kubectlExitToCacheMs: cacheMs,
            applyToReadyMs: endToEnd.map((t) => round(t, 1)),
            dayTwo: {
              what: `${DAY_TWO.length} steps added to the ConfigMap of each migrated database, applied with kubectl apply --server-side; no goal of its own`,
              applyToFirstStatementMedianMs: round(day2Median, 1),
              applyToFirstStatementMs: day2.latencies.map((t) => round(t, 1)),
              kubectlApplyMs: day2.kubectlMs,
              kubectlExitToFirstStatementMs: day2.afterKubectl.map((t) => round(t, 1)),
            },
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
