// Builds and starts the ARM emulator in this process: core (routing, LROs, throttling, faults, request log,
// control API), Microsoft.Resources/resourceGroups, Microsoft.DBforPostgreSQL/flexibleServers and
// Microsoft.Insights. `main.ts` wraps it as a standalone process for the local environment.
import fs from 'node:fs';
import path from 'node:path';
import { issueCertificate, loadCertificateAuthority } from '../env/pki.js';
import type { EmulatorContext } from './framework/context.js';
import { armErrors } from './framework/errors.js';
import { Faults } from './framework/faults.js';
import { LroManager, type LroSettings } from './framework/lro.js';
import { Persistence } from './framework/persistence.js';
import { registerPolling } from './framework/polling.js';
import { RequestLog } from './framework/request-log.js';
import { Router } from './framework/router.js';
import { ControlRoutes, listenHttps } from './framework/server.js';
import { ResourceStore } from './framework/store.js';
import { SwaggerSpecs } from './framework/swagger.js';
import { Throttler, type ThrottleSettings } from './framework/throttle.js';
import { registerControlApi } from './control-api.js';
import { registerResourceGroups, resourceGroupId } from './resources/resource-groups.js';
import { registerPostgres } from './postgresql/index.js';
import { registerInsights } from './insights/index.js';
import { registerEntra, type EntraEmulator } from './entra/index.js';

export interface ArmEmulatorOptions {
  /** Folder for state: PostgreSQL data dirs, hosts.json, the serving certificate. */
  stateDir: string;
  caCertFile: string;
  caKeyFile: string;
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  lro?: Partial<LroSettings>;
  throttling?: Partial<ThrottleSettings>;
  /** Keep resources (and restart their PostgreSQL servers) across emulator restarts via <stateDir>/state.json. */
  persist?: boolean;
  /**
   * false: Flexible Servers get no PostgreSQL instance (ARM behaviour only), for fleet benchmarks that
   * would not fit real instances on the machine. Default true.
   */
  postgresInstances?: boolean;
}

export interface ArmEmulator {
  /** `https://127.0.0.1:<port>`: the ARM endpoint (SDK `endpoint` / `$host`). */
  endpoint: string;
  /** `https://127.0.0.1:<port>/_emulator`: base of the control API. */
  controlEndpoint: string;
  caFile: string;
  /** `<stateDir>/hosts.json`: FQDN → { host, port } of every emulated PostgreSQL server. */
  hostsFile: string;
  /** Microsoft Entra authority host (same origin as `endpoint`): `authorityHost` for @azure/identity. */
  authorityHost: string;
  ctx: EmulatorContext;
  entra: EntraEmulator;
  /** Stops the HTTPS server and every PostgreSQL instance the emulator started. */
  stop(): Promise<void>;
}

export async function startArmEmulator(opts: ArmEmulatorOptions): Promise<ArmEmulator> {
  const stateDir = path.resolve(opts.stateDir);
  fs.mkdirSync(stateDir, { recursive: true });
  const host = opts.host ?? '127.0.0.1';
  const ca = await loadCertificateAuthority(fs.readFileSync(opts.caCertFile, 'utf8'), fs.readFileSync(opts.caKeyFile, 'utf8'));
  const faults = new Faults();
  const store = new ResourceStore();
  const rgHooks: Array<(sub: string, rg: string) => Promise<void>> = [];
  const shutdownHooks: Array<() => Promise<void>> = [];
  const control = new ControlRoutes();
  const ctx: EmulatorContext = {
    router: new Router(),
    store,
    lro: new LroManager(faults),
    specs: new SwaggerSpecs(),
    faults,
    throttler: new Throttler(),
    requestLog: new RequestLog(),
    stateDir,
    ca,
    caFile: path.resolve(opts.caCertFile),
    requireResourceGroup(subscriptionId, resourceGroupName) {
      const rg = store.get(resourceGroupId(subscriptionId, resourceGroupName));
      if (!rg) throw armErrors.resourceGroupNotFound(resourceGroupName);
      return rg;
    },
    addControlRoute: (method, p, handler) => control.add(method, p, handler),
    onResourceGroupDelete: (fn) => rgHooks.push(fn),
    onShutdown: (fn) => shutdownHooks.push(fn),
    persistence: new Persistence(opts.persist ? path.join(stateDir, 'state.json') : undefined, store),
  };
  ctx.lro.onSettled = () => ctx.persistence.changed();
  if (opts.lro) ctx.lro.configure(opts.lro);
  if (opts.throttling) ctx.throttler.configure(opts.throttling);

  registerPolling(ctx);
  registerResourceGroups(ctx, rgHooks);
  registerControlApi(ctx);
  const entra = registerEntra(ctx);
  await registerPostgres(ctx, { instances: opts.postgresInstances ?? true, entra });
  registerInsights(ctx);

  let front: Awaited<ReturnType<typeof listenHttps>>;
  try {
    // Restored servers are started here, so a failure from now on must stop them again.
    await ctx.persistence.load();
    const serving = await issueCertificate(ca, {
      commonName: 'arm-emulator',
      dnsNames: ['localhost', 'management.azure.localhost'],
      ipAddresses: [...new Set(['127.0.0.1', host])],
      usage: 'server',
    });
    front = await listenHttps(ctx, control, serving, host, opts.port ?? 0, entra);
  } catch (err) {
    for (const fn of shutdownHooks.reverse()) await fn().catch(() => {});
    throw err;
  }
  const endpoint = `https://${host}:${front.port}`;
  // The issuer of the tokens it signs, before any client asked (database logins check it).
  entra.issuerBases.add(endpoint);
  let stopped: Promise<void> | undefined;
  return {
    endpoint,
    controlEndpoint: `${endpoint}/_emulator`,
    caFile: ctx.caFile,
    hostsFile: path.join(stateDir, 'hosts.json'),
    authorityHost: endpoint,
    ctx,
    entra,
    stop() {
      stopped ??= (async () => {
        await new Promise<void>((resolve) => {
          front.server.close(() => resolve());
          front.server.closeAllConnections();
        });
        await ctx.lro.drain();
        ctx.persistence.saveNow();
        for (const fn of shutdownHooks.reverse()) await fn();
      })();
      return stopped;
    },
  };
}
