// Set-up shared by the multi-team trust tests: the private ARM emulator of the TenantDatabase-on-Azure
// tests (its own Entra and service principal), namespaces for the teams, and one in-process Manager
// watching them all with the controllers under test, configured as `npm run operator` configures them.
import { Manager } from '../../src/runtime/manager.js';
import type { ControllerSettings } from '../../src/settings.js';
import { clearAzureClientsCache } from '../../src/azure/provider.js';
import { kubeConfig } from '../../dev/env/testenv.js';
import { getJson, run, testLogger } from '../runtime/helpers.js';
import type { AzureHarness } from '../tenantdatabase/azure-harness.js';

export interface Cond {
  type: string;
  status: string;
  reason: string;
  message: string;
  observedGeneration?: number;
}
export interface Obj {
  metadata: { name: string; generation: number; resourceVersion?: string };
  spec?: Record<string, any>;
  status?: Record<string, any> & { conditions?: Cond[]; observedGeneration?: number };
}

export const cond = (o: Obj | undefined, type: string): Cond | undefined => o?.status?.conditions?.find((c) => c.type === type);
export const getObj = (resource: string, ns: string, name: string) => getJson<Obj>(['get', resource, name, '-n', ns]);
export const applyJson = (obj: unknown) => run(['apply', '-f', '-'], JSON.stringify(obj));

/** One Manager over `namespaces` running what `register` adds. */
export async function startManager(namespaces: string[], settings: ControllerSettings, register: (mgr: Manager, settings: ControllerSettings) => void): Promise<Manager> {
  clearAzureClientsCache();
  const mgr = new Manager({
    kubeConfig: kubeConfig(),
    logger: testLogger(),
    namespaces,
    metricsBindAddress: '0',
    healthProbeBindAddress: '0',
    maxConcurrentReconciles: 4,
    gracefulShutdownTimeoutMs: 5_000,
    syncPeriodMs: 3_000,
  });
  register(mgr, settings);
  await mgr.start();
  return mgr;
}

/** Events (events.k8s.io) about object `name` of `kind` in `ns`. */
export async function eventsOf(ns: string, kind: string, name: string): Promise<Array<{ reason: string; note?: string; type: string }>> {
  const out = await run(['get', 'events.events.k8s.io', '-n', ns, '-o', 'json', '--field-selector', `regarding.name=${name}`]);
  const items = (JSON.parse(out) as { items: Array<{ reason: string; note?: string; type: string; regarding: { kind: string } }> }).items;
  return items.filter((e) => e.regarding.kind === kind);
}

/** ARM writes (PUT/PATCH/POST/DELETE) the emulator answered since `since`, as "METHOD path". */
export async function armWritesSince(h: AzureHarness, since: string): Promise<string[]> {
  const snap = await h.control.requests(since);
  return snap.entries.filter((e) => e.method !== 'GET' && e.method !== 'HEAD' && e.path.toLowerCase().startsWith('/subscriptions/')).map((e) => `${e.method} ${e.path}`);
}
