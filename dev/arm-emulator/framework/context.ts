// What the emulator core hands to each resource provider's `register*(ctx)` function.
import type { CertificateAuthority } from '../../env/pki.js';
import type { Faults } from './faults.js';
import type { Persistence } from './persistence.js';
import type { LroManager } from './lro.js';
import type { RequestLog } from './request-log.js';
import type { Router } from './router.js';
import type { ResourceStore, Json } from './store.js';
import type { SwaggerSpecs } from './swagger.js';
import type { Throttler } from './throttle.js';

/** A control-API handler: parsed JSON body in, JSON out (status 200 unless it throws). */
export type ControlHandler = (body: unknown, query: URLSearchParams, match: RegExpExecArray) => Promise<unknown> | unknown;

export interface EmulatorContext {
  router: Router;
  store: ResourceStore;
  lro: LroManager;
  specs: SwaggerSpecs;
  faults: Faults;
  throttler: Throttler;
  requestLog: RequestLog;
  /** Folder for the emulator's files (PostgreSQL data dirs, hosts.json). */
  stateDir: string;
  /** The harness CA (can issue serving certificates) and the file clients trust. */
  ca: CertificateAuthority;
  caFile: string;
  /** The stored resource group, or ARM's 404 ResourceGroupNotFound. */
  requireResourceGroup(subscriptionId: string, resourceGroupName: string): Json;
  /** Adds a route to the control API: `path` is a regex source matched against the full path. */
  addControlRoute(method: string, path: string, handler: ControlHandler): void;
  /** Runs before a resource group's resources are dropped from the store (to stop what backs them). */
  onResourceGroupDelete(fn: (subscriptionId: string, resourceGroupName: string) => Promise<void>): void;
  /** Saves state to `<stateDir>/state.json` when enabled; `persistence.changed()` after out-of-band changes. */
  persistence: Persistence;
  /** Runs when the emulator stops (after in-flight operations finished). */
  onShutdown(fn: () => Promise<void>): void;
}
