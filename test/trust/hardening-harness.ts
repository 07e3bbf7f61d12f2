// Set-up shared by the hardening attack tests (TLS floor, bounds, secret leaks): the TenantDatabase
// controller in-process against the real apiserver and the environment's PostgreSQL, with controller
// settings a test chooses (the installer's TLS floor, an extra CA) and the operator's pino output captured
// so a test can grep it.
import net from 'node:net';
import { Writable } from 'node:stream';
import { registerTenantDatabaseController } from '../../controllers/tenantdatabase/index.js';
import { closeAllPostgresConnections } from '../../src/postgres/connections.js';
import { generatePassword } from '../../src/postgres/database/scram.js';
import { createLogger } from '../../src/runtime/logging.js';
import { Manager } from '../../src/runtime/manager.js';
import { DEFAULT_CONTROLLER_SETTINGS, type ControllerSettings, type PostgresSettings } from '../../src/settings.js';
import { createTestNamespace, kubeConfig, testEnv } from '../../dev/env/testenv.js';
import { installCrds, run } from '../runtime/helpers.js';
import { caPem, createAdminRole, uniq } from '../postgres/helpers.js';
import { applyJson } from '../tenantdatabase/db-harness.js';

/** Everything the operator logged, as pino wrote it (JSON lines). */
export class CapturedLog extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    this.text += chunk.toString('utf8');
    done();
  }
}

export interface HardeningHarness {
  ns: string;
  mgr: Manager;
  admin: { user: string; password: string };
  log: CapturedLog;
  stop(): Promise<void>;
}

export async function startHardeningHarness(prefix: string, postgres: Partial<PostgresSettings> = {}, register: (mgr: Manager, s: ControllerSettings) => void = registerTenantDatabaseController): Promise<HardeningHarness> {
  await installCrds();
  const ns = await createTestNamespace(prefix);
  const admin = { user: uniq('tdbadm'), password: generatePassword() };
  await createAdminRole(admin.user, admin.password);
  await applyJson({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'pg-admin', namespace: ns }, stringData: { username: admin.user, password: admin.password } });
  await applyJson({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'pg-ca', namespace: ns }, stringData: { 'ca.crt': caPem() } });
  const settings: ControllerSettings = { ...DEFAULT_CONTROLLER_SETTINGS, postgres: { ...DEFAULT_CONTROLLER_SETTINGS.postgres, ...postgres } };
  const log = new CapturedLog();
  const mgr = new Manager({
    kubeConfig: kubeConfig(),
    logger: createLogger({ level: 'debug', destination: log }),
    namespaces: [ns],
    metricsBindAddress: '0',
    healthProbeBindAddress: '0',
    maxConcurrentReconciles: 2,
    gracefulShutdownTimeoutMs: 5_000,
  });
  register(mgr, settings);
  await mgr.start();
  return {
    ns,
    mgr,
    admin,
    log,
    async stop() {
      await mgr.stop();
      await closeAllPostgresConnections();
      await run(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
    },
  };
}

/** A TCP relay to the environment's PostgreSQL that counts the connections made through it. */
export async function countingRelay(): Promise<{ port: number; connections: () => number; close: () => void }> {
  let n = 0;
  const server = net.createServer((client) => {
    n += 1;
    const upstream = net.connect(testEnv().postgres.port, '127.0.0.1');
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as net.AddressInfo).port, connections: () => n, close: () => server.close() };
}
