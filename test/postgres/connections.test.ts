// The connection layer against the environment's PostgreSQL: verify-full through a hosts-file mapping
// (the name checked is the logical one, not the dialled address), a wrong CA and a name the certificate
// does not carry refused, timeouts that bound a connect and a statement, a session the server ends while
// checked out (an error for its caller, not the process), settings made at login (a role
// the login may not take refuses it), several hosts files at once, and the admin target a TenantDatabase
// gives other controllers. Sessions made ahead: a TLS channel dialled before its login (used only while
// fresh, refused like a login for a name the certificate lacks), and a pool session opened ahead (warm).
import { afterAll, describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PostgresConnections, TlsModeNotAllowedError } from '../../src/postgres/connections.js';
import { classifyFailure } from '../../src/postgres/classify.js';
import { DIALED_MAX_AGE_MS } from '../../src/postgres/dial.js';
import { HostsFile } from '../../src/postgres/hosts.js';
import { adminTarget as adminTargetForTenantDatabase } from '../../src/tenantdatabase/index.js';
import { ensureCertificateAuthority } from '../../dev/env/pki.js';
import { testEnv } from '../../dev/env/testenv.js';
import { caPem, hostsFileFor, superuserConfig } from './helpers.js';

const NAME = 'pg-primary.databases.svc.cluster.local';
const opened: PostgresConnections[] = [];
// The installer allows every mode here (--postgres-min-sslmode=require), so each mode's TLS can be shown.
function connections(hostsFile?: string, opts: ConstructorParameters<typeof PostgresConnections>[1] = {}): PostgresConnections {
  const c = new PostgresConnections({ caFile: undefined, hostsFile, minSslMode: 'require' }, opts);
  opened.push(c);
  return c;
}

afterAll(async () => {
  await Promise.all(opened.map((c) => c.close()));
});

function su(over: Record<string, unknown> = {}) {
  const s = superuserConfig();
  return { host: NAME, port: 5432, sslMode: 'verify-full' as const, caPem: caPem(), user: s.user as string, password: s.password as string, database: 'postgres', ...over };
}

describe('TLS', () => {
  test('verify-full through a hosts-file mapping checks the logical name', async () => {
    const c = connections(hostsFileFor([NAME]));
    const r = await c.query<{ ssl: boolean }>(su(), 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    expect(r.rows).toEqual([{ ssl: true }]);
  });

  test('a name the certificate does not carry is refused, even though it maps to the same server', async () => {
    const c = connections(hostsFileFor(['not-in-the-cert.example.com']));
    const err = await c.query(su({ host: 'not-in-the-cert.example.com' }), 'SELECT 1').catch((e: unknown) => e);
    expect(classifyFailure(err)).toMatchObject({ kind: 'tls', transient: false });
    // verify-ca trusts any name the CA signed.
    await expect(c.query(su({ host: 'not-in-the-cert.example.com', sslMode: 'verify-ca' }), 'SELECT 1')).resolves.toBeDefined();
  });

  test('a wrong CA is refused with a TLS error; require still encrypts', async () => {
    const other = await ensureCertificateAuthority(fs.mkdtempSync(path.join(os.tmpdir(), 'wrong-ca-')));
    const c = connections(hostsFileFor([NAME]));
    const err = await c.query(su({ caPem: fs.readFileSync(other.certFile, 'utf8') }), 'SELECT 1').catch((e: unknown) => e);
    expect(classifyFailure(err)).toMatchObject({ kind: 'tls', message: expect.stringMatching(/TLS verification failed/) });
    const r = await c.query<{ ssl: boolean }>(su({ caPem: undefined, sslMode: 'require' }), 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    expect(r.rows).toEqual([{ ssl: true }]);
  });

  test('the default floor (verify-full) refuses require and verify-ca before connecting', async () => {
    const c = new PostgresConnections({ caFile: undefined, hostsFile: hostsFileFor([NAME]) });
    opened.push(c);
    await expect(c.query(su({ sslMode: 'require' }), 'SELECT 1')).rejects.toBeInstanceOf(TlsModeNotAllowedError);
    await expect(c.query(su({ sslMode: 'verify-ca' }), 'SELECT 1')).rejects.toMatchObject({ code: 'TLSModeNotAllowed' });
    await expect(c.connect(su({ sslMode: 'require' }))).rejects.toBeInstanceOf(TlsModeNotAllowedError);
    expect(c.poolCount()).toBe(0);
  });

  test('verify-ca trusts the target\'s CA only, not --postgres-ca-file or the public roots', async () => {
    const other = await ensureCertificateAuthority(fs.mkdtempSync(path.join(os.tmpdir(), 'other-ca-')));
    const c = new PostgresConnections({ caFile: testEnv().postgres.caFile, hostsFile: hostsFileFor([NAME]), minSslMode: 'verify-ca' });
    opened.push(c);
    const err = await c.query(su({ sslMode: 'verify-ca', caPem: fs.readFileSync(other.certFile, 'utf8') }), 'SELECT 1').catch((e: unknown) => e);
    expect(classifyFailure(err)).toMatchObject({ kind: 'tls' });
    // verify-full still trusts the installer's CA for every target.
    await expect(c.query(su({ caPem: fs.readFileSync(other.certFile, 'utf8') }), 'SELECT 1')).resolves.toBeDefined();
  });

  test('the --postgres-ca-file CA is trusted for every target', async () => {
    const c = new PostgresConnections({ caFile: testEnv().postgres.caFile, hostsFile: hostsFileFor([NAME]) });
    opened.push(c);
    await expect(c.query(su({ caPem: undefined }), 'SELECT 1')).resolves.toBeDefined();
  });
});

describe('timeouts and failures', () => {
  test('a connect to a server that never answers gives up after connectTimeoutMs, as a transient failure', async () => {
    // A listener that accepts and never speaks: the TLS handshake waits forever without the timeout.
    // Its sockets are destroyed at the end: one nobody reads never sees the client's close, and kept the
    // jest worker alive past the run (force-exited).
    const accepted: net.Socket[] = [];
    const silent = net.createServer((s) => accepted.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const c = connections(undefined, { connectTimeoutMs: 500 });
      const t0 = Date.now();
      const err = await c.query(su({ host: '127.0.0.1', port }), 'SELECT 1').catch((e: unknown) => e);
      expect(Date.now() - t0).toBeLessThan(5_000);
      expect(classifyFailure(err)).toMatchObject({ kind: 'network', transient: true });
    } finally {
      for (const s of accepted) s.destroy();
      silent.close();
    }
  });

  test('a refused connection is transient; a statement past statementTimeoutMs is cancelled', async () => {
    const c = connections(hostsFileFor([NAME]), { statementTimeoutMs: 300 });
    const refused = await c.query(su({ host: '127.0.0.1', port: 1 }), 'SELECT 1').catch((e: unknown) => e);
    expect(classifyFailure(refused)).toMatchObject({ kind: 'network', transient: true });
    const slow = await c.query(su(), 'SELECT pg_sleep(5)').catch((e: unknown) => e);
    expect((slow as { code?: string }).code).toBe('57014');
  });

  test('a session the server ends while it is checked out and idle (a restart, a failover) fails its caller, not the process', async () => {
    const c = connections(hostsFileFor([NAME]));
    const err = await c
      .withClient(su(), async (client) => {
        const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
        // Another session ends this one (57P01, as a server shutting down does) while no query is running on it.
        await c.query(su({ database: 'template1' }), 'SELECT pg_terminate_backend($1)', [pid]);
        await new Promise((r) => setTimeout(r, 300));
        await client.query('SELECT 1');
      })
      .catch((e: unknown) => e);
    expect(String((err as Error).message)).toMatch(/terminat|not queryable|Connection/i);
    // The pool hands out a working session afterwards.
    await expect(c.query(su(), 'SELECT 1 AS ok')).resolves.toMatchObject({ rows: [{ ok: 1 }] });
  });

  test('a wrong password is an authentication failure, not a transient one', async () => {
    const c = connections(hostsFileFor([NAME]));
    const err = await c.query(su({ password: 'wrong-password-123456' }), 'SELECT 1').catch((e: unknown) => e);
    expect(classifyFailure(err)).toMatchObject({ kind: 'auth', transient: false, code: '28P01' });
  });
});

describe('sessions made at login', () => {
  test('a name and settings arrive as written (spaces and backslashes too); a role the login may not take refuses the login', async () => {
    const c = connections(hostsFileFor([NAME]));
    const s = await c.connect(su(), { session: { applicationName: 'tenantdb test session', settings: { 'tenantdb.note': 'two words \\ and a backslash', client_connection_check_interval: '1000' } } });
    try {
      const r = await s.query<{ app: string; path: string; check: string }>(`SELECT current_setting('application_name') AS app, current_setting('tenantdb.note') AS path, current_setting('client_connection_check_interval') AS check`);
      expect(r.rows).toEqual([{ app: 'tenantdb test session', path: 'two words \\ and a backslash', check: '1s' }]);
    } finally {
      await s.end();
    }
    const suffix = String(process.pid);
    const login = `conn_login_${suffix}`;
    const member = `conn_member_${suffix}`;
    const other = `conn_other_${suffix}`;
    const password = 'conn-test-password-1';
    await c.query(su(), `CREATE ROLE ${login} LOGIN PASSWORD '${password}'; CREATE ROLE ${member} NOLOGIN; CREATE ROLE ${other} NOLOGIN; GRANT ${member} TO ${login}`);
    try {
      const as = await c.connect(su({ user: login, password }), { session: { settings: { role: member } } });
      try {
        // What it creates is the role's, and RESET ROLE returns to the role set at login, not to the bare login.
        const r = await as.query<{ cur: string; ses: string }>('SELECT current_user AS cur, session_user AS ses');
        expect(r.rows[0]).toMatchObject({ cur: member, ses: login });
        await as.query('RESET ROLE');
        expect((await as.query<{ cur: string }>('SELECT current_user AS cur')).rows[0]?.cur).toBe(member);
      } finally {
        await as.end();
      }
      const refused = await c.connect(su({ user: login, password }), { session: { settings: { role: other } } }).catch((e: unknown) => e);
      expect(refused).toMatchObject({ code: '42501' });
    } finally {
      await c.query(su(), `DROP ROLE ${login}; DROP ROLE ${member}; DROP ROLE ${other}`);
    }
  });

  test('a setting name that is not one is refused before any byte is sent', async () => {
    const c = connections(hostsFileFor([NAME]));
    await expect(c.connect(su(), { session: { settings: { 'x=1 -c role': 'postgres' } } })).rejects.toThrow(/not a setting name/);
  });
});

describe('sessions made ahead', () => {
  test('a login on a channel dialled ahead uses that channel, verified TLS and settings at login', async () => {
    const c = connections(hostsFileFor([NAME]));
    const socket = await c.dial(su()).take();
    expect(socket?.authorized).toBe(true);
    const s = await c.connect(su(), { session: { applicationName: 'dialled ahead' }, dialed: { take: async () => socket, abandon: () => undefined } });
    try {
      const r = await s.query<{ port: number; ssl: boolean; app: string }>(`SELECT inet_client_port() AS port, ssl, current_setting('application_name') AS app FROM pg_stat_ssl WHERE pid = pg_backend_pid()`);
      expect(r.rows).toEqual([{ port: socket?.localPort, ssl: true, app: 'dialled ahead' }]);
    } finally {
      await s.end();
    }
    // The usual way: dial, then connect with it.
    const t = await c.connect(su(), { dialed: c.dial(su()) });
    await expect(t.query('SELECT 1 AS one')).resolves.toMatchObject({ rows: [{ one: 1 }] });
    await t.end();
  });

  test('a channel to a name the certificate does not carry is not used; the login reports the TLS error', async () => {
    const c = connections(hostsFileFor(['not-in-the-cert.example.com']));
    const bad = su({ host: 'not-in-the-cert.example.com' });
    expect(await c.dial(bad).take()).toBeUndefined();
    const err = await c.connect(bad, { dialed: c.dial(bad) }).catch((e: unknown) => e);
    expect(classifyFailure(err)).toMatchObject({ kind: 'tls', transient: false });
  });

  test('a channel kept past DIALED_MAX_AGE_MS is closed, not used (the server would end it unused); the login dials again', async () => {
    const c = connections(hostsFileFor([NAME]));
    const old = c.dial(su());
    await new Promise((r) => setTimeout(r, DIALED_MAX_AGE_MS + 100));
    expect(await old.take()).toBeUndefined();
    const s = await c.connect(su(), { dialed: c.dial(su()) });
    await s.end();
  });

  test('warm opens the session the next query uses: one backend, not a second one beside it', async () => {
    const app = `warm-test-${process.pid}`;
    const c = connections(hostsFileFor([NAME]), { applicationName: app });
    c.warm(su());
    const r = await c.query<{ pid: number }>(su(), 'SELECT pg_backend_pid() AS pid');
    const seen = await connections(hostsFileFor([NAME])).query<{ pid: number }>(su(), 'SELECT pid FROM pg_stat_activity WHERE application_name = $1', [app]);
    expect(seen.rows).toEqual([{ pid: r.rows[0]?.pid }]);
  });
});

describe('hosts files', () => {
  test('several files joined with the path delimiter; the first naming a host wins; changes are followed', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hosts-'));
    const a = path.join(dir, 'a.json');
    const b = path.join(dir, 'b.json');
    fs.writeFileSync(a, JSON.stringify({ 'one.example': '127.0.0.2' }));
    fs.writeFileSync(b, JSON.stringify({ 'one.example': '127.0.0.9', 'Two.Example': { host: '127.0.0.3', port: 6432 } }));
    const h = new HostsFile([a, b, path.join(dir, 'missing.json')].join(path.delimiter));
    expect(h.lookup('one.example')).toEqual({ host: '127.0.0.2' });
    expect(h.lookup('two.example')).toEqual({ host: '127.0.0.3', port: 6432 });
    expect(h.lookup('three.example')).toBeUndefined();
    fs.writeFileSync(b, JSON.stringify({ 'three.example': '127.0.0.4' }) + '\n');
    expect(h.lookup('three.example')).toEqual({ host: '127.0.0.4' });
    expect(new HostsFile(undefined).lookup('one.example')).toBeUndefined();
  });
});

describe('adminTargetForTenantDatabase', () => {
  const secrets: Record<string, Record<string, string>> = { admin: { username: 'adm', password: 'pw' }, ca: { 'ca.crt': 'PEM' }, azpw: { password: 'azpw' } };
  const sv = (n: string, k: string) => secrets[n]?.[k];
  const base = { database: { name: 'orders' }, roles: { owner: 'orders_owner' } };

  test('external: spec host/port/sslMode, admin Secret, CA Secret', () => {
    const r = adminTargetForTenantDatabase({ spec: { ...base, server: { external: { host: 'db.example.com', port: 6543, sslMode: 'verify-ca', adminSecretRef: { name: 'admin' }, caSecretRef: { name: 'ca', key: 'ca.crt' } } } } }, sv);
    expect(r).toEqual({ ok: true, ownerRole: 'orders_owner', target: { host: 'db.example.com', port: 6543, sslMode: 'verify-ca', caPem: 'PEM', user: 'adm', password: 'pw', database: 'orders' } });
    expect(adminTargetForTenantDatabase({ spec: { ...base, server: { external: { host: 'h', adminSecretRef: { name: 'nope' } } } } }, sv)).toMatchObject({ ok: false, reason: 'AdminSecretMissing' });
    expect(adminTargetForTenantDatabase({ spec: { ...base, server: { external: { host: 'h', adminSecretRef: { name: 'admin' }, caSecretRef: { name: 'nope' } } } } }, sv)).toMatchObject({ ok: false, reason: 'CASecretMissing' });
  });

  test('azure: FQDN from ARM (never status.serverFQDN), 5432, verify-full, administrator login and password Secret', () => {
    const td = { spec: { ...base, server: { azure: { administratorLogin: 'tdbadmin', administratorPasswordSecretRef: { name: 'azpw', key: 'password' } } } }, status: { serverFQDN: 'attacker.example' } };
    expect(adminTargetForTenantDatabase(td, sv, 's.postgres.database.azure.com')).toEqual({ ok: true, ownerRole: 'orders_owner', target: { host: 's.postgres.database.azure.com', port: 5432, sslMode: 'verify-full', user: 'tdbadmin', password: 'azpw', database: 'orders' } });
    // Status is output, never input: without ARM's answer there is no target, whatever status says.
    expect(adminTargetForTenantDatabase(td, sv)).toMatchObject({ ok: false, reason: 'ServerNotReady' });
  });
});
