// Databases for the migration tests on the environment's PostgreSQL: each test gets its own database,
// an administrator that is not a superuser (as on Azure) and a NOLOGIN owner role the administrator is a
// member of, so runAs: owner really switches roles.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import pg from 'pg';
import { closeAllPostgresConnections, postgresConnections, type DbTarget, type PostgresConnections } from '../../src/postgres/connections.js';
import { ident, literal } from '../../src/postgres/ident.js';
import { migratorRoleName } from '../../src/postgres/migrations/migrator.js';
import { testEnv } from '../../dev/env/testenv.js';

export interface TestDatabase {
  database: string;
  admin: string;
  password: string;
  owner: string;
  target: DbTarget;
  /** A superuser session on this database, for checks. */
  sql<R extends pg.QueryResultRow = Record<string, unknown>>(text: string, values?: unknown[]): Promise<R[]>;
  drop(): Promise<void>;
}

export function caPem(): string {
  return fs.readFileSync(testEnv().postgres.caFile, 'utf8');
}

function superClient(database = 'postgres'): pg.Client {
  const url = new URL(testEnv().postgres.url);
  return new pg.Client({
    host: url.hostname,
    port: Number(url.port),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    database,
    ssl: { ca: caPem(), rejectUnauthorized: true },
  });
}

export async function superSql<R extends pg.QueryResultRow = Record<string, unknown>>(text: string, values?: unknown[], database = 'postgres'): Promise<R[]> {
  const c = superClient(database);
  await c.connect();
  try {
    return (await c.query<R>(text, values)).rows;
  } finally {
    await c.end();
  }
}

export function connections(): PostgresConnections {
  return postgresConnections({ caFile: testEnv().postgres.caFile, hostsFile: undefined });
}

export async function closeConnections(): Promise<void> {
  await closeAllPostgresConnections();
}

export async function createTestDatabase(prefix: string): Promise<TestDatabase> {
  const id = `${prefix}_${randomBytes(4).toString('hex')}`.toLowerCase();
  const database = `mig_${id}`;
  const admin = `${database}_admin`;
  const owner = `${database}_owner`;
  const password = randomBytes(12).toString('hex');
  // As on Azure: the administrator may create roles, and holds ADMIN on the owner (which it would have
  // created), so it can make the owner's migration login.
  await superSql(`CREATE ROLE ${ident(admin)} LOGIN CREATEROLE PASSWORD ${literal(password)}`);
  await superSql(`CREATE ROLE ${ident(owner)} NOLOGIN`);
  await superSql(`GRANT ${ident(owner)} TO ${ident(admin)} WITH ADMIN OPTION`);
  await superSql(`CREATE DATABASE ${ident(database)} OWNER ${ident(owner)}`);
  await superSql(`GRANT ALL ON DATABASE ${ident(database)} TO ${ident(admin)}`);
  const env = testEnv().postgres;
  const target: DbTarget = { host: env.host, port: env.port, sslMode: 'verify-full', caPem: caPem(), user: admin, password, database };
  return {
    database,
    admin,
    password,
    owner,
    target,
    sql: (text, values) => superSql(text, values, database),
    async drop() {
      await superSql(`DROP DATABASE IF EXISTS ${ident(database)} WITH (FORCE)`);
      await superSql(`DROP ROLE IF EXISTS ${ident(migratorRoleName(owner))}`);
      await superSql(`DROP ROLE IF EXISTS ${ident(owner)}`);
      await superSql(`DROP ROLE IF EXISTS ${ident(admin)}`);
    },
  };
}
