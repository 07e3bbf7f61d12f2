// Dev fixture for crds/examples/alertruleset.yaml: the `alert-webhooks` Secret its webhook receiver reads
// (key `pagerduty`), as a user would create it with their real integration URL. The URI carries a
// token-like part on purpose: it must reach only the action group in ARM, never status, Events or logs.
// The Log Analytics workspace the example's diagnostic setting names needs nothing here: the emulator
// stores the workspace id as Azure Monitor does without checking that the workspace exists.
import { randomBytes } from 'node:crypto';
import type { DevFixtureContext } from './context.js';

export const WEBHOOK_SECRET = 'alert-webhooks';

export async function prepare(ctx: DevFixtureContext): Promise<void> {
  // Kept when it exists (a developer may have put a real test endpoint in it).
  const existing = await ctx.kubectl(['get', 'secret', WEBHOOK_SECRET, '-n', ctx.namespace, '--ignore-not-found', '-o', 'name']);
  if (existing.trim()) return;
  const token = randomBytes(12).toString('hex');
  await ctx.apply({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: WEBHOOK_SECRET, namespace: ctx.namespace },
    type: 'Opaque',
    stringData: { pagerduty: `https://events.pagerduty.example/integration/${token}/enqueue` },
  });
  ctx.say(`Secret ${WEBHOOK_SECRET} (webhook URI for the alert example) created`);
}
