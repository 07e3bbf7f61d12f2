// Shared pieces of the PostgreSQL layer tests: the environment's server as superuser, a managed-server-
// like administrator (CREATEDB CREATEROLE, not superuser, may end other sessions), unique names.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { testEnv } from '../../dev/env/testenv.js';
import type { DbTarget } from '../../src/postgres/connections.js';

export const uniq = (prefix: string): string => `${prefix}_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

export function caPem(): string {
  return fs.readFileSync(testEnv().postgres.caFile, 'utf8');
}

export function superuserConfig(database = 'postgres'): pg.ClientConfig {
  const u = new URL(testEnv().postgres.url);
  return {
    host: u.hostname,
    port: Number(u.port),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database,
    ssl: { ca: caPem(), rejectUnauthorized: true },
  };
}

export async function asSuperuser<T>(fn: (c: pg.Client) => Promise<T>, database = 'postgres'): Promise<T> {
  const c = new pg.Client(superuserConfig(database));
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** A role as a managed server's administrator is: CREATEDB CREATEROLE, not superuser. */
export async function createAdminRole(name: string, password: string): Promise<void> {
  await asSuperuser(async (c) => {
    await c.query(`CREATE ROLE "${name}" LOGIN CREATEDB CREATEROLE PASSWORD '${password}'`);
    // As azure_pg_admin may: end sessions of other (non-superuser) roles before DROP DATABASE.
    await c.query(`GRANT pg_signal_backend TO "${name}"`);
  });
}

export function target(user: string, password: string, database: string, over: Partial<DbTarget> = {}): DbTarget {
  const u = new URL(testEnv().postgres.url);
  return { host: u.hostname, port: Number(u.port), sslMode: 'verify-full', caPem: caPem(), user, password, database, ...over };
}

/** A hosts file (as --postgres-hosts-file reads) mapping names to the environment's server. */
export function hostsFileFor(names: string[]): string {
  const env = testEnv();
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pg-hosts-')), 'hosts.json');
  fs.writeFileSync(file, JSON.stringify(Object.fromEntries(names.map((n) => [n, { host: env.postgres.host, port: env.postgres.port }]))));
  return file;
}

export async function canConnect(t: DbTarget): Promise<{ ok: true } | { ok: false; code?: string; message: string }> {
  const c = new pg.Client({ host: t.host, port: t.port, user: t.user, password: t.password, database: t.database, ssl: { ca: t.caPem, rejectUnauthorized: true }, connectionTimeoutMillis: 5000 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    await c.query('SELECT 1');
    return { ok: true };
  } catch (err) {
    const e = err as { code?: string; message: string };
    return { ok: false, ...(e.code ? { code: e.code } : {}), message: e.message };
  } finally {
    await c.end().catch(() => undefined);
  }
}
