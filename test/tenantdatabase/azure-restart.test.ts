// The operator and the emulator as processes: an operator SIGKILLed in the middle of a create resumes
// polling the recorded operation (exactly one create PUT in the emulator's log), and an emulator restarted
// while an operation runs (its operation records are not persisted) leaves the operator to re-read and
// converge.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { EmulatorControl } from '../../dev/arm-emulator/control-client.js';
import { repoRoot } from '../../dev/env/paths.js';
import { ensureCertificateAuthority } from '../../dev/env/pki.js';
import { createTestNamespace, testEnv } from '../../dev/env/testenv.js';
import { eventually, getJson, installCrds, run } from '../runtime/helpers.js';
import { CLIENT_ID, CLIENT_SECRET, RG, SUB, TENANT, azureTenantDatabase, credentialsSecret, serverPath } from './azure-harness.js';

interface Tdb { metadata: { generation: number }; status?: Record<string, any> & { conditions?: { type: string; status: string; reason: string }[] } }

const dir = path.join(repoRoot, '.local', 'test-tdb-azure', `restart-${process.pid}-${Date.now().toString(36)}`);
let emulator: ChildProcess | undefined;
let operator: ChildProcess | undefined;
let info: { endpoint: string; controlEndpoint: string; caFile: string; hostsFile: string; authorityHost: string };
let control: EmulatorControl;
let ns: string;
let operatorLog = '';
let emulatorLog = '';
const API = '?api-version=2025-08-01';

async function startEmulator(port?: number): Promise<void> {
  const armDir = path.join(dir, 'arm');
  const armFile = path.join(armDir, 'arm.json');
  fs.rmSync(armFile, { force: true });
  emulator = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(repoRoot, 'dev', 'arm-emulator', 'main.ts'), '--dir', armDir, '--ca-cert', path.join(dir, 'ca', 'ca.crt'), '--ca-key', path.join(dir, 'ca', 'ca.key'), ...(port ? ['--port', String(port)] : [])],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  emulator.stdout!.on('data', (d: Buffer) => (emulatorLog += d.toString()));
  emulator.stderr!.on('data', (d: Buffer) => (emulatorLog += d.toString()));
  await eventually('arm.json', async () => fs.existsSync(armFile), 60_000, 100);
  info = JSON.parse(fs.readFileSync(armFile, 'utf8'));
  control = new EmulatorControl(info.controlEndpoint, info.caFile);
  await control.configureLro({ defaultDurationMs: 300, retryAfterSeconds: 1 });
}

async function stop(c: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!c || c.exitCode !== null || c.signalCode !== null) return;
  const done = new Promise<void>((r) => c.once('exit', () => r()));
  c.kill(signal);
  await done;
}

function startOperator(): void {
  const tokenFile = path.join(dir, 'token');
  fs.writeFileSync(tokenFile, 'operator-static-token\n', { mode: 0o600 });
  operator = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(repoRoot, 'src', 'main.ts'),
      `--kubeconfig=${testEnv().kubeconfig}`,
      `--namespaces=${ns}`,
      '--metrics-bind-address=0',
      '--health-probe-bind-address=0',
      '--sync-period=5s',
      `--azure-arm-endpoint=${info.endpoint}`,
      `--azure-authority-host=${info.authorityHost}`,
      `--azure-ca-file=${info.caFile}`,
      `--azure-static-token-file=${tokenFile}`,
      `--postgres-ca-file=${info.caFile}`,
      `--postgres-hosts-file=${info.hostsFile}`,
    ],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  operator.stdout!.on('data', (d: Buffer) => (operatorLog += d.toString()));
  operator.stderr!.on('data', (d: Buffer) => (operatorLog += d.toString()));
}

const get = (name: string) => getJson<Tdb>(['get', 'tenantdatabases.tenantdb.io', name, '-n', ns]);
/** ServerReady; when it does not come, the failure carries the object's conditions and both processes' last lines. */
const ready = (name: string) =>
  eventually(`${name} ServerReady`, async () => {
    const o = await get(name);
    return o?.status?.conditions?.find((c) => c.type === 'ServerReady')?.status === 'True' ? o : undefined;
  }, 120_000, 300).catch(async (err: Error) => {
    const o = await get(name).catch(() => undefined);
    const tail = (s: string) => s.split('\n').slice(-40).join('\n');
    throw new Error(`${err.message}\nconditions: ${JSON.stringify(o?.status?.conditions)}\noperator log:\n${tail(operatorLog)}\nemulator log:\n${tail(emulatorLog)}`);
  });

async function rawGet(p: string): Promise<number> {
  const https = await import('node:https');
  return new Promise((resolve, reject) => {
    https
      .get(new URL(info.endpoint + p), { ca: fs.readFileSync(info.caFile), headers: { authorization: 'Bearer reader' } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', reject);
  });
}

beforeAll(async () => {
  await installCrds();
  await ensureCertificateAuthority(path.join(dir, 'ca'));
  await startEmulator();
  await control.registerServicePrincipal({ tenantId: TENANT, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
  const https = await import('node:https');
  await new Promise<void>((resolve, reject) => {
    const body = JSON.stringify({ location: 'eastus' });
    const req = https.request(
      new URL(`${info.endpoint}/subscriptions/${SUB}/resourcegroups/${RG}?api-version=2021-04-01`),
      { method: 'PUT', ca: fs.readFileSync(info.caFile), headers: { authorization: 'Bearer setup', 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve());
      },
    );
    req.on('error', reject);
    req.end(body);
  });
  ns = await createTestNamespace('tdb-azure-restart');
  await run(['apply', '-f', '-'], JSON.stringify(credentialsSecret(ns, 'azure-creds')));
  startOperator();
});

afterAll(async () => {
  await stop(operator, 'SIGTERM');
  await stop(emulator, 'SIGTERM');
  if (ns) await run(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  if (process.env.TENANTDB_KEEP_TEST_STATE !== '1') fs.rmSync(dir, { recursive: true, force: true });
});

test('operator SIGKILLed mid-create: polling resumes from status, exactly one create PUT', async () => {
  await control.pauseOperations({ method: 'PUT', path: 'flexibleServers/tdb-killed$', count: 1 });
  const since = new Date().toISOString();
  await run(['apply', '-f', '-'], JSON.stringify(azureTenantDatabase(ns, 'killed', 'tdb-killed')));
  const recorded = await eventually('operation recorded in status', async () => {
    const o = await get('killed');
    return o?.status?.azure?.operation?.kind === 'servers.create' ? o : undefined;
  }, 60_000, 200);
  expect(recorded.status?.azure?.operation?.pollerState).toContain('azureAsyncOperation');
  await stop(operator, 'SIGKILL');

  const op = (await control.operations()).find((o) => /tdb-killed$/.test(o.resourceId) && o.status === 'InProgress');
  expect(op?.paused).toBe(true);
  startOperator();
  await new Promise((r) => setTimeout(r, 2_000)); // the new process polls a paused operation: still one PUT
  await control.resumeOperation(op!.id);
  const o = await ready('killed');
  expect(o.status?.azure?.operation).toBeUndefined();
  const puts = (await control.requests(since)).entries.filter((e) => e.method === 'PUT' && /flexibleServers\/tdb-killed$/.test(e.path));
  expect(puts).toHaveLength(1);
}, 180_000);

test('emulator restarted mid-operation: the operator re-reads and converges', async () => {
  await control.pauseOperations({ method: 'PUT', path: 'flexibleServers/tdb-bounced$', count: 1 });
  await run(['apply', '-f', '-'], JSON.stringify(azureTenantDatabase(ns, 'bounced', 'tdb-bounced')));
  await eventually('operation recorded', async () => (await get('bounced'))?.status?.azure?.operation?.kind === 'servers.create', 60_000, 200);
  const port = Number(new URL(info.endpoint).port);
  await stop(emulator, 'SIGTERM'); // finishes what runs, forgets the operation records
  await new Promise((r) => setTimeout(r, 1_500)); // the operator meets a closed port meanwhile
  await startEmulator(port);
  const o = await ready('bounced');
  expect(o.status?.serverState).toBe('Ready');
  expect(await rawGet(serverPath('tdb-bounced') + API)).toBe(200);
  expect(operator?.exitCode).toBeNull();
}, 180_000);
