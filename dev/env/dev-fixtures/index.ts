// Every dev fixture, in the order `npm run dev` prepares them before it applies crds/examples/.
import type { DevFixtureContext } from './context.js';
import * as alerts from './alerts.js';
import * as azure from './azure.js';
import * as external from './external.js';
import * as migrations from './migrations.js';

export type { DevFixtureContext };

export const DEV_FIXTURES: Array<{ name: string; prepare: (ctx: DevFixtureContext) => Promise<void> }> = [
  { name: 'external server', prepare: external.prepare },
  { name: 'azure', prepare: azure.prepare },
  { name: 'migrations', prepare: migrations.prepare },
  { name: 'alerts', prepare: alerts.prepare },
];

export async function prepareFixtures(ctx: DevFixtureContext): Promise<void> {
  for (const f of DEV_FIXTURES) {
    ctx.say(`preparing: ${f.name}`);
    await f.prepare(ctx);
  }
}
