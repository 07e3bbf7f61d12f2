// Health refresh of a fleet: --health-databases databases on the local environment's PostgreSQL (each with
// pg_stat_statements, so every refresh takes its longest path: server figures and top statements), read as
// a CREATEDB CREATEROLE administrator in pg_monitor (what Azure's administrator is), through the operator's
// connection layer and the health part's own read (collectFigures: the storage sum, which stats every file
// of every database, is read once per server and period) and pure rules. Counted two ways: a wrapper
// around every client's query() and, on the server, pg_stat_statements' calls of the administrator (reset
// before the run). Goal: at most 2 queries per database, both counts agreeing. ARM is not part of it: the
// server comes from the shared directory the server part reads anyway, backups at most once per period.
import fs from 'node:fs';
import pg from 'pg';
import { healthCondition, healthFigures, healthPatch, thresholdsOf } from '../controllers/tenantdatabase/health/evaluate.js';
import { collectFigures } from '../controllers/tenantdatabase/health/index.js';
import { PostgresConnections } from '../src/postgres/connections.js';
import { generatePassword } from '../src/postgres/database/scram.js';
import { ident } from '../src/postgres/ident.js';
import { allPass, goal, log, numFlag, pool, quantile, round, withEnv, type Benchmark, type BenchResult, type Flags } from './common.js';

export const healthBench: Benchmark = {
  name: 'health',
  description: 'health refresh of many databases: queries per database (client wrapper and pg_stat_statements) and latency',
  flags: {
    'health-databases': { default: 100, help: 'databases refreshed' },
    'health-max-queries': { default: 2, help: 'goal: queries per database refresh' },
    'health-concurrency': { default: 4, help: 'refreshes in flight at once (the controller runs 4 workers by default)' },
  },
  async run(flags: Flags): Promise<BenchResult> {
    const n = numFlag(flags, this, 'health-databases');
    const maxQueries = numFlag(flags, this, 'health-max-queries');
    const concurrency = numFlag(flags, this, 'health-concurrency');
    return withEnv('health', { arm: false }, async (env) => {
      const ca = fs.readFileSync(env.postgres.caFile, 'utf8');
      const u = new URL(env.postgres.url);
      const su = new pg.Client({ host: u.hostname, port: Number(u.port), user: decodeURIComponent(u.username), password: decodeURIComponent(u.password), database: 'postgres', ssl: { ca } });
      su.on('error', () => undefined);
      await su.connect();
      await su.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
      const admin = { user: 'bench_health_admin', password: generatePassword() };
      await su.query(`CREATE ROLE ${ident(admin.user)} LOGIN CREATEDB CREATEROLE IN ROLE pg_monitor PASSWORD '${admin.password}'`);
      log(`creating ${n} databases with pg_stat_statements`);
      for (let i = 0; i < n; i++) {
        const db = `bench_health_${i}`;
        await su.query(`CREATE DATABASE ${ident(db)} OWNER ${ident(admin.user)}`);
        const c = new pg.Client({ host: u.hostname, port: Number(u.port), user: decodeURIComponent(u.username), password: decodeURIComponent(u.password), database: db, ssl: { ca } });
        await c.connect();
        await c.query('CREATE EXTENSION pg_stat_statements');
        await c.end();
      }
      await su.query('SELECT pg_stat_statements_reset()');
      // The connection layer the operator uses, with every client's query() counted at the call.
      let current: { queries: number; queryMs: number } | undefined;
      class CountingConnections extends PostgresConnections {
        override withClient<T>(t: Parameters<PostgresConnections['withClient']>[0], fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
          const stats = current!;
          return super.withClient(t, async (client) => {
            const q0 = performance.now();
            const counted = new Proxy(client, { get: (o, k) => (k === 'query' ? (...a: unknown[]) => (stats.queries++, (o.query as (...x: unknown[]) => unknown).apply(o, a)) : Reflect.get(o, k)) });
            try {
              return await fn(counted);
            } finally {
              stats.queryMs += performance.now() - q0;
            }
          });
        }
      }
      const conns = new CountingConnections({ caFile: env.postgres.caFile, hostsFile: undefined });
      const thresholds = thresholdsOf(undefined);
      const perDb: number[] = [];
      const ms: number[] = [];
      const queryMs: number[] = [];
      const t0 = performance.now();
      await pool(n, concurrency, async (i) => {
        const conn = { kind: 'external' as const, host: u.hostname, port: Number(u.port), sslMode: 'verify-full' as const, adminUser: admin.user, adminPassword: admin.password };
        const t = performance.now();
        const stats = { queries: 0, queryMs: 0 };
        current = stats;
        // The health part's own read (storage summed once per server and period, as in the operator).
        const figures = await collectFigures(conns, conn, `bench_health_${i}`, { topStatements: 5, periodMs: 300_000, now: Date.now() });
        const h = healthFigures(figures, undefined, 5);
        healthCondition(h, thresholds);
        healthPatch(h, undefined, new Date());
        ms.push(performance.now() - t);
        queryMs.push(stats.queryMs);
        perDb.push(stats.queries);
      });
      const totalMs = performance.now() - t0;
      // The server's own count: calls of the administrator's statements since the reset (the reset itself ran as the superuser).
      const server = await su.query<{ calls: string; statements: string }>(
        `SELECT coalesce(sum(calls), 0)::bigint AS calls, count(*)::bigint AS statements FROM pg_stat_statements WHERE userid = (SELECT oid FROM pg_roles WHERE rolname = $1)`,
        [admin.user],
      );
      await conns.close();
      await su.end();
      const serverCalls = Number(server.rows[0]!.calls);
      const clientTotal = perDb.reduce((a, b) => a + b, 0);
      const maxPerDb = Math.max(...perDb);
      ms.sort((a, b) => a - b);
      queryMs.sort((a, b) => a - b);
      const goals = {
        queriesPerDatabase: goal(`<= ${maxQueries} queries per database refresh (max over ${n})`, maxPerDb, maxPerDb <= maxQueries),
        serverAgrees: goal(`pg_stat_statements counts the same ${clientTotal} queries as the client`, serverCalls, serverCalls === clientTotal),
      };
      return {
        name: 'health',
        params: { databases: n, concurrency, topStatements: 5, pgStatStatementsInEveryDatabase: true },
        results: {
          queriesClientTotal: clientTotal,
          queriesServerTotal: serverCalls,
          distinctStatementsServer: Number(server.rows[0]!.statements),
          queriesPerDatabaseMax: maxPerDb,
          queriesPerDatabaseMean: round(clientTotal / n, 2),
          // With a new connection each (TLS, SCRAM): the pools of 100 databases are not kept between periods.
          refreshMsP50: round(quantile(ms, 0.5), 1),
          refreshMsP95: round(quantile(ms, 0.95), 1),
          queriesMsP50: round(quantile(queryMs, 0.5), 1),
          queriesMsP95: round(quantile(queryMs, 0.95), 1),
          totalMs: round(totalMs, 0),
        },
        goals,
        pass: allPass(goals),
      };
    });
  },
};
