// The standalone emulator process the local environment runs: it announces itself in arm.json and, on
// SIGTERM, stops every PostgreSQL it started before exiting 0 (no orphans).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { createHttpHeaders, createPipelineRequest } from '@azure/core-rest-pipeline';
import { repoRoot } from '../../dev/env/paths.js';
import { ensureCertificateAuthority } from '../../dev/env/pki.js';
import { createAzureClients } from '../../src/azure/clients.js';
import { staticTokenCredential } from '../../src/azure/credentials.js';
import { EmulatorControl } from '../../dev/arm-emulator/control-client.js';
import { FAST, LOCATION, SUB } from './fixtures.js';

const dir = path.join(repoRoot, '.local', 'test-arm', `main-${process.pid}-${Date.now().toString(36)}`);
let child: ChildProcess | undefined;

interface ArmInfo {
  endpoint: string;
  controlEndpoint: string;
  caFile: string;
  pid: number;
  hostsFile: string;
}

/** Starts main.ts as the local environment does and waits for arm.json. */
async function startProcess(stateDir: string, caCert: string, caKey: string): Promise<{ info: ArmInfo; output: () => string }> {
  const armFile = path.join(stateDir, 'arm.json');
  fs.rmSync(armFile, { force: true });
  child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'dev', 'arm-emulator', 'main.ts'), '--dir', stateDir, '--ca-cert', caCert, '--ca-key', caKey], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  for (let i = 0; i < 600 && !fs.existsSync(armFile); i++) await new Promise((r) => setTimeout(r, 100));
  if (!fs.existsSync(armFile)) throw new Error(`arm.json not written; output:\n${output}`);
  return { info: JSON.parse(fs.readFileSync(armFile, 'utf8')) as ArmInfo, output: () => output };
}

async function stopProcess(): Promise<number | null> {
  const c = child!;
  if (c.exitCode !== null) return c.exitCode;
  c.kill('SIGTERM');
  return new Promise<number | null>((r) => c.once('exit', (code) => r(code)));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

afterAll(async () => {
  if (child) await stopProcess();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('arm.json is written once listening; SIGTERM stops the PostgreSQL instances and exits 0; a restart brings them back', async () => {
  const ca = await ensureCertificateAuthority(path.join(dir, 'ca'));
  const stateDir = path.join(dir, 'arm');
  const caKey = path.join(dir, 'ca', 'ca.key');
  const { info, output } = await startProcess(stateDir, ca.certFile, caKey);
  expect(info).toMatchObject({ pid: child!.pid, caFile: ca.certFile, hostsFile: path.join(stateDir, 'hosts.json') });
  expect(info.endpoint).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  expect(info.controlEndpoint).toBe(`${info.endpoint}/_emulator`);

  const caPem = fs.readFileSync(info.caFile, 'utf8');
  const control = new EmulatorControl(info.controlEndpoint, info.caFile);
  await control.configureLro({ defaultDurationMs: 50, retryAfterSeconds: 0 });
  const { postgres } = createAzureClients({
    subscriptionId: SUB,
    armEndpoint: info.endpoint,
    credential: staticTokenCredential('main-process-token', { armEndpoint: info.endpoint }),
    caCertPem: caPem,
  });
  const rg = await postgres.sendRequest(
    createPipelineRequest({
      url: `${info.endpoint}/subscriptions/${SUB}/resourcegroups/rg-main?api-version=2024-11-01`,
      method: 'PUT',
      headers: createHttpHeaders({ 'content-type': 'application/json' }),
      body: JSON.stringify({ location: LOCATION }),
    }),
  );
  expect(rg.status).toBe(201);
  await postgres.servers.beginCreateOrUpdateAndWait('rg-main', 'main-pg', { location: LOCATION, administratorLogin: 'mainadmin', administratorLoginPassword: 'Ma1n-Passw0rd!' }, FAST);
  const hosts = await control.hosts();
  const fqdn = 'main-pg.postgres.database.azure.com';
  expect(Object.keys(hosts)).toEqual([fqdn]);
  const dataDir = path.join(stateDir, 'servers', SUB, 'rg-main', 'main-pg', 'data');
  const pgPid = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  expect(alive(pgPid)).toBe(true);

  const c = new pg.Client({ host: hosts[fqdn]!.host, port: hosts[fqdn]!.port, user: 'mainadmin', password: 'Ma1n-Passw0rd!', database: 'postgres', ssl: { ca: caPem, servername: fqdn } });
  await c.connect();
  await c.query("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('survives a restart')");
  await c.end();

  const code = await stopProcess();
  expect({ code, output: output() }).toMatchObject({ code: 0 });
  expect(alive(pgPid)).toBe(false);

  // Started again on the same state dir, the emulator brings the server (and its data) back.
  const second = await startProcess(stateDir, ca.certFile, caKey);
  const { postgres: again } = createAzureClients({
    subscriptionId: SUB,
    armEndpoint: second.info.endpoint,
    credential: staticTokenCredential('main-process-token', { armEndpoint: second.info.endpoint }),
    caCertPem: caPem,
  });
  expect(await again.servers.get('rg-main', 'main-pg')).toMatchObject({ state: 'Ready', fullyQualifiedDomainName: fqdn });
  const hosts2 = await new EmulatorControl(second.info.controlEndpoint, second.info.caFile).hosts();
  const c2 = new pg.Client({ host: hosts2[fqdn]!.host, port: hosts2[fqdn]!.port, user: 'mainadmin', password: 'Ma1n-Passw0rd!', database: 'postgres', ssl: { ca: caPem, servername: fqdn } });
  await c2.connect();
  try {
    expect((await c2.query('SELECT v FROM kept')).rows).toEqual([{ v: 'survives a restart' }]);
  } finally {
    await c2.end();
  }
  const pgPid2 = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  expect(await stopProcess()).toBe(0);
  expect(alive(pgPid2)).toBe(false);
});
