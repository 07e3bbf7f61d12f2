// The real PostgreSQL behind every emulated flexible server. Each instance listens on its own loopback
// address (127.0.X.Y, port 5432 when free there) and carries a certificate for
// `<name>.postgres.database.azure.com` from the harness CA, so clients connect to the mapped address while
// verifying the FQDN. The mapping is written to `<stateDir>/hosts.json` and served by the control API.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { issueCertificate, type CertificateAuthority } from '../../env/pki.js';
import { PostgresServer } from '../../env/postgres.js';
import { freePort } from '../../env/proc.js';
import { bootstrapInstance } from './bootstrap.js';
import { copyRunningDataDir } from './base-copy.js';
import { takeBaseBackup, type BaseBackup } from './base-backups.js';
import { RECOVERY_SETTINGS, prepareRestore, waitForPromotion } from './pitr.js';
import { archiveSettings } from './wal-archive.js';

export interface HostMapping {
  host: string;
  port: number;
}

export interface InstanceCredentials {
  superuser: string;
  superPassword: string;
  replicationUser: string;
  replicationPassword: string;
}

export interface PersistedInstance {
  host: string;
  port: number;
  creds: InstanceCredentials;
  settings: Record<string, string>;
  replicaOf?: { sourceKey: string; slot: string };
  /** An HA server's instances live in folders of their own (ha.ts): where, and their server's folder. */
  dataDir?: string;
  serverDir?: string;
  standby?: boolean;
  /** The engine's bin folder when not the embedded PostgreSQL (servers with Entra authentication). */
  binDir?: string;
}

export interface InstanceRecord {
  key: string;
  fqdn: string;
  host: string;
  port: number;
  dataDir: string;
  creds: InstanceCredentials;
  server: PostgresServer;
  /** For a replica: the source's instance key and the replication slot it streams from. */
  replicaOf?: { sourceKey: string; slot: string };
  /** An HA standby (ha.ts): carries the server's certificate, but its FQDN does not point at it. */
  standby?: boolean;
  /** The server folder holding the backups, when the data is not directly in it (HA instances). */
  serverDir?: string;
  /** Virtual endpoint host names its certificate names besides its FQDN (virtual-endpoints.ts). */
  aliases?: string[];
}

/** The folder of the server an instance belongs to (base backups and WAL archive live there). */
export function serverDirOf(rec: InstanceRecord): string {
  return rec.serverDir ?? path.dirname(rec.dataDir);
}

const SUPERUSER = 'azuresu';
const REPLICATION_USER = 'replication';

function secret(): string {
  return randomBytes(24).toString('base64url');
}

async function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/** PostgreSQL refuses data directories it does not own; when we are root it runs as nobody (65534). */
function chownTree(dir: string): void {
  if (process.getuid?.() !== 0) return;
  const walk = (p: string) => {
    fs.lchownSync(p, 65534, 65534);
    if (fs.lstatSync(p).isDirectory()) for (const e of fs.readdirSync(p)) walk(path.join(p, e));
  };
  walk(dir);
}

export class InstanceManager {
  private instances = new Map<string, InstanceRecord>();
  // A random starting point keeps concurrent emulators (parallel test files) mostly on distinct addresses.
  private nextAddress = 1 + Math.floor(Math.random() * 60_000);
  private usedAddresses = new Set<string>();
  /** pg_hba.conf lines of an instance (key, engine bin folder); undefined: the harness default. Set by the provider. */
  hbaFor: (key: string, binDir: string | undefined) => string[] | undefined = () => undefined;
  /**
   * Extra host names (virtual endpoints) → the key of the instance they resolve to; set by
   * virtual-endpoints.ts, which calls refreshAliases() when the answer changes.
   */
  aliasesOf: () => Record<string, string> = () => ({});

  constructor(
    private readonly stateDir: string,
    private readonly ca: CertificateAuthority,
    private readonly caFile: string,
  ) {
    // The file exists from the start (empty map), so readers need not special-case a fresh emulator.
    fs.mkdirSync(stateDir, { recursive: true });
    this.writeHosts();
  }

  get hostsFile(): string {
    return path.join(this.stateDir, 'hosts.json');
  }

  get(key: string): InstanceRecord | undefined {
    return this.instances.get(key.toLowerCase());
  }

  hosts(): Record<string, HostMapping> {
    const out: Record<string, HostMapping> = {};
    for (const i of this.instances.values()) if (!i.standby) out[i.fqdn] = { host: i.host, port: i.port };
    for (const [name, key] of Object.entries(this.aliasesOf())) {
      const i = this.instances.get(key.toLowerCase());
      if (i) out[name] = { host: i.host, port: i.port };
    }
    return out;
  }

  private namesFor(key: string): string[] {
    return Object.entries(this.aliasesOf())
      .filter(([, k]) => k.toLowerCase() === key.toLowerCase())
      .map(([name]) => name)
      .sort();
  }

  private certificateFor(fqdn: string, aliases: string[], host: string) {
    return issueCertificate(this.ca, { commonName: fqdn, dnsNames: [fqdn, ...aliases, 'localhost'], ipAddresses: [host], usage: 'server' });
  }

  /**
   * After the virtual endpoints (or the roles they follow) changed: the hosts file maps every alias to
   * its instance's address, and an instance whose aliases changed gets a certificate naming them (written
   * and reloaded: PostgreSQL takes the new certificate for new connections without a restart).
   */
  async refreshAliases(): Promise<void> {
    for (const rec of this.instances.values()) {
      const names = this.namesFor(rec.key);
      if (names.join(',') === (rec.aliases ?? []).join(',')) continue;
      const tls = await this.certificateFor(rec.fqdn, names, rec.host);
      rec.aliases = names;
      rec.server.opts.tls = { ...tls, caFile: this.caFile };
      if (fs.existsSync(rec.server.opts.dataDir)) rec.server.reload();
    }
    this.writeHosts();
  }

  private writeHosts(): void {
    const tmp = `${this.hostsFile}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(this.hosts(), null, 2) + '\n');
    fs.renameSync(tmp, this.hostsFile);
  }

  private async allocateAddress(): Promise<HostMapping> {
    for (;;) {
      const n = this.nextAddress++;
      const host = `127.0.${(Math.floor(n / 254) % 254) + 1}.${(n % 254) + 1}`;
      if (this.usedAddresses.has(host)) continue;
      this.usedAddresses.add(host);
      const port = (await portFree(host, 5432)) ? 5432 : await freePort(host);
      return { host, port };
    }
  }

  /**
   * Allocates an address, issues the certificate and starts PostgreSQL there. Other emulators (parallel
   * test files, the local environment's) allocate from the same loopback range, so a lost race for an
   * address shows up as a bind failure at start-up: then the next address is tried.
   */
  private async launch(
    key: string,
    fqdn: string,
    dir: string,
    creds: InstanceCredentials,
    settings: Record<string, string>,
    opts: { preferred?: HostMapping; start?: boolean; timeoutMs?: number; standby?: boolean; serverDir?: string; binDir?: string } = {},
  ): Promise<InstanceRecord> {
    for (let attempt = 1; ; attempt++) {
      const preferred = attempt === 1 && opts.preferred && !this.usedAddresses.has(opts.preferred.host) ? opts.preferred : undefined;
      if (preferred) this.usedAddresses.add(preferred.host);
      const { host, port } = preferred ?? (await this.allocateAddress());
      const aliases = this.namesFor(key);
      const tls = await this.certificateFor(fqdn, aliases, host);
      const server = new PostgresServer({
        dataDir: path.join(dir, 'data'),
        host,
        port,
        superuser: creds.superuser,
        password: creds.superPassword,
        tls: { ...tls, caFile: this.caFile },
        // Every server archives its WAL into its own folder (point-in-time restore, see wal-archive.ts).
        settings: { ...archiveSettings(dir), ...settings },
        allowReplication: true,
        logFile: path.join(dir, 'postgres.log'),
        ...(opts.binDir ? { binDir: opts.binDir } : {}),
        hba: this.hbaFor(key, opts.binDir),
      });
      try {
        if (opts.start !== false) await server.start(opts.timeoutMs ?? 60_000);
      } catch (err) {
        await server.stop().catch(() => {});
        if (attempt < 8 && /could not bind|Address already in use/.test(String((err as Error).message))) {
          this.usedAddresses.delete(host);
          continue;
        }
        throw err;
      }
      const rec: InstanceRecord = { key: key.toLowerCase(), fqdn, host, port, dataDir: server.opts.dataDir, creds, server, aliases, ...(opts.standby ? { standby: true } : {}), ...(opts.serverDir ? { serverDir: opts.serverDir } : {}) };
      this.instances.set(rec.key, rec);
      this.writeHosts();
      return rec;
    }
  }

  /** A brand-new server: initdb, start, create the administrator and Azure's roles and extension guard. */
  async create(o: { key: string; fqdn: string; dir: string; adminLogin?: string; adminPassword?: string; settings: Record<string, string>; retentionDays?: number; binDir?: string }): Promise<InstanceRecord> {
    fs.rmSync(o.dir, { recursive: true, force: true });
    fs.mkdirSync(o.dir, { recursive: true });
    const creds: InstanceCredentials = { superuser: SUPERUSER, superPassword: secret(), replicationUser: REPLICATION_USER, replicationPassword: secret() };
    const rec = await this.launch(o.key, o.fqdn, o.dir, creds, o.settings, o.binDir ? { binDir: o.binDir } : {});
    await bootstrapInstance((db) => this.superClient(rec, db), {
      adminLogin: o.adminLogin,
      adminPassword: o.adminPassword,
      replicationUser: creds.replicationUser,
      replicationPassword: creds.replicationPassword,
    });
    // The first base backup: restores can go back to the end of it.
    await this.baseBackup(rec, o.retentionDays ?? 7);
    return rec;
  }

  /** A base backup of the running instance into its server's backup folder (base-backups.ts). */
  async baseBackup(rec: InstanceRecord, retentionDays: number): Promise<BaseBackup> {
    return this.withSuperClient(rec, 'postgres', (c) => takeBaseBackup(c, rec.dataDir, serverDirOf(rec), retentionDays));
  }

  /**
   * A server whose data is a copy of `source` taken while it runs (PointInTimeRestore), or a streaming
   * replica of it (Replica). Both start from the same base copy; see base-copy.ts.
   */
  async createFromSource(o: {
    key: string;
    fqdn: string;
    dir: string;
    source: InstanceRecord;
    settings: Record<string, string>;
    replica: boolean;
    /** PointInTimeRestore: base backup + archived WAL up to this time instead of a copy of the live data. */
    pointInTime?: Date;
    /** GeoRestore: replay only what the source archived (its geo copy), without closing its current segment first. */
    archivedOnly?: boolean;
    retentionDays?: number;
    /** An HA standby (ha.ts): a streaming replica left out of the hosts map, archiving into `serverDir`. */
    standby?: boolean;
    serverDir?: string;
  }): Promise<InstanceRecord> {
    fs.rmSync(o.dir, { recursive: true, force: true });
    fs.mkdirSync(o.dir, { recursive: true });
    const dataDir = path.join(o.dir, 'data');
    if (!o.replica && o.pointInTime) return this.restoreFromBackup({ ...o, pointInTime: o.pointInTime, dataDir });
    const slot = o.replica ? `replica_${randomBytes(6).toString('hex')}` : undefined;
    const src = await this.superClient(o.source, 'postgres');
    try {
      await copyRunningDataDir(src, o.source.dataDir, dataDir, slot);
    } finally {
      await src.end();
    }
    // Roles (administrator, internal superuser) come with the copy, so do their passwords.
    const settings = o.replica && slot ? standbyOf(o.source, dataDir, o.key, slot, o.settings) : { ...o.settings };
    chownTree(dataDir);
    const rec = await this.launch(o.key, o.fqdn, o.dir, { ...o.source.creds }, settings, { ...(o.standby ? { standby: true } : {}), ...(o.serverDir ? { serverDir: o.serverDir } : {}), ...engineOf(o.source) });
    if (slot) rec.replicaOf = { sourceKey: o.source.key, slot };
    return rec;
  }

  /**
   * Switchover: the old primary `rec` becomes a streaming replica of `source` (its promoted replica). Its
   * data is replaced by a copy of the new primary (what it had and the new primary lacks is gone, as with
   * Azure's Forced switchover; a Planned one fences it first), at its own address and name.
   */
  async demoteToReplica(rec: InstanceRecord, source: InstanceRecord, settings: Record<string, string>): Promise<InstanceRecord> {
    await rec.server.stop();
    this.instances.delete(rec.key);
    this.usedAddresses.delete(rec.host);
    fs.rmSync(rec.dataDir, { recursive: true, force: true });
    const slot = `replica_${randomBytes(6).toString('hex')}`;
    const src = await this.superClient(source, 'postgres');
    try {
      await copyRunningDataDir(src, source.dataDir, rec.dataDir, slot);
    } finally {
      await src.end();
    }
    const standby = standbyOf(source, rec.dataDir, rec.key, slot, settings);
    chownTree(rec.dataDir);
    const next = await this.launch(rec.key, rec.fqdn, path.dirname(rec.dataDir), { ...source.creds }, standby, { preferred: { host: rec.host, port: rec.port }, ...engineOf(source) });
    next.replicaOf = { sourceKey: source.key, slot };
    return next;
  }

  private async restoreFromBackup(o: { key: string; fqdn: string; dir: string; source: InstanceRecord; settings: Record<string, string>; pointInTime: Date; dataDir: string; archivedOnly?: boolean; retentionDays?: number }): Promise<InstanceRecord> {
    // Without a session on the source, prepareRestore replays what is archived and nothing newer.
    const running = !o.archivedOnly && (await sourceAnswers(o.source.server, o.source.dataDir));
    const src = running ? await this.superClient(o.source, 'postgres') : undefined;
    let recovery: Record<string, string>;
    try {
      recovery = await prepareRestore({ sourceServerDir: serverDirOf(o.source), sourceClient: src, targetDataDir: o.dataDir, pointInTime: o.pointInTime });
    } finally {
      await src?.end().catch(() => {});
    }
    chownTree(o.dataDir);
    const rec = await this.launch(o.key, o.fqdn, o.dir, { ...o.source.creds }, { ...o.settings, ...recovery }, engineOf(o.source));
    await waitForPromotion(() => this.withSuperClient(rec, 'postgres', async (c) => (await c.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0]!.r));
    // Promoted: the recovery settings have done their work (and must not follow the server around).
    const settings = rec.server.opts.settings ?? {};
    for (const k of RECOVERY_SETTINGS) delete settings[k];
    rec.server.reload();
    await this.baseBackup(rec, o.retentionDays ?? 7);
    return rec;
  }

  /** What persistence needs to bring an instance back after an emulator restart. */
  describe(rec: InstanceRecord): PersistedInstance {
    const ha = rec.serverDir ? { dataDir: rec.dataDir, serverDir: rec.serverDir, ...(rec.standby ? { standby: true } : {}) } : {};
    return {
      host: rec.host,
      port: rec.port,
      creds: rec.creds,
      settings: { ...(rec.server.opts.settings ?? {}) },
      ...(rec.replicaOf ? { replicaOf: rec.replicaOf } : {}),
      ...ha,
      ...(rec.server.opts.binDir ? { binDir: rec.server.opts.binDir } : {}),
    };
  }

  /** Takes back an instance whose data directory survived an emulator restart, on its old address if free. */
  async adopt(o: { key: string; fqdn: string; dir: string; saved: PersistedInstance; start: boolean }): Promise<InstanceRecord> {
    const dir = o.saved.dataDir ? path.dirname(o.saved.dataDir) : o.dir;
    const ha = { ...(o.saved.standby ? { standby: true } : {}), ...(o.saved.serverDir ? { serverDir: o.saved.serverDir } : {}) };
    const rec = await this.launch(o.key, o.fqdn, dir, o.saved.creds, o.saved.settings, { preferred: { host: o.saved.host, port: o.saved.port }, start: o.start, ...ha, ...(o.saved.binDir ? { binDir: o.saved.binDir } : {}) });
    if (o.saved.replicaOf) rec.replicaOf = o.saved.replicaOf;
    return rec;
  }

  /** Rewrites the instance's pg_hba.conf (after an authConfig change) and reloads it. */
  refreshHba(rec: InstanceRecord): void {
    rec.server.opts.hba = this.hbaFor(rec.key, rec.server.opts.binDir);
    rec.server.reload();
  }

  /** The running server's minor version ("6" for 17.6), as Azure reports `minorVersion`. */
  async minorVersion(rec: InstanceRecord): Promise<string> {
    const v = await this.withSuperClient(rec, 'postgres', async (c) => (await c.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version);
    return /^\d+\.(\d+)/.exec(v)?.[1] ?? '0';
  }

  async superClient(rec: InstanceRecord, db: string): Promise<pg.Client> {
    const c = new pg.Client({ ...rec.server.clientConfig(db), ssl: { ca: fs.readFileSync(this.caFile, 'utf8'), servername: rec.fqdn } });
    await c.connect();
    return c;
  }

  async withSuperClient<T>(rec: InstanceRecord, db: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
    const c = await this.superClient(rec, db);
    try {
      return await fn(c);
    } finally {
      await c.end().catch(() => {});
    }
  }

  private async dropSourceSlot(rec: InstanceRecord): Promise<void> {
    const source = rec.replicaOf ? this.get(rec.replicaOf.sourceKey) : undefined;
    if (!source || !rec.replicaOf || !(await source.server.ping())) return;
    const slot = rec.replicaOf.slot;
    await this.withSuperClient(source, 'postgres', (c) => c.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [slot])).catch(() => {});
  }

  /** Turns a streaming replica into an independent primary (pg_promote) and releases its slot on the source. */
  async promote(rec: InstanceRecord): Promise<void> {
    await this.withSuperClient(rec, 'postgres', (c) => c.query('SELECT pg_promote(true, 60)'));
    const settings = rec.server.opts.settings ?? {};
    delete settings.primary_conninfo;
    delete settings.primary_slot_name;
    rec.server.reload();
    await this.dropSourceSlot(rec);
    delete rec.replicaOf;
  }

  /**
   * An HA failover's last step: the promoted standby takes the server's key and its FQDN (the hosts map
   * points the name at it, as Azure's DNS does after a failover).
   */
  takeOver(standby: InstanceRecord, key: string): void {
    this.instances.delete(standby.key);
    standby.key = key.toLowerCase();
    delete standby.standby;
    this.instances.set(standby.key, standby);
    this.writeHosts();
  }

  /** Stops the instance and removes its files and address mapping. */
  async destroy(key: string, dir: string): Promise<void> {
    const rec = this.get(key);
    if (rec) {
      await rec.server.stop();
      // A dropped replica's slot would otherwise make its source keep WAL forever.
      await this.dropSourceSlot(rec);
      this.instances.delete(rec.key);
      this.usedAddresses.delete(rec.host);
      this.writeHosts();
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.instances.values()].map((r) => r.server.stop().catch(() => {})));
  }
}

/** The settings (and standby.signal in `dataDir`) of a streaming replica of `source` through slot `slot`. */
function standbyOf(source: InstanceRecord, dataDir: string, key: string, slot: string, base: Record<string, string>): Record<string, string> {
  const conninfo = [
    `host=${source.fqdn}`,
    `hostaddr=${source.host}`,
    `port=${source.port}`,
    `user=${source.creds.replicationUser}`,
    `password=${source.creds.replicationPassword}`,
    'sslmode=verify-full',
    `sslrootcert=${path.join(dataDir, 'root.crt')}`,
    // libpq otherwise probes ~/.postgresql/ (the emulator's HOME), unreadable for the server's user.
    `sslcert=${path.join(dataDir, 'no-client.crt')}`,
    `sslkey=${path.join(dataDir, 'no-client.key')}`,
    `sslcrl=${path.join(dataDir, 'no-root.crl')}`,
    `application_name=${key.split('/').pop()}`,
  ];
  fs.writeFileSync(path.join(dataDir, 'standby.signal'), '');
  return { ...base, primary_conninfo: conninfo.join(' '), primary_slot_name: slot, hot_standby: 'on' };
}

/** A copy of a server (restore, replica) runs on the same engine as its source. */
function engineOf(source: InstanceRecord): { binDir?: string } {
  return source.server.opts.binDir ? { binDir: source.server.opts.binDir } : {};
}

/**
 * Whether the source's PostgreSQL runs, for a restore: a live postmaster is asked several times, since one
 * slow TLS handshake on a loaded machine must not turn "running" into "down" (a restore from a source
 * taken for down replays only what is archived, and loses the newest writes).
 */
async function sourceAnswers(server: { ping(): Promise<boolean> }, dataDir: string): Promise<boolean> {
  let pid = NaN;
  try {
    pid = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return false;
  }
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  for (let i = 0; i < 10; i++) {
    if (await server.ping()) return true;
    await new Promise((r) => setTimeout(r, 500));
  }
  return false;
}
