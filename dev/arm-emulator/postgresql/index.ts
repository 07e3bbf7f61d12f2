// Registers Microsoft.DBforPostgreSQL/flexibleServers (2025-08-01) with the emulator core.
import type { EmulatorContext } from '../framework/context.js';
import { registerServerChildren } from './children.js';
import type { EntraEmulator } from '../entra/index.js';
import { EntraDatabaseAuth } from './entra-auth.js';
import { InstanceManager } from './instances.js';
import { PostgresProviderState, props, registerPostgresPersistence } from './model.js';
import { registerServers } from './servers.js';
import { archiveUpToNow } from './wal-archive.js';
import { registerVirtualEndpoints } from './virtual-endpoints.js';

export async function registerPostgres(ctx: EmulatorContext, opts: { instances?: boolean; entra?: EntraEmulator } = {}): Promise<PostgresProviderState> {
  const instances = new InstanceManager(ctx.stateDir, ctx.ca, ctx.caFile);
  const state = new PostgresProviderState(ctx, instances);
  state.backed = opts.instances ?? true;
  if (opts.entra) {
    // Token logins of servers with Microsoft Entra authentication (entra-auth.ts): listening before any
    // instance starts, since their pg_hba.conf names its port.
    const entraAuth = new EntraDatabaseAuth(state, opts.entra);
    await entraAuth.login.start();
    instances.hbaFor = (key, binDir) => entraAuth.hba(key, binDir);
    ctx.addControlRoute('GET', '/_emulator/entra/logins', () => entraAuth.login.stats);
    ctx.onShutdown(() => entraAuth.login.stop());
  }
  ctx.addControlRoute('GET', '/_emulator/backing', () => ({ postgresInstances: state.backed }));
  registerServers(state);
  registerServerChildren(state);
  registerVirtualEndpoints(state);
  ctx.addControlRoute('GET', '/_emulator/hosts', () => instances.hosts());
  // Test hook: a replica that stops applying WAL (its walreceiver keeps streaming), as a replica busy with
  // conflicting queries or a paused replay would; the primary's pg_stat_replication then shows replay lag.
  ctx.addControlRoute('POST', '/_emulator/replicas/([^/]+)/replay/(pause|resume)', async (_b, _q, m) => {
    const name = decodeURIComponent(m[1]!).toLowerCase();
    const rt = [...state.runtimes.values()].find((r) => r.name.toLowerCase() === name);
    const rec = rt?.instance;
    if (!rec?.replicaOf) throw new Error(`${name} is not a running read replica`);
    return instances.withSuperClient(rec, 'postgres', async (c) => {
      await c.query(m[2] === 'pause' ? 'SELECT pg_wal_replay_pause()' : 'SELECT pg_wal_replay_resume()');
      const r = await c.query<{ s: string }>('SELECT pg_get_wal_replay_pause_state() AS s');
      return { paused: r.rows[0]!.s !== 'not paused' };
    });
  });
  // Test hook: a replica whose walreceiver stops (its primary_conninfo emptied and reloaded, so it no longer
  // connects; its slot on the primary stays and keeps WAL), and starts again with the conninfo it had.
  // A stop answers once the walreceiver is gone: the reload is a signal, and a write on the primary right
  // after an answer given before then could still reach the replica.
  const stoppedConninfo = new Map<string, string>();
  ctx.addControlRoute('POST', '/_emulator/replicas/([^/]+)/streaming/(stop|start)', async (_b, _q, m) => {
    const name = decodeURIComponent(m[1]!).toLowerCase();
    const rec = [...state.runtimes.values()].find((r) => r.name.toLowerCase() === name)?.instance;
    if (!rec?.replicaOf) throw new Error(`${name} is not a running read replica`);
    const settings = (rec.server.opts.settings ??= {});
    if (m[2] === 'stop' && settings.primary_conninfo) {
      stoppedConninfo.set(rec.key, settings.primary_conninfo);
      delete settings.primary_conninfo;
    } else if (m[2] === 'start' && stoppedConninfo.has(rec.key)) {
      settings.primary_conninfo = stoppedConninfo.get(rec.key)!;
      stoppedConninfo.delete(rec.key);
    }
    rec.server.reload();
    const streaming = settings.primary_conninfo !== undefined;
    if (!streaming) await untilWalReceiverGone(() => instances.withSuperClient(rec, 'postgres', async (c) => Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_wal_receiver')).rows[0]!.n)));
    return { streaming };
  });
  // Test hook: the archiver ships the current segment now (what archive_timeout does every few minutes).
  ctx.addControlRoute('POST', '/_emulator/servers/([^/]+)/wal/archive', async (_b, _q, m) => {
    const name = decodeURIComponent(m[1]!).toLowerCase();
    const rec = [...state.runtimes.values()].find((r) => r.name.toLowerCase() === name)?.instance;
    if (!rec || rec.replicaOf) throw new Error(`${name} is not a running primary`);
    return { segment: await instances.withSuperClient(rec, 'postgres', (c) => archiveUpToNow(c)) };
  });
  ctx.onResourceGroupDelete(async (sub, rg) => {
    const prefix = `/subscriptions/${sub}/resourcegroups/${rg}/`.toLowerCase();
    for (const rt of [...state.runtimes.values()]) {
      if (!rt.id.toLowerCase().startsWith(prefix)) continue;
      const doc = ctx.store.get(rt.id);
      if (doc) props(doc).state = 'Dropping';
      await instances.destroy(rt.id, rt.dir);
      state.runtimes.delete(rt.id.toLowerCase());
    }
  });
  registerPostgresPersistence(state);
  ctx.onShutdown(async () => {
    await state.poolers.stopAll();
    await instances.stopAll();
  });
  return state;
}

/** Polls the replica's walreceiver count until it is 0 (at most 10 s). */
async function untilWalReceiverGone(count: () => Promise<number>): Promise<void> {
  for (const deadline = Date.now() + 10_000; (await count()) > 0; ) {
    if (Date.now() > deadline) throw new Error('the walreceiver did not stop within 10 s');
    await new Promise((r) => setTimeout(r, 50));
  }
}
