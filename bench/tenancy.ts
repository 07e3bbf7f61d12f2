// Tenancy benchmarks on one private PostgreSQL 15 server (pg15-cluster.sh: Debian's postgresql-15 and
// pg_partman 4.7, installed when missing):
//  1. partition maintenance for --tenancy-tables tables x --tenancy-months monthly partitions (plus a
//     default partition each), the operator's maintainPartitions against pg_partman's create_parent +
//     run_maintenance for the same plan, each in a database of its own on the same server: the initial
//     creation and one steady-state maintenance pass; goal: ours within 1.0x pg_partman's time;
//  2. the RLS sync of --tenancy-rls-tables tenant tables (a tenancy schema): first sync at most 3 s, and
//     the second sync issues 0 DDL (counted by an event trigger in the database, not by our own counter).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { ident } from '../src/postgres/ident.js';
import { maintainPartitions } from '../src/postgres/tenancy/partition-maintenance.js';
import { syncTenancy, type TenancyInput } from '../src/postgres/tenancy/rls.js';
import { freePort } from '../dev/env/proc.js';
import { allPass, goal, log, numFlag, round, type Benchmark, type BenchResult, type Flags } from './common.js';

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'pg15-cluster.sh');

function cluster(args: string[]): void {
  const r = spawnSync('bash', [SCRIPT, ...args], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 15 * 60_000 });
  if (r.status !== 0) throw new Error(`pg15-cluster.sh ${args[0]} failed (exit ${r.status ?? r.signal})`);
}

async function connect(port: number, database: string): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

const TABLE_DDL = (name: string) =>
  `CREATE TABLE public.${ident(name)} (id bigint GENERATED ALWAYS AS IDENTITY, tenant_id text NOT NULL, at timestamptz NOT NULL, payload jsonb NOT NULL DEFAULT '{}', PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
   CREATE INDEX ON public.${ident(name)} (tenant_id, at)`;

async function partmanRun(port: number, tables: number, months: number, start: Date): Promise<{ createMs: number; maintenanceMs: number; partitions: number }> {
  const admin = await connect(port, 'postgres');
  await admin.query('DROP DATABASE IF EXISTS bench_partman');
  await admin.query('CREATE DATABASE bench_partman');
  await admin.end();
  const c = await connect(port, 'bench_partman');
  try {
    await c.query('CREATE SCHEMA partman; CREATE EXTENSION pg_partman SCHEMA partman');
    for (let i = 0; i < tables; i++) await c.query(TABLE_DDL(`t${i}`));
    const startStr = start.toISOString().slice(0, 10);
    const t0 = performance.now();
    for (let i = 0; i < tables; i++) {
      // Start at the current month, premake months-1 ahead: exactly `months` ranges, plus its default.
      await c.query(`SELECT partman.create_parent($1, 'at', 'native', 'monthly', p_premake := $2, p_start_partition := $3, p_jobmon := false)`, [`public.t${i}`, months - 1, startStr]);
    }
    const createMs = performance.now() - t0;
    const t1 = performance.now();
    await c.query('SELECT partman.run_maintenance(p_analyze := false, p_jobmon := false)');
    const maintenanceMs = performance.now() - t1;
    const n = await c.query<{ n: string }>(`SELECT count(*) AS n FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhparent WHERE c.relname ~ '^t[0-9]+$'`);
    return { createMs, maintenanceMs, partitions: Number(n.rows[0]!.n) };
  } finally {
    await c.end();
  }
}

async function oursRun(port: number, tables: number, months: number, now: Date): Promise<{ createMs: number; maintenanceMs: number; partitions: number; ddlSecondPass: number }> {
  const admin = await connect(port, 'postgres');
  await admin.query('DROP DATABASE IF EXISTS bench_ours');
  await admin.query('CREATE DATABASE bench_ours');
  await admin.end();
  const c = await connect(port, 'bench_ours');
  try {
    for (let i = 0; i < tables; i++) await c.query(TABLE_DDL(`t${i}`));
    const spec = (i: number) => ({ schema: 'public', table: `t${i}`, column: 'at', interval: 'monthly' as const, premake: months - 1, defaultPartition: true });
    const t0 = performance.now();
    for (let i = 0; i < tables; i++) {
      const r = await maintainPartitions(c, spec(i), { now, leadMs: 0 });
      if (r.problem || r.created.length !== months + 1) throw new Error(`t${i}: ${r.problem ?? `created ${r.created.length}`}`);
    }
    const createMs = performance.now() - t0;
    const t1 = performance.now();
    let ddl = 0;
    for (let i = 0; i < tables; i++) ddl += (await maintainPartitions(c, spec(i), { now, leadMs: 0 })).ddl;
    const maintenanceMs = performance.now() - t1;
    const n = await c.query<{ n: string }>(`SELECT count(*) AS n FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhparent WHERE c.relname ~ '^t[0-9]+$'`);
    return { createMs, maintenanceMs, partitions: Number(n.rows[0]!.n), ddlSecondPass: ddl };
  } finally {
    await c.end();
  }
}

async function rlsRun(port: number, tables: number): Promise<{ firstMs: number; secondMs: number; ddlFirst: number; ddlSecondCounted: number; ddlSecondEventTrigger: number; covered: number }> {
  const admin = await connect(port, 'postgres');
  await admin.query('DROP DATABASE IF EXISTS bench_rls');
  for (const r of ['bench_owner', 'bench_app', 'bench_admin', 'bench_ro']) await admin.query(`DROP ROLE IF EXISTS ${r}`);
  await admin.query(`CREATE ROLE bench_owner NOLOGIN; CREATE ROLE bench_app LOGIN; CREATE ROLE bench_admin LOGIN; CREATE ROLE bench_ro LOGIN`);
  await admin.query('CREATE DATABASE bench_rls OWNER bench_owner');
  await admin.end();
  const c = await connect(port, 'bench_rls');
  try {
    await c.query('SET ROLE bench_owner; CREATE SCHEMA tenant');
    const batch: string[] = [];
    for (let i = 0; i < tables; i++) batch.push(`CREATE TABLE tenant.${ident(`t${i}`)} (id bigint PRIMARY KEY, tenant_id text NOT NULL, body text)`);
    for (let i = 0; i < batch.length; i += 200) await c.query(batch.slice(i, i + 200).join(';'));
    await c.query('RESET ROLE');
    await c.query(`CREATE TABLE public.ddl_log (tag text); CREATE FUNCTION public.ddl_count() RETURNS event_trigger LANGUAGE plpgsql AS $$
      DECLARE r record; BEGIN FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP INSERT INTO public.ddl_log VALUES (r.command_tag); END LOOP; END $$;
      GRANT INSERT ON public.ddl_log TO PUBLIC;
      CREATE EVENT TRIGGER ddl_count ON ddl_command_end EXECUTE FUNCTION public.ddl_count()`);
    const input: TenancyInput = { roles: { owner: 'bench_owner', application: 'bench_app', admin: 'bench_admin', analytics: 'bench_ro' }, tenantColumn: 'tenant_id', tenantSetting: 'app.current_tenant_id', tables: [], schemas: ['tenant'] };
    const t0 = performance.now();
    const first = await syncTenancy(c, input);
    const firstMs = performance.now() - t0;
    await c.query('TRUNCATE public.ddl_log');
    const t1 = performance.now();
    const second = await syncTenancy(c, input);
    const secondMs = performance.now() - t1;
    const counted = await c.query<{ n: string }>('SELECT count(*) AS n FROM public.ddl_log');
    return { firstMs, secondMs, ddlFirst: first.apply.ddl, ddlSecondCounted: second.apply.ddl, ddlSecondEventTrigger: Number(counted.rows[0]!.n), covered: second.plan.covered };
  } finally {
    await c.end();
  }
}

export const tenancyBench: Benchmark = {
  name: 'tenancy',
  description: 'partition maintenance vs pg_partman 4.7 (same plan, same PostgreSQL 15 server) and the RLS sync of many tables',
  flags: {
    'tenancy-tables': { default: 100, help: 'partitioned tables' },
    'tenancy-months': { default: 36, help: 'monthly partitions per table' },
    'tenancy-rls-tables': { default: 1000, help: 'tenant tables of the RLS sync' },
    'tenancy-max-ratio': { default: 1.0, help: 'goal: our maintenance time / pg_partman time at most' },
    'tenancy-rls-max-s': { default: 3, help: 'goal: first RLS sync at most this many seconds' },
  },
  async run(flags: Flags): Promise<BenchResult> {
    const tables = numFlag(flags, this, 'tenancy-tables');
    const months = numFlag(flags, this, 'tenancy-months');
    const rlsTables = numFlag(flags, this, 'tenancy-rls-tables');
    const maxRatio = numFlag(flags, this, 'tenancy-max-ratio');
    const rlsMax = numFlag(flags, this, 'tenancy-rls-max-s');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenantdb-bench-tenancy-'));
    fs.chmodSync(dir, 0o777);
    const port = await freePort();
    const stop = () => cluster(['stop', path.join(dir, 'pg15')]);
    const onSignal = () => {
      stop();
      process.exit(130);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      log(`starting PostgreSQL 15 on 127.0.0.1:${port} in ${dir}`);
      cluster(['start', path.join(dir, 'pg15'), String(port)]);
      const start = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), 1));
      const now = new Date(start.getTime() + 3_600_000);
      log(`pg_partman: ${tables} tables x ${months} months`);
      const partman = await partmanRun(port, tables, months, start);
      log(`pg_partman: create ${round(partman.createMs / 1000, 2)} s, run_maintenance ${round(partman.maintenanceMs / 1000, 2)} s`);
      log(`operator: ${tables} tables x ${months} months`);
      const ours = await oursRun(port, tables, months, now);
      log(`operator: create ${round(ours.createMs / 1000, 2)} s, maintenance ${round(ours.maintenanceMs / 1000, 2)} s`);
      log(`RLS sync of ${rlsTables} tables`);
      const rls = await rlsRun(port, rlsTables);
      log(`RLS: first ${round(rls.firstMs / 1000, 2)} s (${rls.ddlFirst} DDL), second ${round(rls.secondMs / 1000, 2)} s (${rls.ddlSecondEventTrigger} DDL)`);
      const partmanTotal = partman.createMs + partman.maintenanceMs;
      const oursTotal = ours.createMs + ours.maintenanceMs;
      const ratio = round(oursTotal / partmanTotal, 3);
      const goals = {
        maintenanceVsPartman: goal(`operator time / pg_partman time <= ${maxRatio} (create + one maintenance pass, ${tables} x ${months} months)`, ratio, ratio <= maxRatio),
        samePartitions: goal('both end with the same number of partitions', { ours: ours.partitions, partman: partman.partitions }, ours.partitions === partman.partitions),
        rlsFirstSync: goal(`first RLS sync of ${rlsTables} tables <= ${rlsMax} s`, round(rls.firstMs / 1000, 3), rls.firstMs <= rlsMax * 1000),
        rlsSecondSyncDdl: goal('second RLS sync issues 0 DDL (event trigger count)', rls.ddlSecondEventTrigger, rls.ddlSecondEventTrigger === 0 && rls.ddlSecondCounted === 0),
      };
      return {
        name: this.name,
        params: { tables, months, rlsTables, server: 'PostgreSQL 15 (Debian), pg_partman 4.7, fsync off' },
        results: {
          partman: { createSeconds: round(partman.createMs / 1000, 3), maintenanceSeconds: round(partman.maintenanceMs / 1000, 3), partitions: partman.partitions },
          operator: { createSeconds: round(ours.createMs / 1000, 3), maintenanceSeconds: round(ours.maintenanceMs / 1000, 3), partitions: ours.partitions, ddlSecondPass: ours.ddlSecondPass },
          ratio,
          rls: { firstSeconds: round(rls.firstMs / 1000, 3), secondSeconds: round(rls.secondMs / 1000, 3), ddlFirst: rls.ddlFirst, ddlSecond: rls.ddlSecondEventTrigger, relationsCovered: rls.covered },
        },
        goals,
        pass: allPass(goals),
      };
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
};
