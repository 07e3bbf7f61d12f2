// The built-in PgBouncer of an emulated flexible server: a real PgBouncer (Debian's package) on the
// server's own address, port 6432, as Azure runs it beside the database on the same host and name
// ("PgBouncer runs on port 6432 on your database server"; pool_mode TRANSACTION, default_pool_size 50 by
// default; enabling it needs no restart). It runs while the server runs and `pgbouncer.enabled` is true,
// and follows its `pgbouncer.*` parameters.
//
// Clients use TLS with the server's own certificate (verify-full against the FQDN works as for 5432) and
// their own role and password: SCRAM, with the role's verifier looked up in pg_shadow by the instance's
// superuser (auth_query), so PgBouncer needs no copy of anyone's password and logs in to PostgreSQL with
// the client's SCRAM keys. The superuser's password is in a file only the emulator (and PgBouncer) reads.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ensureDebianTool, PGBOUNCER } from '../../env/debian.js';
import { isRunning, startProcess, stopProcess, waitFor, type ProcessRecord } from '../../env/proc.js';
import type { InstanceRecord } from './instances.js';

export const POOLER_PORT = 6432;

export interface PoolerSettings {
  enabled: boolean;
  poolMode: string;
  defaultPoolSize: string;
  maxClientConn: string;
}

export function poolerSettings(params: Map<string, string>): PoolerSettings {
  return {
    // Booleans are stored as PostgreSQL spells them (on/off) whichever way a caller wrote them.
    enabled: ['true', 'on'].includes((params.get('pgbouncer.enabled') ?? 'false').toLowerCase()),
    poolMode: (params.get('pgbouncer.pool_mode') ?? 'TRANSACTION').toLowerCase(),
    defaultPoolSize: params.get('pgbouncer.default_pool_size') ?? '50',
    maxClientConn: params.get('pgbouncer.max_client_conn') ?? '5000',
  };
}

/** PgBouncer's ini quoting: values are plain; userlist entries are "name" "secret" with "" for a quote. */
const q = (s: string) => `"${s.replace(/"/g, '""')}"`;

function iniFor(inst: InstanceRecord, dir: string, s: PoolerSettings): string {
  return [
    '[databases]',
    // Every database of the server, on the instance itself.
    `* = host=${inst.host} port=${inst.port}`,
    '',
    '[pgbouncer]',
    `listen_addr = ${inst.host}`,
    `listen_port = ${POOLER_PORT}`,
    'unix_socket_dir =',
    `pidfile = ${path.join(dir, 'pgbouncer.pid')}`,
    `logfile = ${path.join(dir, 'pgbouncer.log')}`,
    'auth_type = scram-sha-256',
    `auth_file = ${path.join(dir, 'userlist.txt')}`,
    `auth_user = ${inst.creds.superuser}`,
    'auth_query = SELECT usename, passwd FROM pg_catalog.pg_shadow WHERE usename = $1',
    `pool_mode = ${s.poolMode}`,
    `default_pool_size = ${s.defaultPoolSize}`,
    `max_client_conn = ${s.maxClientConn}`,
    // Startup parameters PgBouncer cannot keep per client in transaction pooling (node-postgres sends
    // statement_timeout and friends when configured; extra_float_digits is JDBC's).
    'ignore_startup_parameters = extra_float_digits,statement_timeout,idle_in_transaction_session_timeout,options',
    'client_tls_sslmode = require',
    `client_tls_cert_file = ${path.join(dir, 'server.crt')}`,
    `client_tls_key_file = ${path.join(dir, 'server.key')}`,
    `client_tls_ca_file = ${path.join(dir, 'root.crt')}`,
    // The instance accepts TLS only; it is on the same host, reached by its address.
    'server_tls_sslmode = require',
    `server_tls_ca_file = ${path.join(dir, 'root.crt')}`,
    '',
  ].join('\n');
}

interface Running {
  rec: ProcessRecord;
  config: string;
}

async function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

export class Poolers {
  private readonly running = new Map<string, Running>();

  /** Starts, reconfigures or stops the pooler of one server so it matches its state and parameters. */
  async sync(key: string, dir: string, inst: InstanceRecord | undefined, params: Map<string, string>, serverRunning: boolean): Promise<void> {
    const s = poolerSettings(params);
    const cur = this.running.get(key);
    if (!inst || !serverRunning || !s.enabled) {
      if (cur) await this.stop(key);
      return;
    }
    const poolDir = path.join(dir, 'pgbouncer');
    const config = iniFor(inst, poolDir, s);
    if (cur && cur.config === config && isRunning(cur.rec)) return;
    if (cur) await this.stop(key);
    await this.start(key, poolDir, inst, config);
  }

  private async start(key: string, dir: string, inst: InstanceRecord, config: string): Promise<void> {
    const binary = ensureDebianTool(PGBOUNCER);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tls = inst.server.opts.tls;
    const files: Record<string, string> = {
      'pgbouncer.ini': config,
      'userlist.txt': `${q(inst.creds.superuser)} ${q(inst.creds.superPassword)}\n`,
      'server.crt': tls.certPem,
      'server.key': tls.keyPem,
      'root.crt': fs.readFileSync(tls.caFile, 'utf8'),
    };
    const owner = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : undefined;
    for (const [name, body] of Object.entries(files)) {
      const f = path.join(dir, name);
      fs.writeFileSync(f, body, { mode: 0o600 });
      if (owner) fs.chownSync(f, owner.uid, owner.gid);
    }
    if (owner) fs.chownSync(dir, owner.uid, owner.gid);
    const rec = startProcess({ name: `pgbouncer ${inst.host}:${POOLER_PORT}`, binary, args: [path.join(dir, 'pgbouncer.ini')], logFile: path.join(dir, 'stdout.log'), ...(owner ?? {}) });
    this.running.set(key, { rec, config });
    await waitFor(`PgBouncer on ${inst.host}:${POOLER_PORT}`, () => listening(inst.host, POOLER_PORT), { timeoutMs: 15_000, rec });
  }

  async stop(key: string): Promise<void> {
    const cur = this.running.get(key);
    if (!cur) return;
    this.running.delete(key);
    await stopProcess(cur.rec, 'SIGINT', 5_000);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.running.keys()].map((k) => this.stop(k)));
  }
}
