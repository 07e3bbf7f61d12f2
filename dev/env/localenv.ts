// The local environment: one module used by the test suite (jest global setup), by `npm run env`
// and by the benchmarks. It starts the real parts the operator talks to — etcd + kube-apiserver,
// PostgreSQL with TLS, and the ARM emulator — records every process and writes `env.json`.
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ensureBinaries, type Binaries } from './binaries.js';
import { startControlPlane } from './controlplane.js';
import { ensureDebianTool, PGBOUNCER, POSTGRES_DEBIAN } from './debian.js';
import { localDir, repoRoot } from './paths.js';
import { ensureCertificateAuthority, issueCertificate } from './pki.js';
import { PostgresServer, postgresMajorVersion } from './postgres.js';
import { EnvError, freePort, isRunning, startProcess, stopProcess, waitFor, type ProcessRecord } from './proc.js';
import { KUBERNETES_VERSION } from './versions.js';

export interface EnvInfo {
  dir: string;
  kubeconfig: string;
  kubectl: string;
  kubernetes: { server: string; version: string; existingCluster: boolean };
  postgres: { url: string; caFile: string; host: string; port: number; version: number; dataDir: string };
  ca: { certFile: string; keyFile: string };
  /** authorityHost: the emulator's Microsoft Entra token endpoint (same origin as endpoint). */
  arm?: { endpoint: string; controlEndpoint: string; caFile: string; hostsFile: string; authorityHost: string };
}

export interface UpOptions {
  dir?: string;
  /** Use the cluster KUBECONFIG points at instead of starting etcd and kube-apiserver. */
  existingCluster?: boolean;
  /** Start the ARM emulator (default true). */
  arm?: boolean;
  log?: (msg: string) => void;
}

interface State {
  processes: ProcessRecord[];
}

const STATE_FILE = 'state.json';
export const ENV_FILE = 'env.json';

function readState(dir: string): State {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, STATE_FILE), 'utf8')) as State;
  } catch {
    return { processes: [] };
  }
}

function writeState(dir: string, state: State): void {
  fs.writeFileSync(path.join(dir, STATE_FILE), JSON.stringify(state, null, 2) + '\n');
}

export function readEnvInfo(dir = localDir()): EnvInfo {
  const file = path.join(dir, ENV_FILE);
  if (!fs.existsSync(file)) throw new EnvError(`no local environment in ${dir}: run \`npm run env -- up\` first`);
  return JSON.parse(fs.readFileSync(file, 'utf8')) as EnvInfo;
}

/** true when the environment variable is set to a truthy word. */
export function envFlag(name: string): boolean {
  return /^(1|true|yes|on)$/i.test(process.env[name] ?? '');
}

function kubectlOnPath(): string | undefined {
  const res = spawnSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' });
  return res.status === 0 ? res.stdout.trim() : undefined;
}

export async function up(opts: UpOptions = {}): Promise<EnvInfo> {
  const dir = path.resolve(opts.dir ?? localDir());
  const log = opts.log ?? (() => {});
  fs.mkdirSync(dir, { recursive: true });
  // A previous run that crashed may have left servers behind; stop them before starting new ones.
  await down(dir);
  const state: State = { processes: [] };
  const record = (rec: ProcessRecord) => {
    state.processes.push(rec);
    writeState(dir, state);
  };
  try {
    const ca = await ensureCertificateAuthority(path.join(dir, 'pki'));
    const caKeyFile = path.join(dir, 'pki', 'ca.key');
    const existingCluster = opts.existingCluster ?? envFlag('TENANTDB_USE_EXISTING_CLUSTER');

    let kubernetes: EnvInfo['kubernetes'];
    let kubeconfig: string;
    let kubectl: string;
    if (existingCluster) {
      kubeconfig = process.env.KUBECONFIG ?? '';
      if (!kubeconfig || !fs.existsSync(kubeconfig.split(':')[0]!)) {
        throw new EnvError('--existing-cluster needs KUBECONFIG pointing at a kubeconfig file');
      }
      const found = kubectlOnPath();
      if (!found) throw new EnvError('--existing-cluster needs kubectl on PATH (nothing is built in this mode)');
      kubectl = found;
      kubernetes = { server: '(from KUBECONFIG)', version: 'unknown', existingCluster: true };
      log(`using the existing cluster from KUBECONFIG=${kubeconfig}`);
    } else {
      const bins: Binaries = await ensureBinaries(log);
      log(`starting etcd and kube-apiserver ${KUBERNETES_VERSION}`);
      const t0 = Date.now();
      const plane = await startControlPlane({ dir: path.join(dir, 'kube'), binaries: bins, ca });
      plane.processes().forEach(record);
      log(`kube-apiserver ready at ${plane.server} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      kubeconfig = plane.kubeconfig;
      kubectl = bins.kubectl;
      kubernetes = { server: plane.server, version: KUBERNETES_VERSION, existingCluster: false };
    }

    const pgHost = '127.0.0.1';
    const pgDataDir = path.join(dir, 'postgres', 'data');
    const passwordFile = path.join(dir, 'postgres', 'password');
    fs.mkdirSync(path.dirname(passwordFile), { recursive: true });
    if (!fs.existsSync(passwordFile)) fs.writeFileSync(passwordFile, randomBytes(18).toString('base64url'), { mode: 0o600 });
    const pg = new PostgresServer({
      dataDir: pgDataDir,
      host: pgHost,
      port: await freePort(pgHost),
      superuser: 'postgres',
      password: fs.readFileSync(passwordFile, 'utf8').trim(),
      // pg-primary.databases.svc.cluster.local: the in-cluster name crds/examples/tenantdatabase-external.yaml
      // uses; the dev fixture maps it to this server through --postgres-hosts-file, so verify-full passes.
      tls: { ...(await issueCertificate(ca, { commonName: 'postgres', dnsNames: ['localhost', 'pg-primary.databases.svc.cluster.local'], ipAddresses: [pgHost], usage: 'server' })), caFile: ca.certFile },
      logFile: path.join(dir, 'logs', 'postgres.log'),
    });
    log('starting PostgreSQL');
    record(await pg.start());

    const info: EnvInfo = {
      dir,
      kubeconfig,
      kubectl,
      kubernetes,
      postgres: { url: pg.url(), caFile: ca.certFile, host: pgHost, port: pg.opts.port, version: postgresMajorVersion(), dataDir: pgDataDir },
      ca: { certFile: ca.certFile, keyFile: caKeyFile },
    };

    // --- ARM emulator ---
    if (opts.arm ?? true) {
      // The emulated servers' built-in pooler (pgbouncer.enabled) is Debian's PgBouncer: installed now,
      // once per machine, so enabling it later does not wait for apt. Without it only that feature fails.
      try {
        ensureDebianTool(PGBOUNCER, log);
      } catch (err) {
        log(`warning: ${(err as Error).message}; servers with pgbouncer.enabled will not get a pooler`);
      }
      // Servers with Microsoft Entra authentication run on Debian's PostgreSQL (built with LDAP).
      try {
        ensureDebianTool(POSTGRES_DEBIAN, log);
      } catch (err) {
        log(`warning: ${(err as Error).message}; servers with Microsoft Entra authentication cannot be created`);
      }
      log('starting the ARM emulator');
      const { rec, arm } = await startArmEmulatorProcess(dir, ca.certFile, caKeyFile);
      record(rec);
      info.arm = arm;
    }

    fs.writeFileSync(path.join(dir, ENV_FILE), JSON.stringify(info, null, 2) + '\n', { mode: 0o600 });
    return info;
  } catch (err) {
    await down(dir);
    throw err;
  }
}

/** Runs the emulator as its own process so it outlives `npm run env -- up`. */
async function startArmEmulatorProcess(dir: string, caCert: string, caKey: string): Promise<{ rec: ProcessRecord; arm: NonNullable<EnvInfo['arm']> }> {
  const armDir = path.join(dir, 'arm');
  const armFile = path.join(armDir, 'arm.json');
  fs.mkdirSync(armDir, { recursive: true });
  fs.rmSync(armFile, { force: true });
  const rec = startProcess({
    name: 'arm-emulator',
    binary: process.execPath,
    args: ['--import', 'tsx', path.join(repoRoot, 'dev', 'arm-emulator', 'main.ts'), '--dir', armDir, '--ca-cert', caCert, '--ca-key', caKey],
    cwd: repoRoot,
    logFile: path.join(dir, 'logs', 'arm-emulator.log'),
  });
  await waitFor('ARM emulator', async () => fs.existsSync(armFile), { timeoutMs: 30_000, rec });
  const arm = JSON.parse(fs.readFileSync(armFile, 'utf8')) as NonNullable<EnvInfo['arm']>;
  return { rec, arm: { endpoint: arm.endpoint, controlEndpoint: arm.controlEndpoint, caFile: arm.caFile, hostsFile: arm.hostsFile, authorityHost: arm.authorityHost ?? arm.endpoint } };
}

/** Processes whose command line mentions `dir`: servers a crashed emulator may have left behind. */
function strayProcesses(dir: string): ProcessRecord[] {
  const found: ProcessRecord[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      // Only our server binaries: the shell or npm that ran `down --dir ...` mentions the dir too.
      const ours = ['etcd', 'kube-apiserver', 'postgres'].includes(path.basename(argv[0]!)) || argv.some((a) => a.endsWith(path.join('arm-emulator', 'main.ts')));
      const mentionsDir = argv.some((a) => a === dir || a.includes(dir + path.sep));
      if (ours && mentionsDir) {
        found.push({ name: path.basename(argv[0]!), pid: Number(entry), binary: argv[0]!, logFile: '' });
      }
    } catch {
      /* exited meanwhile */
    }
  }
  return found;
}

/** Stops everything the environment in `dir` started (emulator first, so it can stop its servers). */
export async function down(dir = localDir()): Promise<ProcessRecord[]> {
  const abs = path.resolve(dir);
  const state = readState(abs);
  const order = ['arm-emulator', 'kube-apiserver', 'etcd'];
  const sorted = [...state.processes].sort((a, b) => rank(a) - rank(b));
  function rank(p: ProcessRecord): number {
    const i = order.indexOf(p.name);
    return i === -1 ? order.length : i;
  }
  const stopped: ProcessRecord[] = [];
  for (const rec of sorted) {
    if (isRunning(rec)) {
      await stopProcess(rec, rec.name.startsWith('postgres') ? 'SIGINT' : 'SIGTERM', 20_000);
      stopped.push(rec);
    }
  }
  for (const rec of strayProcesses(abs)) {
    await stopProcess(rec, rec.binary.endsWith('postgres') ? 'SIGINT' : 'SIGTERM', 10_000);
    stopped.push(rec);
  }
  if (fs.existsSync(abs)) writeState(abs, { processes: [] });
  fs.rmSync(path.join(abs, ENV_FILE), { force: true });
  return stopped;
}

export interface StatusLine {
  name: string;
  pid: number;
  running: boolean;
}

export function status(dir = localDir()): StatusLine[] {
  return readState(path.resolve(dir)).processes.map((p) => ({ name: p.name, pid: p.pid, running: isRunning(p) }));
}

/** The process records of the environment in `dir` (empty once it is down). */
export function recordedProcesses(dir = localDir()): ProcessRecord[] {
  return readState(path.resolve(dir)).processes;
}
