// A database of its own per test file on the environment's real PostgreSQL: four roles (NOLOGIN owner,
// LOGIN application/admin/analytics, none superuser or BYPASSRLS), the compliance schema of
// crds/examples/migration-compliance-schema.yaml applied as the owner, and helpers to connect as each role.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import YAML from 'yaml';
import { ident, literal } from '../../src/postgres/ident.js';
import { repoRoot } from '../../dev/env/paths.js';
import { testEnv } from '../../dev/env/testenv.js';

export interface TenancyFixture {
  database: string;
  roles: { owner: string; application: string; admin: string; analytics: string };
  passwords: Record<string, string>;
  /** A connection as the server superuser to the fixture database (or another one). */
  admin(database?: string): Promise<pg.Client>;
  /** A connection as one of the login roles. */
  as(role: 'application' | 'admin' | 'analytics'): Promise<pg.Client>;
  drop(): Promise<void>;
}

export function clientConfig(database: string, user?: string, password?: string): pg.ClientConfig {
  const { postgres } = testEnv();
  const url = new URL(postgres.url);
  return {
    host: url.hostname,
    port: Number(url.port),
    user: user ?? decodeURIComponent(url.username),
    password: password ?? decodeURIComponent(url.password),
    database,
    ssl: { ca: fs.readFileSync(postgres.caFile, 'utf8'), rejectUnauthorized: true, servername: url.hostname === '127.0.0.1' ? undefined : url.hostname },
    connectionTimeoutMillis: 10_000,
  } as pg.ClientConfig;
}

export async function connect(database: string, user?: string, password?: string): Promise<pg.Client> {
  const c = new pg.Client(clientConfig(database, user, password));
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

/** The compliance schema's migrations (up scripts in order) with the example's role names replaced. */
export function complianceMigrations(roles: TenancyFixture['roles']): Array<{ version: string; sql: string; transactional: boolean }> {
  const doc = YAML.parse(fs.readFileSync(path.join(repoRoot, 'crds/examples/migration-compliance-schema.yaml'), 'utf8')) as {
    spec: { migrations: Array<{ version: string; up: string; transactional?: boolean }> };
  };
  return doc.spec.migrations.map((m) => ({
    version: m.version,
    transactional: m.transactional !== false,
    sql: m.up
      .replace(/compliance_app/g, ident(roles.application))
      .replace(/compliance_admin/g, ident(roles.admin))
      .replace(/compliance_analytics/g, ident(roles.analytics)),
  }));
}

export async function createFixture(prefix: string, opts: { schema?: boolean; versions?: string[] } = {}): Promise<TenancyFixture> {
  const tag = `${prefix}_${randomBytes(3).toString('hex')}`;
  const database = `${tag}_db`;
  const roles = { owner: `${tag}_owner`, application: `${tag}_app`, admin: `${tag}_admin`, analytics: `${tag}_analytics` };
  const passwords: Record<string, string> = {};
  const su = await connect('postgres');
  try {
    await su.query(`CREATE ROLE ${ident(roles.owner)} NOLOGIN NOSUPERUSER NOBYPASSRLS`);
    for (const r of ['application', 'admin', 'analytics'] as const) {
      passwords[roles[r]] = randomBytes(12).toString('hex');
      await su.query(`CREATE ROLE ${ident(roles[r])} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD ${literal(passwords[roles[r]]!)}`);
    }
    await su.query(`CREATE DATABASE ${ident(database)} OWNER ${ident(roles.owner)}`);
  } finally {
    await su.end();
  }
  const admin = (db = database) => connect(db);
  const as = (role: 'application' | 'admin' | 'analytics') => connect(database, roles[role], passwords[roles[role]]);
  if (opts.schema !== false) {
    const c = await admin();
    try {
      await c.query(`SET ROLE ${ident(roles.owner)}`);
      for (const m of complianceMigrations(roles)) {
        if (opts.versions && !opts.versions.includes(m.version)) continue;
        await c.query(m.sql);
      }
    } finally {
      await c.end();
    }
  }
  return {
    database,
    roles,
    passwords,
    admin,
    as,
    async drop() {
      const c = await connect('postgres');
      try {
        await c.query(`DROP DATABASE IF EXISTS ${ident(database)} WITH (FORCE)`);
        for (const r of Object.values(roles)) await c.query(`DROP ROLE IF EXISTS ${ident(r)}`);
      } finally {
        await c.end();
      }
    },
  };
}

export const COMPLIANCE_TABLES = ['storage_records', 'audit_trail', 'tenant_configs', 'model_metrics', 'detector_executions'];

/** Counts DDL commands in the fixture database with an event trigger (ground truth for "no DDL"). */
export async function installDdlCounter(c: pg.Client): Promise<{ count(): Promise<number>; reset(): Promise<void> }> {
  await c.query(`CREATE TABLE IF NOT EXISTS public._ddl_log (id bigserial, tag text, at timestamptz DEFAULT clock_timestamp())`);
  await c.query(`GRANT INSERT ON public._ddl_log TO PUBLIC; GRANT USAGE ON SEQUENCE public._ddl_log_id_seq TO PUBLIC`);
  await c.query(`CREATE OR REPLACE FUNCTION public._ddl_count() RETURNS event_trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
    DECLARE r record; BEGIN
      FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP INSERT INTO public._ddl_log(tag) VALUES (r.command_tag); END LOOP;
    END $$`);
  await c.query(`DROP EVENT TRIGGER IF EXISTS _ddl_count; CREATE EVENT TRIGGER _ddl_count ON ddl_command_end EXECUTE FUNCTION public._ddl_count()`);
  return {
    async count() {
      return Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM public._ddl_log')).rows[0]!.n);
    },
    async reset() {
      await c.query('TRUNCATE public._ddl_log');
    },
  };
}
