// Set-up shared by the TenantDatabase-on-Azure tests: a private in-process ARM emulator (its own Entra),
// a resource group and a service principal in it, and the TenantDatabase controller in an in-process
// Manager pointed at the emulator exactly as `npm run operator` points the real process.
import { registerBackupPolicyController } from '../../controllers/backuppolicy/index.js';
import { registerMigrationController } from '../../controllers/migration/index.js';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import type { PostgreSQLManagementFlexibleServerClient } from '@azure/arm-postgresql-flexible';
import { defaultParts, registerTenantDatabaseController } from '../../controllers/tenantdatabase/index.js';
import { createAzureClients } from '../../src/azure/clients.js';
import { staticTokenCredential } from '../../src/azure/credentials.js';
import { clearAzureClientsCache } from '../../src/azure/provider.js';
import { Manager } from '../../src/runtime/manager.js';
import type { ControllerSettings } from '../../src/settings.js';
import { EmulatorControl } from '../../dev/arm-emulator/control-client.js';
import { startArmEmulator, type ArmEmulator } from '../../dev/arm-emulator/emulator.js';
import type { LroSettings } from '../../dev/arm-emulator/framework/lro.js';
import { repoRoot } from '../../dev/env/paths.js';
import { ensureCertificateAuthority } from '../../dev/env/pki.js';
import { kubeConfig } from '../../dev/env/testenv.js';
import { testLogger } from '../runtime/helpers.js';

export const SUB = '6a1f3c2e-8b4d-4e7a-9c0f-1d2e3f4a5b6c';
export const TENANT = '0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a';
export const CLIENT_ID = '1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f';
export const CLIENT_SECRET = 'emulator-sp-secret-value';
export const RG = 'tenantdb-rg';

export interface AzureHarness {
  emu: ArmEmulator;
  control: EmulatorControl;
  caPem: string;
  dir: string;
  /** Raw SDK client with a static token (what the test reads ARM with; its requests are in the log as principal `token-…`). */
  client: PostgreSQLManagementFlexibleServerClient;
  settings: ControllerSettings;
  /** Object id of the registered service principal (the operator's principal in the request log). */
  spObjectId: string;
  raw(method: string, urlPath: string, body?: unknown): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
}

export async function startAzureHarness(label: string, lro: Partial<LroSettings> = { defaultDurationMs: 300, retryAfterSeconds: 0 }): Promise<AzureHarness> {
  const dir = path.join(repoRoot, '.local', 'test-tdb-azure', `${label}-${process.pid}-${Date.now().toString(36)}`);
  const ca = await ensureCertificateAuthority(path.join(dir, 'ca'));
  const emu = await startArmEmulator({ stateDir: path.join(dir, 'arm'), caCertFile: ca.certFile, caKeyFile: path.join(dir, 'ca', 'ca.key'), lro });
  const caPem = fs.readFileSync(emu.caFile, 'utf8');
  const control = new EmulatorControl(emu.controlEndpoint, emu.caFile);
  const sp = await control.registerServicePrincipal({ tenantId: TENANT, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, displayName: 'tenantdb-operator-test' });
  const raw = (method: string, urlPath: string, body?: unknown) =>
    new Promise<{ status: number; body: any }>((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = https.request(
        new URL(emu.endpoint + urlPath),
        { method, ca: caPem, headers: { authorization: 'Bearer test-reader', ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) } },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  const rg = await raw('PUT', `/subscriptions/${SUB}/resourcegroups/${RG}?api-version=2021-04-01`, { location: 'eastus' });
  if (rg.status >= 300) throw new Error(`resource group: ${rg.status} ${JSON.stringify(rg.body)}`);
  const { postgres } = createAzureClients({
    subscriptionId: SUB,
    armEndpoint: emu.endpoint,
    credential: staticTokenCredential('test-reader', { armEndpoint: emu.endpoint }),
    caCertPem: caPem,
    retry: { maxRetries: 2, retryDelayInMs: 20, maxRetryDelayInMs: 200 },
  });
  clearAzureClientsCache();
  const settings: ControllerSettings = {
    azure: {
      cloud: 'AzurePublicCloud',
      armEndpoint: emu.endpoint,
      authorityHost: emu.authorityHost,
      caFile: emu.caFile,
      staticToken: 'operator-static-token',
      // These tests are about provisioning, not the scope policy (test/trust/azure-scope.test.ts): every
      // namespace may use every scope of the private emulator, and adopt there.
      scopePolicy: { rules: [{ namespaceSelector: {}, subscriptions: ['*'], resourceGroups: ['*'], allowAdoption: true }] },
    },
    postgres: { caFile: emu.caFile, hostsFile: emu.hostsFile },
  };
  return {
    emu,
    control,
    caPem,
    dir,
    client: postgres,
    settings,
    spObjectId: sp.objectId,
    raw,
    async stop() {
      await emu.stop();
      if (process.env.TENANTDB_KEEP_TEST_STATE !== '1') fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The TenantDatabase controller in-process. `parts: 'server'` runs the Azure server part alone (these
 * tests are about the server; the database part has its own tests), 'all' the whole chain.
 */
export async function startOperatorInProcess(h: AzureHarness, ns: string, opts: { syncPeriodMs?: number; parts?: 'server' | 'all'; migrations?: boolean; backups?: boolean } = {}): Promise<Manager> {
  const mgr = new Manager({
    kubeConfig: kubeConfig(),
    logger: testLogger(),
    namespaces: [ns],
    metricsBindAddress: '0',
    healthProbeBindAddress: '0',
    maxConcurrentReconciles: 4,
    gracefulShutdownTimeoutMs: 5_000,
    ...(opts.syncPeriodMs ? { syncPeriodMs: opts.syncPeriodMs } : {}),
  });
  registerTenantDatabaseController(mgr, h.settings, opts.parts === 'all' ? defaultParts() : { ...defaultParts(), inside: [] });
  if (opts.migrations) registerMigrationController(mgr, h.settings);
  if (opts.backups) registerBackupPolicyController(mgr, h.settings);
  await mgr.start();
  return mgr;
}

/** A credentials Secret for the registered service principal (keys as credentialFromSecretData expects). */
export function credentialsSecret(ns: string, name: string, secret = CLIENT_SECRET) {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: ns },
    stringData: { tenantId: TENANT, clientId: CLIENT_ID, clientSecret: secret },
  };
}

/** A small TenantDatabase on Azure. */
export function azureTenantDatabase(ns: string, name: string, server: string, azure: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: 'tenantdb.io/v1alpha1',
    kind: 'TenantDatabase',
    metadata: { name, namespace: ns, ...((extra.metadata as object) ?? {}) },
    spec: {
      server: {
        azure: {
          subscriptionId: SUB,
          resourceGroup: RG,
          name: server,
          location: 'eastus',
          version: '17',
          sku: { name: 'Standard_D2ds_v5', tier: 'GeneralPurpose' },
          administratorLogin: 'tdbadmin',
          administratorPasswordSecretRef: { name: `${name}-admin`, key: 'password' },
          credentialsSecretRef: { name: 'azure-creds' },
          ...azure,
        },
      },
      database: { name: 'app' },
      roles: { owner: 'app_owner', application: 'app_user' },
      ...((extra.spec as object) ?? {}),
    },
  };
}

export const serverPath = (name: string) => `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.DBforPostgreSQL/flexibleServers/${name}`;
