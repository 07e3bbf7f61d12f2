// The health part on an external server (the environment's PostgreSQL, administrator with CREATEDB and
// CREATEROLE but neither superuser nor pg_monitor): what PostgreSQL alone tells is reported (storage used,
// connections, transactions, wraparound), the Azure figures are left out, and what the administrator
// cannot see (replication) or the database lacks (pg_stat_statements) is said in status, not guessed.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { eventually, run } from '../runtime/helpers.js';
import { applyJson, externalTd, getTd, startDbHarness, type DbHarness } from './db-harness.js';

let h: DbHarness;
const name = `hx-${Date.now().toString(36)}`;

beforeAll(async () => {
  h = await startDbHarness('health-ext');
});

afterAll(async () => {
  await h?.stop();
});

test('external server: PostgreSQL figures only; replication and statements unavailable with the reason', async () => {
  const td = externalTd(h.ns, name);
  await applyJson({ ...td, spec: { ...td.spec, health: { periodSeconds: 30 } } });
  const o = await eventually(
    'Healthy reported',
    async () => {
      const x = (await getTd(h.ns, name)) as (Awaited<ReturnType<typeof getTd>> & { status?: { health?: Record<string, any> } }) | undefined;
      return x?.status?.conditions?.some((c) => c.type === 'Healthy') && x.status.health ? x : undefined;
    },
    120_000,
    300,
  );
  const hs = o.status!.health!;
  expect(o.status!.conditions!.find((c) => c.type === 'Healthy')).toMatchObject({ status: 'True', reason: 'Healthy' });
  expect(o.status!.conditions!.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True' });
  expect(hs.storage.usedMiB).toBeGreaterThan(0);
  expect(hs.storage.provisionedMiB).toBeUndefined();
  expect(hs.backups).toBeUndefined();
  expect(hs.connections.max).toBeGreaterThan(0);
  expect(hs.wraparoundHeadroomXids).toBeGreaterThan(1_000_000_000);
  expect(hs.replicationUnavailable).toMatch(/not a member of pg_read_all_stats/);
  expect(hs.statementsUnavailable).toMatch(/pg_stat_statements is not installed in database .*spec.database.extensions/);
  expect(typeof hs.checkedAt).toBe('string');
}, 180_000);

test('health taken out of the spec: status.health and the Healthy condition go, Ready stays', async () => {
  await run(['patch', 'tenantdatabase', name, '-n', h.ns, '--type', 'json', '-p', JSON.stringify([{ op: 'remove', path: '/spec/health' }])]);
  const o = await eventually(
    'health report removed',
    async () => {
      const x = (await getTd(h.ns, name)) as (Awaited<ReturnType<typeof getTd>> & { status?: { health?: unknown } }) | undefined;
      return x && x.status?.health === undefined && !x.status?.conditions?.some((c) => c.type === 'Healthy') ? x : undefined;
    },
    30_000,
    300,
  );
  expect(o.status!.conditions!.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True' });
});
