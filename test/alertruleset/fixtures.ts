// Shared set-up of the BackupPolicy and AlertRuleSet controller tests: a private in-process ARM emulator
// with a real server created through the SDK, a TenantDatabase pointing at it whose status the test
// writes itself (as the TenantDatabase controller would: azureResourceId, serverFQDN, serverState Ready,
// ServerReady=True for its generation; the server carries the owner tag naming it),
// and an in-process Manager running only the controller under test. Logs go to a buffer so a test can
// grep them.
import { Writable } from 'node:stream';
import type { Manager as ManagerT } from '../../src/runtime/manager.js';
import { Manager } from '../../src/runtime/manager.js';
import { createLogger } from '../../src/runtime/logging.js';
import { clearAzureClientsCache } from '../../src/azure/provider.js';
import type { ControllerSettings } from '../../src/settings.js';
import { createTestNamespace, kubeConfig } from '../../dev/env/testenv.js';
import { installCrds, run } from '../runtime/helpers.js';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../dev/env/paths.js';
import { ensureCertificateAuthority } from '../../dev/env/pki.js';
import { SUBSCRIPTION, burstableServer, clientsFor, createResourceGroup, type PrivateArm } from '../azure/fixtures.js';
import { startArmEmulator, type ArmEmulator, type ArmEmulatorOptions } from '../../dev/arm-emulator/emulator.js';
import type { AzureClients } from '../../src/azure/clients.js';

export { SUBSCRIPTION };

export interface ControllerHarness {
  ns: string;
  arm: PrivateArm & { emu: ArmEmulator };
  clients: AzureClients;
  settings: ControllerSettings;
  logs: string[];
  mgr?: ManagerT;
  startManager(register: (mgr: ManagerT, settings: ControllerSettings) => void): Promise<ManagerT>;
  stopManager(): Promise<void>;
  stop(): Promise<void>;
}

/** An emulator inside the test process, with short operations (Retry-After 0) and any extra options. */
export async function startPrivateEmulator(label: string, extra: Partial<ArmEmulatorOptions> = {}): Promise<PrivateArm & { emu: ArmEmulator }> {
  const dir = path.join(repoRoot, '.local', 'test-backup', `${label}-${process.pid}-${Date.now().toString(36)}`);
  const ca = await ensureCertificateAuthority(path.join(dir, 'ca'));
  const emu = await startArmEmulator({ stateDir: path.join(dir, 'arm'), caCertFile: ca.certFile, caKeyFile: path.join(dir, 'ca', 'ca.key'), lro: { defaultDurationMs: 100, retryAfterSeconds: 0 }, ...extra });
  return {
    endpoint: emu.endpoint,
    controlEndpoint: emu.controlEndpoint,
    emu,
    caPem: fs.readFileSync(emu.caFile, 'utf8'),
    async stop() {
      await emu.stop();
      if (process.env.TENANTDB_KEEP_TEST_STATE !== '1') fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function startControllerHarness(label: string, armOptions: Partial<ArmEmulatorOptions> = {}): Promise<ControllerHarness> {
  await installCrds();
  const ns = await createTestNamespace(label);
  const arm = await startPrivateEmulator(label, armOptions);
  const clients = clientsFor(arm);
  const settings: ControllerSettings = {
    azure: {
      cloud: 'AzurePublicCloud',
      armEndpoint: arm.endpoint,
      authorityHost: undefined,
      caFile: arm.emu.caFile,
      staticToken: 'controller-test-token',
      // The installer's grant: the emulator is a sandbox, every namespace may use the operator's identity.
      scopePolicy: { rules: [{ namespaceSelector: {}, subscriptions: ['*'], resourceGroups: ['*'], allowAdoption: false }] },
    },
    postgres: { caFile: arm.emu.caFile, hostsFile: arm.emu.hostsFile },
  };
  const logs: string[] = [];
  const h: ControllerHarness = {
    ns,
    arm,
    clients,
    settings,
    logs,
    async startManager(register) {
      clearAzureClientsCache();
      const sink = new Writable({
        write(chunk: Buffer, _enc, cb) {
          logs.push(chunk.toString('utf8'));
          cb();
        },
      });
      const mgr = new Manager({
        kubeConfig: kubeConfig(),
        logger: createLogger({ level: 'debug', destination: sink }),
        namespaces: [ns],
        metricsBindAddress: '127.0.0.1:0',
        healthProbeBindAddress: '127.0.0.1:0',
        gracefulShutdownTimeoutMs: 5_000,
      });
      register(mgr, settings);
      await mgr.start();
      h.mgr = mgr;
      return mgr;
    },
    async stopManager() {
      await h.mgr?.stop();
      h.mgr = undefined;
    },
    async stop() {
      await h.stopManager();
      await run(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
      await arm.stop();
    },
  };
  return h;
}

/** A server in the emulator (real PostgreSQL) and a TenantDatabase on it with the status its controller would write. */
export async function serverAndDatabase(h: ControllerHarness, opts: { rg: string; server: string; td: string; password?: string; retentionDays?: number; geoRedundant?: boolean }): Promise<{ serverId: string }> {
  const password = opts.password ?? 'Controller-test-Pa55';
  await createResourceGroup(h.clients, opts.rg);
  const created = await h.clients.postgres.servers.beginCreateOrUpdateAndWait(
    opts.rg,
    opts.server,
    {
      ...burstableServer(password),
      backup: { backupRetentionDays: opts.retentionDays ?? 7, geoRedundantBackup: opts.geoRedundant ? 'Enabled' : 'Disabled' },
      // What the TenantDatabase controller puts on a server it creates: the owner tag the other controllers check.
      tags: { 'tenantdb-owner': `${h.ns}/${opts.td}`, 'tenantdb-origin': 'created' },
    },
    { updateIntervalInMs: 100 },
  );
  await run(['apply', '-n', h.ns, '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: `${opts.td}-admin` }, stringData: { password } }));
  const td = {
    apiVersion: 'tenantdb.io/v1alpha1',
    kind: 'TenantDatabase',
    metadata: { name: opts.td },
    spec: {
      server: {
        azure: {
          subscriptionId: SUBSCRIPTION,
          resourceGroup: opts.rg,
          name: opts.server,
          location: 'eastus',
          sku: { name: 'Standard_B1ms', tier: 'Burstable' },
          administratorLogin: 'tenantadmin',
          administratorPasswordSecretRef: { name: `${opts.td}-admin`, key: 'password' },
        },
      },
      database: { name: 'appdb' },
      roles: { owner: 'app_owner', application: 'app_user' },
    },
  };
  await run(['apply', '-n', h.ns, '-f', '-'], JSON.stringify(td));
  const generation = JSON.parse(await run(['get', 'tenantdatabases.tenantdb.io', opts.td, '-n', h.ns, '-o', 'json'])).metadata.generation as number;
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const status = {
    status: {
      serverName: opts.server,
      azureResourceId: created.id,
      serverFQDN: created.fullyQualifiedDomainName,
      serverState: 'Ready',
      observedGeneration: generation,
      conditions: [
        { type: 'Ready', status: 'True', reason: 'Ready', message: 'test', lastTransitionTime: now, observedGeneration: generation },
        { type: 'ServerReady', status: 'True', reason: 'ServerReady', message: 'test', lastTransitionTime: now, observedGeneration: generation },
      ],
    },
  };
  await run(['patch', 'tenantdatabases.tenantdb.io', opts.td, '-n', h.ns, '--subresource=status', '--type=merge', '-p', JSON.stringify(status)]);
  return { serverId: created.id! };
}
