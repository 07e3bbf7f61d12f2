// The database part's catalog-driven sync on the local environment's PostgreSQL, as a CREATEDB CREATEROLE
// administrator that is not superuser: a database whose owner created --db-tables tables (each with an
// identity sequence) and --db-functions functions; the first sync grants everything, then converged syncs
// (measured --db-rounds times) must run 0 statements other than catalog reads (counted by
// pg_stat_statements on the server, not by our own log) and stay fast.
import pg from 'pg';
import { PostgresConnections } from '../src/postgres/connections.js';
import { ident } from '../src/postgres/ident.js';
import { generatePassword } from '../src/postgres/database/scram.js';
import { ownershipMarker, StatementLog, syncDatabase, syncGrants, syncRoles, type ManagedRoles } from '../src/postgres/database/sync.js';
import { allPass, goal, log, numFlag, quantile, round, withEnv, type Benchmark, type BenchResult, type Flags } from './common.js';
import fs from 'node:fs';

const DDL = /^\s*(CREATE|ALTER|GRANT|REVOKE|DROP|COMMENT)\b/i;

export const databaseSyncBench: Benchmark = {
  name: 'database-sync',
  description: 'database/role/grant sync over many tables: first sync, then converged syncs with 0 DDL/GRANT (pg_stat_statements) and their latency',
  flags: {
    'db-tables': { default: 500, help: 'tables (each with an identity sequence) the owner created' },
    'db-functions': { default: 100, help: 'functions the owner created' },
    'db-rounds': { default: 20, help: 'converged syncs measured' },
    'db-max-converged-ms': { default: 500, help: 'goal: p95 of a converged sync (ms)' },
  },
  async run(flags: Flags): Promise<BenchResult> {
    const tables = numFlag(flags, this, 'db-tables');
    const functions = numFlag(flags, this, 'db-functions');
    const rounds = numFlag(flags, this, 'db-rounds');
    const maxMs = numFlag(flags, this, 'db-max-converged-ms');
    return withEnv('database-sync', { arm: false }, async (env) => {
      const ca = fs.readFileSync(env.postgres.caFile, 'utf8');
      const u = new URL(env.postgres.url);
      const su = new pg.Client({ host: u.hostname, port: Number(u.port), user: decodeURIComponent(u.username), password: decodeURIComponent(u.password), database: 'postgres', ssl: { ca } });
      await su.connect();
      const admin = { user: 'bench_admin', password: generatePassword() };
      await su.query(`CREATE ROLE ${ident(admin.user)} LOGIN CREATEDB CREATEROLE PASSWORD '${admin.password}'`);
      await su.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
      const roles: ManagedRoles = { owner: 'bench_owner', application: 'bench_app', analytics: 'bench_ro', admin: 'bench_adm' };
      const marker = ownershipMarker('bench', 'db', 'bench-uid');
      const conns = new PostgresConnections({ caFile: env.postgres.caFile, hostsFile: undefined });
      const t = (database: string) => ({ host: u.hostname, port: Number(u.port), sslMode: 'verify-full' as const, user: admin.user, password: admin.password, database });
      const sync = async (): Promise<{ ms: number; statements: number }> => {
        const log = new StatementLog();
        const t0 = performance.now();
        await conns.withClient(t('postgres'), async (c) => {
          await syncRoles(c, roles, marker, () => generatePassword(), log);
          await syncDatabase(c, 'bench', roles, marker, log);
        });
        await conns.withClient(t('bench'), (c) => syncGrants(c, roles, log));
        return { ms: performance.now() - t0, statements: log.statements.length };
      };
      try {
        const first = await sync();
        log(`first sync on an empty database: ${round(first.ms)} ms, ${first.statements} statements`);
        // The owner's objects, made as migrations would (SET ROLE), then granted by one sync.
        const owner = new pg.Client({ host: u.hostname, port: Number(u.port), user: admin.user, password: admin.password, database: 'bench', ssl: { ca } });
        await owner.connect();
        await owner.query(`SET ROLE ${ident(roles.owner)}`);
        for (let i = 0; i < tables; i++) await owner.query(`CREATE TABLE t${i} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text)`);
        for (let i = 0; i < functions; i++) await owner.query(`CREATE FUNCTION f${i}(a int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT a + ${i}'`);
        // Default privileges granted these at creation; take them back to measure a sync that has to grant.
        await owner.query(`REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ${ident(roles.application)}, ${ident(roles.analytics as string)}, ${ident(roles.admin as string)}`);
        await owner.query(`REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM ${ident(roles.application)}, ${ident(roles.analytics as string)}, ${ident(roles.admin as string)}`);
        await owner.end();
        const grant = await sync();
        log(`sync granting ${tables} tables, ${tables} sequences, ${functions} functions: ${round(grant.ms)} ms, ${grant.statements} statements`);

        await su.query('SELECT pg_stat_statements_reset((SELECT oid FROM pg_roles WHERE rolname = $1))', [admin.user]);
        const times: number[] = [];
        let ourCount = 0;
        for (let i = 0; i < rounds; i++) {
          const r = await sync();
          times.push(r.ms);
          ourCount += r.statements;
        }
        const stats = await su.query<{ query: string; calls: string }>('SELECT query, calls FROM pg_stat_statements WHERE userid = (SELECT oid FROM pg_roles WHERE rolname = $1)', [admin.user]);
        const ddl = stats.rows.filter((x) => DDL.test(x.query)).reduce((n, x) => n + Number(x.calls), 0);
        const queriesPerSync = stats.rows.reduce((n, x) => n + Number(x.calls), 0) / rounds;
        times.sort((a, b) => a - b);
        const p50 = round(quantile(times, 0.5));
        const p95 = round(quantile(times, 0.95));
        log(`converged syncs: p50 ${p50} ms, p95 ${p95} ms, ${ddl} DDL/GRANT statements, ${round(queriesPerSync)} statements per sync`);
        const goals = {
          convergedNoDdl: goal('0 DDL/GRANT/REVOKE statements in converged syncs (pg_stat_statements)', ddl, ddl === 0 && ourCount === 0),
          convergedLatency: goal(`p95 of a converged sync <= ${maxMs} ms`, p95, p95 <= maxMs),
          grantsBatched: goal(`the granting sync groups objects (<= 30 statements for ${tables * 2 + functions} objects)`, grant.statements, grant.statements <= 30),
        };
        return {
          name: this.name,
          params: { tables, functions, rounds },
          results: { firstSyncMs: round(first.ms), firstSyncStatements: first.statements, grantSyncMs: round(grant.ms), grantSyncStatements: grant.statements, convergedP50Ms: p50, convergedP95Ms: p95, convergedStatementsPerSync: round(queriesPerSync), convergedDdl: ddl },
          goals,
          pass: allPass(goals),
        };
      } finally {
        await conns.close();
        await su.end();
      }
    });
  },
};
