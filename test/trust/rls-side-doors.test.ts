// Issue 16, point 6: row-level security has no side doors. Against the real apiserver and PostgreSQL,
// the TenantDatabase controller (tenancy on) and the Migration controller in-process:
// (b) a table a Migration creates is never readable by the application before its policies are on: read
//     as the application right after the Migration reports the step applied, with the TenantDatabase
//     controller stopped, so no pass of it can have helped; transactional and non-transactional steps.
// (a) a view over a tenant table that a Migration creates is never read with its owner's rights: the
//     application, reading it as tenant a, never sees tenant b's rows (not granted, or security_invoker).
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import pg from 'pg';
import { registerMigrationController } from '../../controllers/migration/index.js';
import { Manager } from '../../src/runtime/manager.js';
import { kubeConfig } from '../../dev/env/testenv.js';
import { eventually, testLogger } from '../runtime/helpers.js';
import { applyJson, connectWithUri, externalTd, getTd, readSecret, startDbHarness, waitCondition, type DbHarness } from '../tenantdatabase/db-harness.js';
import { asSuperuser, caPem } from '../postgres/helpers.js';
import { createMigration, getMigration, waitFor } from '../migration/fixtures.js';

let h: DbHarness;
let mig: Manager;
const name = `rls-${Date.now().toString(36)}`;

beforeAll(async () => {
  h = await startDbHarness('trust-rls');
  const td = externalTd(h.ns, name) as { spec: Record<string, unknown> };
  td.spec.tenancy = { tenantColumn: 'tenant_id', tenantSetting: 'app.tenant', schemas: ['public'] };
  await applyJson(td);
  await waitCondition(h.ns, name, 'Ready', (c) => c.status === 'True', 90_000);
  mig = new Manager({ kubeConfig: kubeConfig(), logger: testLogger(), namespaces: [h.ns], metricsBindAddress: '0', healthProbeBindAddress: '0', maxConcurrentReconciles: 2, gracefulShutdownTimeoutMs: 5_000 });
  registerMigrationController(mig, h.settings, { progressIntervalMs: 300, lockPollMs: 100 });
  await mig.start();
});

afterAll(async () => {
  await mig?.stop();
  await h?.stop();
});

/** Rows the application sees in `relation` as `tenant`, or the error it gets. */
async function appReads(relation: string, tenant: string): Promise<{ rows: string[] } | { error: string }> {
  const s = await readSecret(h.ns, `${name}-connection`);
  const c: pg.Client = await connectWithUri(s?.data.uri as string, caPem());
  try {
    await c.query(`SELECT set_config('app.tenant', $1, false)`, [tenant]);
    const r = await c.query<{ tenant_id: string }>(`SELECT tenant_id FROM ${relation} ORDER BY 1`);
    return { rows: r.rows.map((x) => x.tenant_id) };
  } catch (err) {
    return { error: (err as Error).message };
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Waits for Migrated; a timeout shows what the Migration said instead. */
async function migrated(m: string): Promise<void> {
  await waitFor(h.ns, m, { ready: true, reason: 'Migrated' }, 60_000).catch(async (err: Error) => {
    const act = await asSuperuser(async (c) => (await c.query(`SELECT usename, state, wait_event_type, wait_event, left(query, 120) AS q FROM pg_stat_activity WHERE datname IS NOT NULL AND pid <> pg_backend_pid()`)).rows);
    throw new Error(`${err.message}: ${JSON.stringify((await getMigration(h.ns, m)).status?.databases)} ${JSON.stringify(act)}`);
  });
}

const seed = (table: string) => `CREATE TABLE ${table} (id int, tenant_id text NOT NULL);\nINSERT INTO ${table} VALUES (1, 'a'), (2, 'b');`;

test('(a) a view a Migration creates over a tenant table never shows the application another tenant', async () => {
  await createMigration(h.ns, 'view', {
    databaseRef: { name },
    migrations: [{ version: '1', name: 'view', up: `${seed('orders_v_base')}\nCREATE VIEW orders_v AS SELECT * FROM orders_v_base;` }],
  });
  await migrated('view');
  // Every read, from the moment the step is applied until the application may read the view at all.
  // Every read from the moment the step is applied until the TenantDatabase's pass has reported the view.
  const reads: Array<{ rows: string[] } | { error: string }> = [];
  await eventually(
    'the isolation audit names the view',
    async () => {
      reads.push(await appReads('orders_v', 'a'));
      const td = await getTd(h.ns, name);
      const findings = (td?.status as { tenancy?: { auditFindings?: Array<{ kind: string; object: string }> } } | undefined)?.tenancy?.auditFindings ?? [];
      return findings.some((f) => f.kind === 'ViewWithoutSecurityInvoker' && f.object.includes('orders_v'));
    },
    60_000,
    200,
  );
  reads.push(await appReads('orders_v', 'a'));
  // Never another tenant's rows: not granted (a definer view), or filtered.
  expect(reads.filter((r) => 'rows' in r && r.rows.includes('b'))).toEqual([]);
  expect(reads.at(-1)).toEqual({ error: expect.stringMatching(/permission denied/) });
});

test('(b) a table a Migration creates is not readable across tenants before the next TenantDatabase pass', async () => {
  // No TenantDatabase pass from here on: whatever protects the new tables came with the migration.
  await h.mgr.stop();
  await createMigration(h.ns, 'tables', {
    databaseRef: { name },
    migrations: [
      { version: '1', name: 'tx', up: seed('orders_tx') },
      { version: '2', name: 'notx', transactional: false, up: seed('orders_notx') },
    ],
  });
  await migrated('tables');
  for (const t of ['orders_tx', 'orders_notx']) {
    const r = await appReads(t, 'a');
    // Either no privilege at all, or only tenant a's rows.
    if ('rows' in r) expect(r.rows).toEqual(['a']);
    else expect(r.error).toMatch(/permission denied/);
  }
  // A transactional step's table is usable at once, isolated.
  expect(await appReads('orders_tx', 'b')).toEqual({ rows: ['b'] });
});
