// The standalone emulator process the local environment runs: it announces itself in arm.json and, on
// SIGTERM, stops every PostgreSQL it started before exiting 0 (no orphans).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createHttpHeaders, createPipelineRequest } from '@azure/core-rest-pipeline';
import { repoRoot } from '../env/paths.js';
import { ensureCertificateAuthority } from '../env/pki.js';
import { createAzureClients } from '../../src/azure/clients.js';
import { staticTokenCredential } from '../../src/azure/credentials.js';
import { EmulatorControl } from '../arm-emulator/control-client.js';
import { FAST, LOCATION, SUB } from './fixtures.js';

const dir = path.join(repoRoot, '.local', 'test-arm', `main-${process.pid}-${Date.now().toString(36)}`);
let child: ChildProcess | undefined;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGTERM');
    await new Promise((r) => child!.once('exit', r));
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test('arm.json is written once listening; SIGTERM stops the PostgreSQL instances and exits 0', async () => {
  const ca = await ensureCertificateAuthority(path.join(dir, 'ca'));
  const stateDir = path.join(dir, 'arm');
  child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'test', 'arm-emulator', 'main.ts'), '--dir', stateDir, '--ca-cert', ca.certFile, '--ca-key', path.join(dir, 'ca', 'ca.key')], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const armFile = path.join(stateDir, 'arm.json');
  for (let i = 0; i < 300 && !fs.existsSync(armFile); i++) await new Promise((r) => setTimeout(r, 100));
  expect(fs.existsSync(armFile)).toBe(true);
  const info = JSON.parse(fs.readFileSync(armFile, 'utf8')) as { endpoint: string; controlEndpoint: string; caFile: string; pid: number; hostsFile: string };
  expect(info).toMatchObject({ pid: child.pid, caFile: ca.certFile, hostsFile: path.join(stateDir, 'hosts.json') });
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
  expect(Object.keys(hosts)).toEqual(['main-pg.postgres.database.azure.com']);
  const dataDir = path.join(stateDir, 'servers', SUB, 'rg-main', 'main-pg', 'data');
  const pgPid = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  expect(alive(pgPid)).toBe(true);

  child.kill('SIGTERM');
  const code = await new Promise<number | null>((r) => child!.once('exit', (c) => r(c)));
  expect({ code, output }).toMatchObject({ code: 0 });
  expect(alive(pgPid)).toBe(false);
});
