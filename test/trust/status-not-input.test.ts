// Attacks (issue 16, point 7): status is output, never input. Someone who may write a TenantDatabase's
// status subresource (1) records an operation in flight whose poller URLs point at a host they run, and
// one of a kind the operator does not know: no request (and so no ARM token) reaches that host, the
// record is dropped with a Warning Event and the object converges again; (2) points status.serverFQDN
// of a Ready TenantDatabase at a host they run and triggers a Migration: the administrator password
// never reaches that host (nothing connects to it at all), the Migration runs on the real server; (3)
// names, in status.azure.appliedTags, a tag someone else put on the server: the tag stays (which spec
// tags the operator set is recorded on the server itself, tag tenantdb-tags).
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import path from 'node:path';
import { registerMigrationController } from '../../controllers/migration/index.js';
import { defaultParts, registerTenantDatabaseController } from '../../controllers/tenantdatabase/index.js';
import type { Manager } from '../../src/runtime/manager.js';
import { createTestNamespace } from '../../dev/env/testenv.js';
import { eventually, installCrds, run } from '../runtime/helpers.js';
import { azureTenantDatabase, credentialsSecret, RG, serverPath, startAzureHarness, SUB, type AzureHarness } from '../tenantdatabase/azure-harness.js';
import { applyJson, cond, eventsOf, getObj, startManager } from './harness.js';
import { hostileArm, hostilePostgres, hostsFileFor } from './listeners.js';

const SERVER = 'trust-status-pg';
const TD = 'shop';
const EVIL_FQDN = 'evil-host.postgres.database.azure.com';

let h: AzureHarness;
let ns: string;
let mgr: Manager | undefined;

const td = () => getObj('tenantdatabases.tenantdb.io', ns, TD);
const patchStatus = (status: unknown) => run(['patch', 'tenantdatabases.tenantdb.io', TD, '-n', ns, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })]);

async function converged(what: string): Promise<void> {
  await eventually(what, async () => {
    const o = await td();
    return cond(o, 'Ready')?.status === 'True' && o?.status?.observedGeneration === o?.metadata.generation && !o?.status?.azure?.operation;
  }, 120_000, 300);
}

beforeAll(async () => {
  await installCrds();
  h = await startAzureHarness('trust-status');
  ns = await createTestNamespace('trust-status');
  await applyJson(credentialsSecret(ns, 'azure-creds'));
  mgr = await startManager([ns], h.settings, (m, settings) => registerTenantDatabaseController(m, settings, defaultParts()));
  await applyJson(azureTenantDatabase(ns, TD, SERVER));
  await converged('TenantDatabase Ready');
}, 240_000);

afterAll(async () => {
  await mgr?.stop();
  if (ns) await run(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  await h?.stop();
});

test('a recorded operation pointing at another host, or of an unknown kind: never polled, dropped with a Warning Event, the object converges', async () => {
  const evil = await hostileArm(path.join(h.dir, 'ca'));
  try {
    const opPath = `/subscriptions/${SUB}/providers/Microsoft.DBforPostgreSQL/locations/eastus/azureAsyncOperation/0badc0de?api-version=2025-08-01`;
    const pollerState = JSON.stringify({
      state: { status: 'running', config: { metadata: { mode: 'OperationLocation' }, operationLocation: evil.origin + opPath, resourceLocation: evil.origin + serverPath(SERVER) } },
    });
    const records = [
      { kind: 'servers.update', target: SERVER, reason: /outside the ARM endpoint/ },
      { kind: 'servers.exfiltrate', target: SERVER, reason: /unknown kind "servers\.exfiltrate"/ },
    ];
    for (const r of records) {
      const before = (await eventsOf(ns, 'TenantDatabase', TD)).filter((e) => e.reason === 'OperationRecordRejected').length;
      await patchStatus({ azure: { operation: { kind: r.kind, target: r.target, startedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), pollerState } } });
      const rejected = await eventually(`Warning Event for the ${r.kind} record`, async () => {
        const evs = (await eventsOf(ns, 'TenantDatabase', TD)).filter((e) => e.reason === 'OperationRecordRejected' && e.type === 'Warning');
        return evs.length > before || evs.some((e) => r.reason.test(e.note ?? '')) ? evs : undefined;
      }, 60_000, 300).catch(() => []);
      // No request, and so no token, ever reached the hostile host.
      expect(evil.requests).toEqual([]);
      expect(rejected.some((e) => r.reason.test(e.note ?? ''))).toBe(true);
      // Not wedged: the record is gone and the object is Ready again.
      await converged(`converged after the ${r.kind} record`);
    }
    expect(evil.requests).toEqual([]);
  } finally {
    await evil.close();
  }
}, 240_000);

test('status.azure.appliedTags naming a tag someone else put on the server: the tag stays; the tags the spec drops still go', async () => {
  const tagsNow = async () => (await h.client.servers.get(RG, SERVER)).tags ?? {};
  const patchSpecTags = (tags: Record<string, string | null>) =>
    run(['patch', 'tenantdatabases.tenantdb.io', TD, '-n', ns, '--type=merge', '-p', JSON.stringify({ spec: { server: { azure: { tags } } } })]);
  // Azure Policy (or a person) tags the server; then someone who may write status claims the operator set that tag.
  await h.client.servers.beginUpdateAndWait(RG, SERVER, { tags: { ...(await tagsNow()), costcenter: 'finance' } });
  await patchStatus({ azure: { appliedTags: ['costcenter'] } });
  // A spec change makes the operator write the server's tags, seconds after costcenter was set: within the
  // age of a listed server it may read from (10 s), so the map it writes is built from a fresh read.
  await patchSpecTags({ team: 'payments' });
  await eventually('the spec tag on the server', async () => ((await tagsNow()).team === 'payments' ? true : undefined), 60_000, 300);
  await converged('converged with the spec tag');
  expect(await tagsNow()).toMatchObject({ costcenter: 'finance', team: 'payments' });
  // The operator's own tag leaves with the spec; the foreign one stays.
  await patchSpecTags({ team: null });
  await eventually('the dropped spec tag gone from the server', async () => (!('team' in (await tagsNow())) ? true : undefined), 60_000, 300);
  expect(await tagsNow()).toMatchObject({ costcenter: 'finance' });
  await converged('converged without the spec tag');
}, 240_000);

test("status.serverFQDN pointed at another host: a Migration's administrator password never reaches it", async () => {
  const fake = await hostilePostgres(path.join(h.dir, 'ca'), EVIL_FQDN);
  try {
    // The attacker wins the race with the TenantDatabase controller: it is not running when the Migration is.
    await mgr?.stop();
    mgr = undefined;
    const o = (await td())!;
    const realFqdn = o.status!.serverFQDN as string;
    expect(realFqdn).toBe(`${SERVER}.postgres.database.azure.com`);
    await patchStatus({ serverFQDN: EVIL_FQDN });
    expect((await td())!.status!.serverFQDN).toBe(EVIL_FQDN);
    const password = JSON.parse(await run(['get', 'secret', `${TD}-admin`, '-n', ns, '-o', 'json'])).data.password as string;

    const hosts = hostsFileFor(path.join(h.dir, 'evil-hosts.json'), EVIL_FQDN, fake.port);
    const settings = { ...h.settings, postgres: { ...h.settings.postgres, hostsFile: `${h.settings.postgres.hostsFile}${path.delimiter}${hosts}` } };
    mgr = await startManager([ns], settings, (m, s) => registerMigrationController(m, s, { progressIntervalMs: 300, lockPollMs: 100 }));
    await applyJson({
      apiVersion: 'tenantdb.io/v1alpha1',
      kind: 'Migration',
      metadata: { name: 'schema', namespace: ns },
      spec: { databaseRef: { name: TD }, migrations: [{ version: '001', name: 'init', up: 'CREATE TABLE trust_probe (id int PRIMARY KEY);' }] },
    });
    const done = await eventually('Migration Ready or a connection to the fake server', async () => {
      if (fake.connections > 0) return 'attacked';
      const m = await getObj('migrations.tenantdb.io', ns, 'schema');
      return cond(m, 'Ready')?.status === 'True' && m?.status?.observedGeneration === m?.metadata.generation ? 'ready' : undefined;
    }, 120_000, 200);
    await new Promise((r) => setTimeout(r, 1_000));
    const received = fake.received();
    expect(received.includes(Buffer.from(Buffer.from(password, 'base64').toString('utf8')))).toBe(false);
    expect(fake.connections).toBe(0);
    expect(done).toBe('ready');
  } finally {
    await fake.close();
  }
}, 240_000);
