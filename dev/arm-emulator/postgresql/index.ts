// Registers Microsoft.DBforPostgreSQL/flexibleServers (2025-08-01) with the emulator core.
import type { EmulatorContext } from '../framework/context.js';
import { registerServerChildren } from './children.js';
import { InstanceManager } from './instances.js';
import { PostgresProviderState, props, registerPostgresPersistence } from './model.js';
import { registerServers } from './servers.js';

export async function registerPostgres(ctx: EmulatorContext, opts: { instances?: boolean } = {}): Promise<PostgresProviderState> {
  const instances = new InstanceManager(ctx.stateDir, ctx.ca, ctx.caFile);
  const state = new PostgresProviderState(ctx, instances);
  state.backed = opts.instances ?? true;
  ctx.addControlRoute('GET', '/_emulator/backing', () => ({ postgresInstances: state.backed }));
  registerServers(state);
  registerServerChildren(state);
  ctx.addControlRoute('GET', '/_emulator/hosts', () => instances.hosts());
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
