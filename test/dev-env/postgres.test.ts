// The local PostgreSQL is a real server with TLS: clients verify it with sslmode=verify-full against
// the environment CA, and the contrib extensions the operator relies on can be created.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import pg from 'pg';
import { createCertificateAuthority } from '../../dev/env/pki.js';
import { testEnv } from '../../dev/env/testenv.js';

function client(ca: string, servername?: string): pg.Client {
  const { postgres } = testEnv();
  const url = new URL(postgres.url);
  return new pg.Client({
    host: url.hostname,
    port: Number(url.port),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    database: 'postgres',
    ssl: { ca, rejectUnauthorized: true, ...(servername ? { servername } : {}) },
    connectionTimeoutMillis: 5000,
  });
}

describe('local PostgreSQL', () => {
  it('accepts sslmode=verify-full with the environment CA (connection string form)', async () => {
    const { postgres } = testEnv();
    const c = new pg.Client({ connectionString: `${postgres.url}&sslrootcert=${encodeURIComponent(postgres.caFile)}` });
    await c.connect();
    try {
      const ssl = await c.query<{ ssl: boolean; version: string }>('SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
      expect(ssl.rows[0]?.ssl).toBe(true);
      const v = await c.query<{ server_version_num: string }>('SHOW server_version_num');
      expect(Math.floor(Number(v.rows[0]?.server_version_num) / 10000)).toBe(postgres.version);
      expect([16, 17]).toContain(postgres.version);
    } finally {
      await c.end();
    }
  });

  it('refuses a server certificate from another CA', async () => {
    const otherCa = await createCertificateAuthority('not-the-environment-ca');
    const c = client(otherCa.certPem);
    await expect(c.connect()).rejects.toThrow(/certificate/i);
    await c.end().catch(() => {});
  });

  it('refuses a host name that is not in the certificate', async () => {
    // Same server and CA, but verified as another host name: verify-full must refuse it.
    const c = client(fs.readFileSync(testEnv().postgres.caFile, 'utf8'), 'db.example.invalid');
    await expect(c.connect()).rejects.toThrow(/does not match|altnames/i);
    await c.end().catch(() => {});
  });

  it('refuses connections without TLS', async () => {
    const { postgres } = testEnv();
    const url = new URL(postgres.url);
    const c = new pg.Client({ host: url.hostname, port: Number(url.port), user: 'postgres', password: decodeURIComponent(url.password), ssl: false });
    await expect(c.connect()).rejects.toThrow(/no encryption|pg_hba/);
    await c.end().catch(() => {});
  });

  it('creates the pgcrypto and pg_stat_statements extensions', async () => {
    const c = client(fs.readFileSync(testEnv().postgres.caFile, 'utf8'));
    await c.connect();
    try {
      await c.query('CREATE DATABASE foundation_ext');
    } finally {
      await c.end();
    }
    const { postgres } = testEnv();
    const url = new URL(postgres.url);
    url.pathname = '/foundation_ext';
    const db = new pg.Client({ connectionString: `${url.toString()}&sslrootcert=${encodeURIComponent(postgres.caFile)}` });
    await db.connect();
    try {
      await db.query('CREATE EXTENSION pgcrypto');
      await db.query('CREATE EXTENSION pg_stat_statements');
      const digest = await db.query<{ h: string }>("SELECT encode(digest('tenantdb', 'sha256'), 'hex') AS h");
      expect(digest.rows[0]?.h).toBe(createHash('sha256').update('tenantdb').digest('hex'));
      const stmts = await db.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_statements');
      expect(Number(stmts.rows[0]?.n)).toBeGreaterThan(0);
    } finally {
      await db.end();
    }
  });
});
