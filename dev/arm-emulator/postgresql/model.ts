// Shared state of the Microsoft.DBforPostgreSQL provider: ids, the runtime record of each server (its
// PostgreSQL instance and server-parameter values) and helpers the route modules use.
import fs from 'node:fs';
import path from 'node:path';
import { ArmError, armErrors } from '../framework/errors.js';
import type { EmulatorContext } from '../framework/context.js';
import type { Json } from '../framework/store.js';
import { POSTGRES_SPEC_DIR } from '../framework/swagger.js';
import type { ArmRequest, SchemaRef } from '../framework/types.js';
import type { InstanceManager, InstanceRecord, PersistedInstance } from './instances.js';
import { SERVER_PARAMETERS } from './parameters.js';
import { Poolers } from './pgbouncer.js';

export const NAMESPACE = 'Microsoft.DBforPostgreSQL';
export const SERVER_TYPE = 'Microsoft.DBforPostgreSQL/flexibleServers';
export const API_VERSIONS = ['2025-08-01'];
export const FQDN_SUFFIX = 'postgres.database.azure.com';
export const SERVER_PATH = '/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.DBforPostgreSQL/flexibleServers/{serverName}';

export function spec(file: string, definition: string): SchemaRef {
  return { file: `${POSTGRES_SPEC_DIR}/${file}`, definition };
}

export function serverId(sub: string, rg: string, name: string): string {
  return `/subscriptions/${sub}/resourceGroups/${rg}/providers/${SERVER_TYPE}/${name}`;
}

export interface ServerRuntime {
  id: string;
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  fqdn: string;
  dir: string;
  createdAt: Date;
  instance: InstanceRecord | undefined;
  /** Current value of every server parameter (defaults until set). */
  params: Map<string, string>;
  /** Values of static parameters the running instance started with (pending restart when they differ). */
  startedWith: Map<string, string>;
  /** Parameters set by a user (source 'user-override'). */
  overridden: Set<string>;
  role: 'Primary' | 'AsyncReplica';
}

export class PostgresProviderState {
  readonly runtimes = new Map<string, ServerRuntime>();
  /**
   * False (the benchmark switch `instances: false`): servers get no PostgreSQL instance. Their ARM
   * lifecycle is unchanged (operations, states, children stored) but nothing listens on their FQDN, and
   * what needs the instance (databases, restart, stop/start, replicas, restores) answers 409 ServerIsNotReady.
   */
  backed = true;
  /** The servers' built-in PgBouncers (pgbouncer.ts). */
  readonly poolers = new Poolers();

  constructor(
    readonly ctx: EmulatorContext,
    readonly instances: InstanceManager,
  ) {}

  runtime(id: string): ServerRuntime | undefined {
    return this.runtimes.get(id.toLowerCase());
  }

  newRuntime(sub: string, rg: string, name: string, params?: Map<string, string>, overridden?: Set<string>): ServerRuntime {
    const id = serverId(sub, rg, name);
    const rt: ServerRuntime = {
      id,
      subscriptionId: sub,
      resourceGroup: rg,
      name,
      fqdn: `${name.toLowerCase()}.${FQDN_SUFFIX}`,
      dir: path.join(this.ctx.stateDir, 'servers', sub.toLowerCase(), rg.toLowerCase(), name.toLowerCase()),
      createdAt: new Date(),
      instance: undefined,
      params: new Map(params ?? SERVER_PARAMETERS.map((p) => [p.name, p.defaultValue])),
      startedWith: new Map(),
      overridden: new Set(overridden ?? []),
      role: 'Primary',
    };
    this.runtimes.set(id.toLowerCase(), rt);
    return rt;
  }

  /** PostgreSQL settings for the instance from the parameters that are real settings. */
  settingsFor(rt: ServerRuntime): Record<string, string> {
    const out: Record<string, string> = {};
    for (const p of SERVER_PARAMETERS) if (p.applied) out[p.name] = rt.params.get(p.name) ?? p.defaultValue;
    return out;
  }

  /** Rewrites the instance's managed config from the parameters and reloads it (dynamic ones apply now). */
  applySettings(rt: ServerRuntime): void {
    const inst = rt.instance;
    if (!inst) return;
    const settings = inst.server.opts.settings ?? {};
    Object.assign(settings, this.settingsFor(rt));
    inst.server.opts.settings = settings;
    inst.server.reload();
  }

  /** Runs the server's PgBouncer while it runs with pgbouncer.enabled, with its pgbouncer.* parameters. */
  async syncPooler(rt: ServerRuntime, serverRunning: boolean): Promise<void> {
    await this.poolers.sync(rt.id, rt.dir, rt.instance, rt.params, serverRunning);
  }

  markStarted(rt: ServerRuntime): void {
    rt.startedWith = new Map(rt.params);
  }

  /** The request's server document, or ARM's 404 (resource group first, then the server). */
  serverDoc(req: ArmRequest): { doc: Json; rt: ServerRuntime } {
    const { subscriptionId, resourceGroupName, serverName } = req.params as Record<string, string>;
    this.ctx.requireResourceGroup(subscriptionId!, resourceGroupName!);
    const id = serverId(subscriptionId!, resourceGroupName!, serverName!);
    const doc = this.ctx.store.get(id);
    const rt = this.runtime(id);
    if (!doc || !rt) throw armErrors.resourceNotFound(SERVER_TYPE, serverName!, resourceGroupName!);
    return { doc, rt };
  }

  /** 409 while another operation runs on the server, as Azure answers concurrent writes. */
  assertNotBusy(rt: ServerRuntime): void {
    if (this.ctx.lro.busy(rt.id)) {
      throw new ArmError(409, 'ServerIsBusy', `Cannot complete operation while server '${rt.name}' is busy processing another operation. Try again later.`);
    }
  }

  /** Operations on a server's data need it running. */
  requireReady(doc: Json, rt: ServerRuntime): InstanceRecord {
    const state = (doc.properties as Json | undefined)?.state;
    if (state !== 'Ready' || !rt.instance) {
      throw new ArmError(409, 'ServerIsNotReady', `Operation cannot be performed on server '${rt.name}' in its current state. Current Server State = ${String(state)}.`);
    }
    return rt.instance;
  }

  startOp(req: ArmRequest, rt: ServerRuntime, doc: Json, action: string, run: () => Promise<void> | void, onFailed?: () => Promise<void> | void) {
    return this.ctx.lro.start({
      req,
      namespace: NAMESPACE,
      location: String(doc.location ?? 'eastus'),
      subscriptionId: rt.subscriptionId,
      resourceId: rt.id,
      lockKey: rt.id,
      action,
      run,
      ...(onFailed ? { onFailed: async () => onFailed() } : {}),
    });
  }
}

interface PersistedServer {
  id: string;
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  fqdn: string;
  dir: string;
  createdAt: string;
  params: Array<[string, string]>;
  startedWith: Array<[string, string]>;
  overridden: string[];
  role: ServerRuntime['role'];
  instance?: PersistedInstance;
  /** An HA server's standby (ha.ts). */
  standby?: PersistedInstance;
}

/** Saves the servers' runtime records; on load brings their PostgreSQL back (started unless Stopped). */
export function registerPostgresPersistence(state: PostgresProviderState): void {
  const { ctx } = state;
  ctx.persistence.register({
    name: 'postgresql',
    save: (): PersistedServer[] =>
      [...state.runtimes.values()].map((rt) => ({
        id: rt.id,
        subscriptionId: rt.subscriptionId,
        resourceGroup: rt.resourceGroup,
        name: rt.name,
        fqdn: rt.fqdn,
        dir: rt.dir,
        createdAt: rt.createdAt.toISOString(),
        params: [...rt.params],
        startedWith: [...rt.startedWith],
        overridden: [...rt.overridden],
        role: rt.role,
        ...(rt.instance ? { instance: state.instances.describe(rt.instance) } : {}),
        ...(state.instances.get(`${rt.id}#standby`) ? { standby: state.instances.describe(state.instances.get(`${rt.id}#standby`)!) } : {}),
      })),
    load: async (data) => {
      // Primaries first, so replicas find their source running.
      const saved = (data as PersistedServer[]).sort((a, b) => (a.role === b.role ? 0 : a.role === 'Primary' ? -1 : 1));
      for (const s of saved) {
        const doc = ctx.store.get(s.id);
        const st = doc ? String(props(doc).state) : undefined;
        if (!doc || !s.instance || st === 'Provisioning' || st === 'Dropping') {
          // An operation that never finished: the resource is dropped, as after a failed create.
          ctx.store.deleteTree(s.id);
          fs.rmSync(s.dir, { recursive: true, force: true });
          continue;
        }
        const rt: ServerRuntime = {
          id: s.id,
          subscriptionId: s.subscriptionId,
          resourceGroup: s.resourceGroup,
          name: s.name,
          fqdn: s.fqdn,
          dir: s.dir,
          createdAt: new Date(s.createdAt),
          instance: undefined,
          params: new Map(s.params),
          startedWith: new Map(s.startedWith),
          overridden: new Set(s.overridden),
          role: s.role,
        };
        state.runtimes.set(s.id.toLowerCase(), rt);
        const stopped = st === 'Stopped' || st === 'Stopping';
        try {
          rt.instance = await state.instances.adopt({ key: s.id, fqdn: s.fqdn, dir: s.dir, saved: s.instance, start: !stopped });
          if (s.standby) await state.instances.adopt({ key: `${s.id}#standby`, fqdn: s.fqdn, dir: s.dir, saved: s.standby, start: !stopped });
          if (!stopped) state.markStarted(rt);
          props(doc).state = stopped ? 'Stopped' : 'Ready';
          await state.syncPooler(rt, !stopped);
        } catch (err) {
          console.error(`arm-emulator: could not restart ${s.fqdn}: ${(err as Error).message}`);
          props(doc).state = 'Stopped';
        }
      }
    },
  });
}

export function props(doc: Json): Json {
  return (doc.properties ??= {}) as Json;
}
