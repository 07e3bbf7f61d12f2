// Maintenance planning over many tables on the local environment's PostgreSQL: --maint-tables tables
// (each with a primary key index and a few rows) owned by the owner role, the run made as the operator
// makes it (runMaintenance: advisory lock, SET ROLE owner, three catalog reads). Counted by
// pg_stat_statements on the server, not by our own log:
//  1. nothing past a threshold: at most 3 catalog queries and 0 maintenance statements;
//  2. --maint-dirty of the tables past the dead-tuple threshold: exactly that many VACUUMs, still 3
//     catalog queries.
import fs from 'node:fs';
import pg from 'pg';
import { maintenanceSpecSchema } from '../src/api/maintenance.js';
import { ident } from '../src/postgres/ident.js';
import { runMaintenance } from '../src/postgres/maintenance/run.js';
import { allPass, goal, log, numFlag, round, withEnv, type Benchmark, type BenchResult, type Flags } from './common.js';

const MAINTENANCE = /^\s*(VACUUM|ANALYZE|REINDEX|REFRESH)\b/i;
const CATALOG = /\bFROM\s+(pg_stat_user_tables|pg_index|unnest)/i;

interface Counted {
  ms: number;
  catalog: number;
  maintenance: number;
  other: number;
  steps: number;
}

export const maintenanceBench: Benchmark = {
  name: 'maintenance',
  description: 'maintenance planning over many tables: catalog queries and maintenance statements (pg_stat_statements) when nothing and when some tables pass a threshold',
  flags: {
    'maint-tables': { default: 1000, help: 'tables (each with a primary key) owned by the owner role' },
    'maint-dirty': { default: 100, help: 'tables given dead tuples past the threshold in the second run' },
    'maint-max-catalog': { default: 3, help: 'goal: catalog queries per run at most' },
  },
  async run(flags: Flags): Promise<BenchResult> {
    const tables = numFlag(flags, this, 'maint-tables');
    const dirty = Math.min(tables, numFlag(flags, this, 'maint-dirty'));
    const maxCatalog = numFlag(flags, this, 'maint-max-catalog');
    return withEnv('maintenance', { arm: false }, async (env) => {
      const ca = fs.readFileSync(env.postgres.caFile, 'utf8');
      const u = new URL(env.postgres.url);
      const connect = async (database: string) => {
        const c = new pg.Client({ host: u.hostname, port: Number(u.port), user: decodeURIComponent(u.username), password: decodeURIComponent(u.password), database, ssl: { ca } });
        await c.connect();
        return c;
      };
      const su = await connect('postgres');
      await su.query('CREATE ROLE bench_owner NOLOGIN');
      await su.query('CREATE DATABASE bench OWNER bench_owner');
      await su.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
      const db = await connect('bench');
      try {
        await db.query('SET ROLE bench_owner');
        const ddl: string[] = [];
        for (let i = 0; i < tables; i++) ddl.push(`CREATE TABLE ${ident(`t${i}`)} (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = false); INSERT INTO ${ident(`t${i}`)} SELECT g, 'x' FROM generate_series(1, 20) g`);
        for (let i = 0; i < ddl.length; i += 100) await db.query(ddl.slice(i, i + 100).join(';'));
        await db.query('RESET ROLE');
        await db.query('VACUUM ANALYZE');
        const spec = maintenanceSpecSchema.parse({ vacuum: { minDeadTuples: 1000 }, analyze: { minModifiedRows: 1000 }, reindex: { minBloatPercent: 30 } });
        const counted = async (): Promise<Counted> => {
          await su.query('SELECT pg_stat_statements_reset()');
          const c = await connect('bench');
          const t0 = performance.now();
          const out = await runMaintenance(c, { owner: 'bench_owner', spec, lockTimeoutMs: 5000, deadline: Date.now() + 3_600_000 });
          const ms = performance.now() - t0;
          await c.end();
          const rows = (await su.query<{ query: string; calls: string }>(`SELECT query, calls FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'bench')`)).rows;
          const sum = (f: (q: string) => boolean) => rows.filter((r) => f(r.query)).reduce((n, r) => n + Number(r.calls), 0);
          const catalog = sum((q) => CATALOG.test(q));
          const maintenance = sum((q) => MAINTENANCE.test(q));
          return { ms, catalog, maintenance, other: sum(() => true) - catalog - maintenance, steps: out.results.length };
        };
        const clean = await counted();
        log(`${tables} tables, nothing past a threshold: ${round(clean.ms)} ms, ${clean.catalog} catalog queries, ${clean.maintenance} maintenance statements, ${clean.other} session settings`);
        // A session of its own: its table statistics reach the shared stats when it ends.
        const writer = await connect('bench');
        await writer.query('SET ROLE bench_owner');
        for (let i = 0; i < dirty; i++) await writer.query(`INSERT INTO ${ident(`t${i}`)} SELECT g, 'y' FROM generate_series(21, 1520) g; DELETE FROM ${ident(`t${i}`)} WHERE id > 20`);
        await writer.end();
        await new Promise((r) => setTimeout(r, 500));
        const some = await counted();
        log(`${dirty} of ${tables} tables past the dead-tuple threshold: ${round(some.ms)} ms, ${some.catalog} catalog queries, ${some.maintenance} maintenance statements`);
        const goals = {
          cleanCatalog: goal(`catalog queries over ${tables} tables <= ${maxCatalog}`, clean.catalog, clean.catalog <= maxCatalog),
          cleanNoStatements: goal('0 maintenance statements when nothing passes a threshold', clean.maintenance, clean.maintenance === 0 && clean.steps === 0),
          dirtyExact: goal(`exactly ${dirty} VACUUM (ANALYZE) statements for ${dirty} dirty tables, catalog queries still <= ${maxCatalog}`, { maintenance: some.maintenance, catalog: some.catalog }, some.maintenance === dirty && some.catalog <= maxCatalog),
        };
        return {
          name: this.name,
          params: { tables, dirty },
          results: { clean: { ...clean, ms: round(clean.ms) }, dirty: { ...some, ms: round(some.ms) } },
          goals,
          pass: allPass(goals),
        };
      } finally {
        await db.end().catch(() => undefined);
        await su.end().catch(() => undefined);
      }
    });
  },
};
