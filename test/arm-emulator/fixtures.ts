// Set-up shared by the emulator's own tests: a private in-process emulator per test file (its state dir
// under .local/test-arm/), the operator's Azure client factory pointed at it, a recorder of every response
// the SDK pipeline receives (for swagger validation), and raw HTTPS calls for what the SDK cannot send.
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import type { PostgreSQLManagementFlexibleServerClient } from '@azure/arm-postgresql-flexible';
import { repoRoot } from '../../dev/env/paths.js';
import { ensureCertificateAuthority } from '../../dev/env/pki.js';
import { startArmEmulator, type ArmEmulator } from '../../dev/arm-emulator/emulator.js';
import { EmulatorControl } from '../../dev/arm-emulator/control-client.js';
import { recordResponses, type CapturedResponse } from '../../dev/arm-emulator/response-recorder.js';
import type { SwaggerSpecs } from '../../dev/arm-emulator/framework/swagger.js';
import { createAzureClients } from '../../src/azure/clients.js';
import { staticTokenCredential } from '../../src/azure/credentials.js';

export const SUB = '3b7e1f0c-2d4a-4e8b-9c1d-6f5a4b3c2d10';
export const LOCATION = 'eastus';
/** Makes the SDK's pollers poll fast (the emulator sends Retry-After: 0 in these tests). */
export const FAST = { updateIntervalInMs: 50 };

export interface Harness {
  emu: ArmEmulator;
  control: EmulatorControl;
  caPem: string;
  client: PostgreSQLManagementFlexibleServerClient;
  captured: CapturedResponse[];
  stop(): Promise<void>;
}

export async function startHarness(label: string): Promise<Harness> {
  const dir = path.join(repoRoot, '.local', 'test-arm', `${label}-${process.pid}-${Date.now().toString(36)}`);
  const ca = await ensureCertificateAuthority(path.join(dir, 'ca'));
  const emu = await startArmEmulator({
    stateDir: path.join(dir, 'arm'),
    caCertFile: ca.certFile,
    caKeyFile: path.join(dir, 'ca', 'ca.key'),
    lro: { defaultDurationMs: 50, retryAfterSeconds: 0 },
  });
  const caPem = fs.readFileSync(emu.caFile, 'utf8');
  const { postgres } = createAzureClients({
    subscriptionId: SUB,
    armEndpoint: emu.endpoint,
    credential: staticTokenCredential('emulator-test-token', { armEndpoint: emu.endpoint }),
    caCertPem: caPem,
    retry: { maxRetries: 2, retryDelayInMs: 20, maxRetryDelayInMs: 200 },
  });
  const captured = recordResponses(postgres.pipeline);
  return {
    emu,
    control: new EmulatorControl(emu.controlEndpoint, emu.caFile),
    caPem,
    client: postgres,
    captured,
    async stop() {
      await emu.stop();
      // TENANTDB_KEEP_TEST_STATE=1 keeps data dirs and PostgreSQL logs for debugging.
      if (process.env.TENANTDB_KEEP_TEST_STATE !== '1') fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

/** A plain HTTPS call to the emulator (token optional), for status codes and headers the SDK hides. */
export function rawCall(h: Harness, method: string, urlPath: string, opts: { body?: unknown; token?: string | null } = {}): Promise<RawResponse> {
  const url = new URL(h.emu.endpoint + urlPath);
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  const headers: Record<string, string | number> = {};
  if (opts.token !== null) headers.authorization = `Bearer ${opts.token ?? 'raw-test-token'}`;
  if (payload) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = Buffer.byteLength(payload);
  }
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, ca: h.caPem, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? (JSON.parse(text) as unknown) : undefined }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

export async function createResourceGroup(h: Harness, name: string, sub = SUB): Promise<void> {
  const res = await rawCall(h, 'PUT', `/subscriptions/${sub}/resourcegroups/${name}?api-version=2024-11-01`, { body: { location: LOCATION } });
  if (res.status !== 200 && res.status !== 201) throw new Error(`resource group ${name}: ${res.status} ${JSON.stringify(res.body)}`);
}

/**
 * Swagger problems of every captured response: the operation is found by method + path in the pinned
 * specs, the body validated against the schema declared for its status code.
 */
export function responseSchemaProblems(specs: SwaggerSpecs, captured: CapturedResponse[]): { problems: string[]; operations: Set<string> } {
  const problems: string[] = [];
  const operations = new Set<string>();
  for (const c of captured) {
    const op = specs.findOperation(c.method, c.path);
    if (!op) {
      // LRO polling URLs are not swagger operations: status documents follow common-types'
      // OperationStatusResult, failed operation results the ErrorResponse.
      const common = (v: string, definition: string) => specs.refUrl({ file: `specification/common-types/resource-management/${v}/types.json`, definition });
      let schemaUrl: string | undefined;
      if (/\/azureAsyncOperation\//i.test(c.path)) schemaUrl = common('v5', 'OperationStatusResult');
      else if (/\/operationResults\//i.test(c.path)) schemaUrl = c.status >= 400 ? common('v6', 'ErrorResponse') : undefined;
      else problems.push(`${c.method} ${c.path}: no swagger operation`);
      if (schemaUrl) {
        operations.add(`LRO ${c.path.includes('azureAsyncOperation') ? 'status' : 'result'} ${c.status}`);
        for (const e of specs.validate(schemaUrl, c.body)) problems.push(`${c.method} ${c.path} (LRO ${c.status}): ${e.instancePath} ${e.message ?? e.keyword}`);
      }
      continue;
    }
    operations.add(`${op.operationId} ${c.status}`);
    const declared = String(c.status) in op.responses ? String(c.status) : c.status >= 400 && 'default' in op.responses ? 'default' : undefined;
    const schemaUrl = declared === undefined ? undefined : op.responses[declared];
    if (schemaUrl === undefined) {
      problems.push(`${c.method} ${c.path}: status ${c.status} not declared by ${op.operationId}`);
      continue;
    }
    if (schemaUrl === null) continue;
    for (const e of specs.validate(schemaUrl, c.body)) problems.push(`${c.method} ${c.path} (${op.operationId} ${c.status}): ${e.instancePath} ${e.message ?? e.keyword}`);
  }
  return { problems, operations };
}

/** Fails (or, with TENANTDB_ALLOW_MISSING_SPECS=1, reports a skip) when the pinned specs are absent. */
export function requireSpecs(specs: SwaggerSpecs): boolean {
  if (specs.available) return true;
  const msg = `Azure REST API specs not found at ${specs.root} (set AZURE_REST_API_SPECS); swagger validation cannot run.`;
  if (process.env.TENANTDB_ALLOW_MISSING_SPECS === '1') {
    console.warn(`SKIPPED: ${msg}`);
    return false;
  }
  throw new Error(msg);
}
