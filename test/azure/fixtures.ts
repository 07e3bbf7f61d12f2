// Shared set-up of the Azure client-layer tests: a private in-process ARM emulator (so throttling and
// fault settings cannot disturb other test files), clients built by the operator's own factory, and the
// swagger check of the responses they received (recorded with ../arm-emulator/response-recorder.ts).
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import https from 'node:https';
import path from 'node:path';
import type { Server } from '@azure/arm-postgresql-flexible';
import { createHttpHeaders, createPipelineRequest } from '@azure/core-rest-pipeline';
import { repoRoot } from '../../dev/env/paths.js';
import { ensureCertificateAuthority } from '../../dev/env/pki.js';
import { startArmEmulator, type ArmEmulator } from '../../dev/arm-emulator/emulator.js';
import type { CapturedResponse } from '../../dev/arm-emulator/response-recorder.js';
import type { SwaggerSpecs, SwaggerOperation } from '../../dev/arm-emulator/framework/swagger.js';
import { ArmRequestBudget, type ArmRequestBudgetOptions } from '../../src/azure/budget.js';
import { createAzureClients, type AzureClients } from '../../src/azure/clients.js';
import { staticTokenCredential } from '../../src/azure/credentials.js';
import { ArmMetrics } from '../../src/azure/metrics.js';

export const SUBSCRIPTION = '5f1c3e2a-8d4b-4c6e-9a7f-0b1d2c3e4f50';

export interface PrivateArm {
  endpoint: string;
  controlEndpoint: string;
  caPem: string;
  /** Set when the emulator runs in this process (its context is then reachable, e.g. the swagger specs). */
  emu?: ArmEmulator;
  stop(): Promise<void>;
}

async function privateDir(label: string): Promise<{ dir: string; caCertFile: string; caKeyFile: string }> {
  const dir = path.join(repoRoot, '.local', 'test-azure', `${label}-${process.pid}-${Date.now().toString(36)}`);
  const ca = await ensureCertificateAuthority(path.join(dir, 'ca'));
  return { dir, caCertFile: ca.certFile, caKeyFile: path.join(dir, 'ca', 'ca.key') };
}

// Short operations; Retry-After 0 lets the pollers use the interval the tests pass.
const FAST_LRO = { defaultDurationMs: 100, retryAfterSeconds: 0 };

/** An emulator inside the test process. */
export async function startPrivateArm(label: string): Promise<PrivateArm & { emu: ArmEmulator }> {
  const { dir, caCertFile, caKeyFile } = await privateDir(label);
  const emu = await startArmEmulator({ stateDir: path.join(dir, 'arm'), caCertFile, caKeyFile, lro: FAST_LRO });
  return {
    endpoint: emu.endpoint,
    controlEndpoint: emu.controlEndpoint,
    emu,
    caPem: fs.readFileSync(emu.caFile, 'utf8'),
    async stop() {
      await emu.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * An emulator in its own process (dev/arm-emulator/main.ts), for timing-sensitive tests: client and
 * server then do not share one event loop, so neither stalls the other.
 */
export async function startArmProcess(label: string): Promise<PrivateArm> {
  const { dir, caCertFile, caKeyFile } = await privateDir(label);
  const armDir = path.join(dir, 'arm');
  const armFile = path.join(armDir, 'arm.json');
  fs.mkdirSync(armDir, { recursive: true });
  const log = fs.openSync(path.join(dir, 'arm-emulator.log'), 'a');
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'dev', 'arm-emulator', 'main.ts'), '--dir', armDir, '--ca-cert', caCertFile, '--ca-key', caKeyFile], {
    cwd: repoRoot,
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 60_000;
  while (!fs.existsSync(armFile)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`ARM emulator process did not start; see ${path.join(dir, 'arm-emulator.log')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const info = JSON.parse(fs.readFileSync(armFile, 'utf8')) as { endpoint: string; controlEndpoint: string; caFile: string };
  const arm: PrivateArm = {
    endpoint: info.endpoint,
    controlEndpoint: info.controlEndpoint,
    caPem: fs.readFileSync(info.caFile, 'utf8'),
    async stop() {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(killer);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  await control(arm, 'PUT', '/lro', FAST_LRO);
  return arm;
}

/** Calls the emulator's control API (test hooks: faults, throttling, request log). */
export function control<T = unknown>(arm: PrivateArm, method: string, route: string, body?: unknown): Promise<T> {
  const url = new URL(`${arm.controlEndpoint}${route}`);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise<T>((resolve, reject) => {
    const req = https.request(
      url,
      { method, ca: arm.caPem, headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {} },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          if ((res.statusCode ?? 500) >= 400) reject(new Error(`control ${method} ${route}: ${res.statusCode} ${text}`));
          else resolve((text ? JSON.parse(text) : undefined) as T);
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

export interface RequestLogEntry {
  time: string;
  method: string;
  path: string;
  status: number;
  code?: string;
}

export async function requestLog(arm: PrivateArm, since?: string): Promise<{ entries: RequestLogEntry[]; counts: Record<string, number> }> {
  return control(arm, 'GET', `/requests${since ? `?since=${encodeURIComponent(since)}` : ''}`);
}

export interface ClientOptions {
  budget?: ArmRequestBudget | ArmRequestBudgetOptions;
  metrics?: ArmMetrics;
  retry?: { maxRetries?: number; retryDelayInMs?: number; maxRetryDelayInMs?: number };
}

export function clientsFor(arm: PrivateArm, opts: ClientOptions = {}): AzureClients {
  const budget = opts.budget instanceof ArmRequestBudget ? opts.budget : new ArmRequestBudget(opts.budget);
  return createAzureClients({
    subscriptionId: SUBSCRIPTION,
    armEndpoint: arm.endpoint,
    credential: staticTokenCredential('emulator-static-token', { armEndpoint: arm.endpoint }),
    caCertPem: arm.caPem,
    budget,
    metrics: opts.metrics ?? new ArmMetrics(),
    retry: { retryDelayInMs: 20, maxRetryDelayInMs: 200, ...opts.retry },
  });
}

/** A raw ARM call through the operator's pipeline (auth, budget, retries), for bodies the SDK models cannot express. */
export async function rawArm(clients: AzureClients, method: 'GET' | 'PUT' | 'PATCH' | 'DELETE', armPath: string, apiVersion: string, body?: unknown) {
  const request = createPipelineRequest({
    url: `${clients.armEndpoint}${armPath}?api-version=${apiVersion}`,
    method,
    headers: createHttpHeaders({ 'content-type': 'application/json', accept: 'application/json' }),
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const response = await clients.postgres.sendRequest(request);
  return { status: response.status, headers: response.headers, body: response.bodyAsText ? (JSON.parse(response.bodyAsText) as unknown) : undefined };
}

export async function createResourceGroup(clients: AzureClients, name: string, location = 'eastus'): Promise<void> {
  const res = await rawArm(clients, 'PUT', `/subscriptions/${SUBSCRIPTION}/resourcegroups/${name}`, '2024-11-01', { location });
  if (res.status !== 200 && res.status !== 201) throw new Error(`resource group ${name}: ${res.status} ${JSON.stringify(res.body)}`);
}

/**
 * A small flexible server. The password is the caller's, so a test can check that the password it sent
 * never shows up in errors or metrics.
 */
export function burstableServer(administratorLoginPassword: string): Server {
  return {
    location: 'eastus',
    sku: { name: 'Standard_B1ms', tier: 'Burstable' },
    version: '17',
    administratorLogin: 'tenantadmin',
    administratorLoginPassword,
    storage: { storageSizeGB: 32 },
  };
}

/**
 * The swagger operation of a request. Extension resources are declared on `/{resourceUri}/...`, a
 * parameter that spans several segments, which the emulator's per-segment matcher does not expand.
 */
export function swaggerOperationFor(specs: SwaggerSpecs, method: string, urlPath: string): SwaggerOperation | undefined {
  const direct = specs.findOperation(method, urlPath);
  if (direct) return direct;
  return specs.operations.find((o) => {
    if (o.method !== method.toUpperCase() || !o.template.startsWith('/{resourceUri}/')) return false;
    const rest = o.template
      .slice('/{resourceUri}'.length)
      .split('/')
      .filter(Boolean)
      .map((seg) => (/^\{\w+\}$/.test(seg) ? '/[^/]+' : '/' + seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('');
    return new RegExp(`^/.+${rest}/?$`, 'i').test(urlPath);
  });
}

/** Schema problems of each recorded response body, as readable strings (empty when all validate). */
export function responseSchemaProblems(specs: SwaggerSpecs, captured: CapturedResponse[]): string[] {
  const problems: string[] = [];
  for (const c of captured) {
    const op = swaggerOperationFor(specs, c.method, c.path);
    if (!op) {
      problems.push(`${c.method} ${c.path}: no swagger operation`);
      continue;
    }
    const declared = String(c.status) in op.responses ? String(c.status) : c.status >= 400 && 'default' in op.responses ? 'default' : undefined;
    if (declared === undefined) {
      problems.push(`${c.method} ${c.path}: status ${c.status} not declared by ${op.operationId}`);
      continue;
    }
    const schemaUrl = op.responses[declared];
    if (!schemaUrl) continue; // declared without a body
    for (const e of specs.validate(schemaUrl, c.body)) problems.push(`${c.method} ${c.path} (${op.operationId} ${c.status}): ${e.instancePath} ${e.message ?? e.keyword}`);
  }
  return problems;
}
