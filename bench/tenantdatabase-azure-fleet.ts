// A fleet of TenantDatabases on Azure created at once against the ARM emulator with ARM's real
// per-subscription buckets (writes 200, refilled 10/s; reads 250, 25/s), one subscription and one
// service principal (credentials Secret → the emulator's Entra), as many platforms run it.
//
// This process is the harness: a private environment (etcd + kube-apiserver, no ARM process), an
// in-process ARM emulator whose servers have NO PostgreSQL instance (`postgresInstances: false`: 500
// real instances do not fit the 2-core machine; the ARM side — operations, states, throttling — is
// unchanged), the CRDs, the Secret and N objects. The operator runs in a process of its own (this file
// with --tdb-azure-operator: the runtime's Manager with the TenantDatabase controller and only its Azure
// server part, since there is no PostgreSQL behind the servers), so RSS and CPU are the operator's.
//
// Measured: time from the first create until every object has ServerReady=True; writes and 429s from the
// emulator's request log; the floor the write bucket sets for those writes, (writes − 200) / 10 s, plus one
// operation duration (the last create still runs after its PUT); then a converged window with a short sync
// period, whose writes must be 0. Operator RSS and CPU seconds from /proc.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { KubeClient, type ResourceRef } from '../src/runtime/kubeclient.js';
import { startArmEmulator } from '../dev/arm-emulator/emulator.js';
import { repoRoot } from '../dev/env/paths.js';
import { runCommand } from '../dev/env/proc.js';
import { allPass, benchDir, goal, log, numFlag, pool, round, withEnv, type Benchmark, type BenchResult, type Flags } from './common.js';

const SELF = fileURLToPath(import.meta.url);
const TD: ResourceRef = { group: 'tenantdb.io', version: 'v1alpha1', plural: 'tenantdatabases' };
const SUB = '5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a';
const TENANT = '4e3d2c1b-0a9f-4e8d-9c7b-6a5f4e3d2c1b';
const CLIENT = '8c7b6a5f-4e3d-4c2b-9a1f-0e9d8c7b6a5f';
const RG = 'fleet-rg';
const NS = 'fleet';

interface ProcStats {
  rssMiB: number;
  cpuSeconds: number;
}

function procStats(pid: number): ProcStats {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
  return { rssMiB: round(rssKb / 1024, 1), cpuSeconds: round(ticks / 100, 2) };
}

function armPut(endpoint: string, ca: string, p: string, body: unknown): Promise<number> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = https.request(new URL(endpoint + p), { method: 'PUT', ca, headers: { authorization: 'Bearer bench-setup', 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

type LogEntry = { method: string; path: string; kind: string; status: number };

/** What a request was, for the per-kind counts: `servers.list`, `servers.get`, `firewallRules.list`, `lro.poll`, `PUT servers`… */
function requestKind(e: LogEntry): string {
  if (e.kind === 'poll') return 'lro.poll';
  const m = /\/providers\/Microsoft\.DBforPostgreSQL\/flexibleServers(?:\/([^/]+)(?:\/([^/]+)(?:\/([^/]+))?)?)?$/i.exec(e.path);
  if (!m) return `${e.method} other`;
  const [, server, child, childName] = m;
  const type = !server ? 'servers' : child ?? 'servers';
  if (e.kind !== 'read') return `${e.method} ${type}`;
  const collection = !server || (child !== undefined && childName === undefined);
  return `${type}.${collection ? 'list' : 'get'}`;
}

function countBy(entries: LogEntry[], n: number): { counts: Record<string, number>; perObject: Record<string, number>; statuses: Record<string, number> } {
  const counts: Record<string, number> = {};
  const statuses: Record<string, number> = {};
  for (const e of entries) {
    const k = requestKind(e);
    counts[k] = (counts[k] ?? 0) + 1;
    const sk = `${k} ${e.status}`;
    statuses[sk] = (statuses[sk] ?? 0) + 1;
  }
  const sorted = Object.fromEntries(Object.entries(counts).sort(([, a], [, b]) => b - a));
  return { counts: sorted, perObject: Object.fromEntries(Object.entries(sorted).map(([k, v]) => [k, round(v / n, 2)])), statuses };
}

export const tenantDatabaseAzureFleetBench: Benchmark = {
  name: 'tenantdatabase-azure-fleet',
  description: 'N TenantDatabases on Azure at once against the ARM emulator with ARM\'s real buckets (servers without PostgreSQL instances): time to ServerReady vs the write-bucket floor, 429s, converged writes, operator RSS/CPU',
  flags: {
    'azfleet-objects': { default: 500, help: 'TenantDatabases (one server each)' },
    'azfleet-workers': { default: 64, help: 'reconcile workers of the operator' },
    'azfleet-lro-ms': { default: 1000, help: 'duration of each emulated operation' },
    'azfleet-sync-ms': { default: 5000, help: 'sync period during the converged window' },
    'azfleet-window-ms': { default: 15000, help: 'length of the converged window' },
    'azfleet-timeout-s': { default: 600, help: 'give up waiting for ServerReady after this long' },
  },
  async run(flags: Flags): Promise<BenchResult> {
    const n = numFlag(flags, this, 'azfleet-objects');
    const workers = numFlag(flags, this, 'azfleet-workers');
    const lroMs = numFlag(flags, this, 'azfleet-lro-ms');
    const syncMs = numFlag(flags, this, 'azfleet-sync-ms');
    const windowMs = numFlag(flags, this, 'azfleet-window-ms');
    const timeoutS = numFlag(flags, this, 'azfleet-timeout-s');
    const dir = benchDir(this.name);
    return withEnv(this.name, { arm: false }, async (env) => {
      const kubectl = async (args: string[], input?: string) => {
        const r = await runCommand(env.kubectl, ['--kubeconfig', env.kubeconfig, ...args], { timeoutMs: 120_000, ...(input !== undefined ? { input } : {}) });
        if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
        return r.stdout;
      };
      const crds = fs.readdirSync(path.join(repoRoot, 'crds')).filter((f) => /^tenantdb\.io_.*\.yaml$/.test(f)).flatMap((f) => ['-f', path.join(repoRoot, 'crds', f)]);
      await kubectl(['apply', '--server-side', ...crds]);
      await kubectl(['wait', '--for=condition=Established', '--timeout=60s', ...crds]);

      const emu = await startArmEmulator({
        stateDir: path.join(dir, 'arm-inproc'),
        caCertFile: env.ca.certFile,
        caKeyFile: env.ca.keyFile,
        lro: { defaultDurationMs: lroMs, retryAfterSeconds: 1 },
        postgresInstances: false,
      });
      log(`ARM emulator ${emu.endpoint}: servers have no PostgreSQL instance (postgresInstances: false); buckets ${JSON.stringify(emu.ctx.throttler.settings)}`);
      const ca = fs.readFileSync(emu.caFile, 'utf8');
      let operator: ChildProcess | undefined;
      try {
        const sp = emu.entra.register({ tenantId: TENANT, clientId: CLIENT, clientSecret: 'bench-secret' });
        if ((await armPut(emu.endpoint, ca, `/subscriptions/${SUB}/resourcegroups/${RG}?api-version=2021-04-01`, { location: 'eastus' })) >= 300) throw new Error('resource group');
        await kubectl(['create', 'namespace', NS]);
        await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'azure-creds', namespace: NS }, stringData: { tenantId: TENANT, clientId: CLIENT, clientSecret: 'bench-secret' } }));
        // Admin password Secrets exist up front (as a platform's secret store would provide them), so the
        // measured writes are ARM's.
        const secrets = Array.from({ length: n }, (_, i) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: `db-${i}-admin`, namespace: NS }, stringData: { password: `Fleet-Passw0rd-${i}` } }));
        await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: secrets }));

        const tokenFile = path.join(dir, 'token');
        fs.writeFileSync(tokenFile, 'unused\n', { mode: 0o600 });
        const opLog = fs.openSync(path.join(dir, 'logs', 'operator.log'), 'a');
        operator = spawn(process.execPath, ['--import', 'tsx', SELF, '--tdb-azure-operator', JSON.stringify({ kubeconfig: env.kubeconfig, workers, syncMs, arm: emu.endpoint, caFile: emu.caFile })], {
          cwd: repoRoot,
          stdio: ['ignore', opLog, opLog],
        });
        await sleep(3000);
        const pid = operator.pid!;
        const cpu0 = procStats(pid).cpuSeconds;

        const kc = new KubeClient((await import('../src/runtime/kubeconfig.js')).loadKubeConfig({ kubeconfig: env.kubeconfig }));
        emu.ctx.requestLog.clear();
        const t0 = performance.now();
        const since = new Date().toISOString();
        await pool(n, 32, async (i) => {
          await kc.create(TD, NS, {
            apiVersion: 'tenantdb.io/v1alpha1',
            kind: 'TenantDatabase',
            metadata: { name: `db-${i}`, namespace: NS },
            spec: {
              server: {
                azure: {
                  subscriptionId: SUB,
                  resourceGroup: RG,
                  name: `fleet-srv-${i}`,
                  location: 'eastus',
                  sku: { name: 'Standard_D2ds_v5', tier: 'GeneralPurpose' },
                  administratorLogin: 'fleetadmin',
                  administratorPasswordSecretRef: { name: `db-${i}-admin`, key: 'password' },
                  credentialsSecretRef: { name: 'azure-creds' },
                },
              },
              database: { name: 'app' },
              roles: { owner: 'app_owner', application: 'app_user' },
            },
          });
        });
        const createdS = (performance.now() - t0) / 1000;
        log(`${n} TenantDatabases created in ${round(createdS, 1)} s`);

        let readyAt: number | undefined;
        let peakRss = 0;
        let ready = 0;
        while (performance.now() - t0 < timeoutS * 1000) {
          const list = await kc.request<{ items: { status?: { conditions?: { type: string; status: string }[] } }[] }>('GET', `/apis/tenantdb.io/v1alpha1/namespaces/${NS}/tenantdatabases`);
          ready = list.items.filter((o) => o.status?.conditions?.some((c) => c.type === 'ServerReady' && c.status === 'True')).length;
          peakRss = Math.max(peakRss, procStats(pid).rssMiB);
          if (ready === n) {
            readyAt = performance.now();
            break;
          }
          await sleep(1000);
        }
        const elapsedS = ((readyAt ?? performance.now()) - t0) / 1000;
        const cpuProvision = round(procStats(pid).cpuSeconds - cpu0, 2);
        const snap = emu.ctx.requestLog.snapshot(since);
        const mine = snap.entries.filter((e) => e.principal === sp.objectId);
        const writes = mine.filter((e) => e.kind === 'write').length;
        const reads = mine.filter((e) => e.kind === 'read').length;
        const polls = mine.filter((e) => e.kind === 'poll').length;
        const throttled = snap.entries.filter((e) => e.status === 429).length;
        const bucket = emu.ctx.throttler.settings.writes;
        const floorS = Math.max(0, (writes - bucket.capacity) / bucket.refillPerSecond) + lroMs / 1000;
        const readBucket = emu.ctx.throttler.settings.reads;
        const readFloorS = Math.max(0, (reads + polls - readBucket.capacity) / readBucket.refillPerSecond);
        const byKind = countBy(mine, n);
        log(`${ready}/${n} ServerReady after ${round(elapsedS, 1)} s; writes ${writes}, reads ${reads}, polls ${polls}, 429 ${throttled}; write floor ${round(floorS, 1)} s, read floor ${round(readFloorS, 1)} s`);
        log(`requests by kind: ${JSON.stringify(byKind.counts)}; by kind and status: ${JSON.stringify(byKind.statuses)}`);

        // Converged: a window of short sync periods (the operator runs with --sync-period azfleet-sync-ms).
        emu.ctx.requestLog.clear();
        const since2 = new Date().toISOString();
        const cpu1 = procStats(pid).cpuSeconds;
        await sleep(windowMs);
        const conv = emu.ctx.requestLog.snapshot(since2).entries.filter((e) => e.principal === sp.objectId);
        const convWrites = conv.filter((e) => e.kind === 'write' || e.kind === 'delete').length;
        const convReads = conv.filter((e) => e.kind === 'read' || e.kind === 'poll').length;
        const convByKind = countBy(conv, n);
        const after = procStats(pid);

        const goals = {
          allServersReady: goal(`${n} ServerReady`, ready, ready === n),
          withinFloor: goal(`<= 1.2 x write-bucket floor (${round(floorS * 1.2, 1)} s)`, round(elapsedS, 1), readyAt !== undefined && elapsedS <= floorS * 1.2),
          no429: goal('0 HTTP 429', throttled, throttled === 0),
          convergedWrites: goal('0 ARM writes in the converged window', convWrites, convWrites === 0),
        };
        return {
          name: this.name,
          params: { objects: n, workers, lroMs, syncMs, windowMs, buckets: emu.ctx.throttler.settings, postgresInstances: false, note: 'servers have no PostgreSQL instance (emulator switch postgresInstances: false); operator runs the Azure server part only' },
          results: {
            secondsToAllServerReady: round(elapsedS, 1),
            createObjectsSeconds: round(createdS, 1),
            armWrites: writes,
            armReads: reads,
            armPolls: polls,
            http429: throttled,
            writeFloorSeconds: round(floorS, 1),
            readFloorSeconds: round(readFloorS, 1),
            requestsByKind: byKind.counts,
            requestsPerObjectByKind: byKind.perObject,
            requestsByKindAndStatus: byKind.statuses,
            converged: { windowSeconds: windowMs / 1000, writes: convWrites, reads: convReads, readsPerObjectPerSync: round(convReads / n / Math.max(1, windowMs / syncMs), 3), requestsByKind: convByKind.counts },
            operator: { peakRssMiB: peakRss, rssMiBAfter: after.rssMiB, cpuSecondsProvisioning: cpuProvision, cpuSecondsConvergedWindow: round(after.cpuSeconds - cpu1, 2) },
          },
          goals,
          pass: allPass(goals),
        };
      } finally {
        if (operator && operator.exitCode === null) {
          const done = new Promise((r) => operator!.once('exit', r));
          operator.kill('SIGTERM');
          await Promise.race([done, sleep(10_000)]);
          if (operator.exitCode === null) operator.kill('SIGKILL');
        }
        await emu.stop();
      }
    });
  },
};

/** Operator mode: the Manager with the TenantDatabase controller, Azure server part only. */
async function operatorMain(cfg: { kubeconfig: string; workers: number; syncMs: number; arm: string; caFile: string }): Promise<void> {
  const { registerTenantDatabaseController, defaultParts } = await import('../controllers/tenantdatabase/index.js');
  const { loadKubeConfig } = await import('../src/runtime/kubeconfig.js');
  const { createLogger } = await import('../src/runtime/logging.js');
  const { Manager } = await import('../src/runtime/manager.js');
  const mgr = new Manager({
    kubeConfig: loadKubeConfig({ kubeconfig: cfg.kubeconfig }),
    logger: createLogger({ level: 'info' }),
    namespaces: [NS],
    metricsBindAddress: '0',
    healthProbeBindAddress: '0',
    maxConcurrentReconciles: cfg.workers,
    syncPeriodMs: cfg.syncMs,
    gracefulShutdownTimeoutMs: 5000,
  });
  registerTenantDatabaseController(
    mgr,
    { azure: { cloud: 'AzurePublicCloud', armEndpoint: cfg.arm, authorityHost: cfg.arm, caFile: cfg.caFile, staticToken: undefined }, postgres: { caFile: undefined, hostsFile: undefined } },
    { ...defaultParts(), inside: [] },
  );
  await mgr.start();
  const stop = () => void mgr.stop().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[1] && path.resolve(process.argv[1]) === SELF) {
  const { values } = parseArgs({ options: { 'tdb-azure-operator': { type: 'string' } }, strict: false });
  const cfg = values['tdb-azure-operator'];
  if (typeof cfg === 'string') {
    operatorMain(JSON.parse(cfg)).catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
  }
}
