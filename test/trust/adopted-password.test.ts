// Attack on the administrator password of an adopted server (issue 16, point 3), against the real
// apiserver and the ARM emulator, whose servers are real PostgreSQL: a tenant adopts a server it did not
// create and puts the `tenantdb.io/generated-password` annotation on its own password Secret, hoping the
// operator takes the Secret's password for one it generated and sets it on the server. The operator
// must leave the server's password alone (the original still logs in, the tenant's does not); only an
// explicit spec.server.azure.manageAdministratorPassword makes it apply the Secret.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { PostgresConnections } from '../../src/postgres/connections.js';
import type { Manager } from '../../src/runtime/manager.js';
import { createTestNamespace } from '../../dev/env/testenv.js';
import { eventually, getJson, installCrds, run } from '../runtime/helpers.js';
import { azureTenantDatabase, credentialsSecret, serverPath, startAzureHarness, startOperatorInProcess, type AzureHarness } from '../tenantdatabase/azure-harness.js';

interface Cond { type: string; status: string; reason: string; message: string }
interface Tdb { status?: Record<string, any> & { conditions?: Cond[] } }

const API = '?api-version=2025-08-01';
const SERVER = 'trust-pw-handmade';
const ORIGINAL = 'Hand-made-Passw0rd';
const TENANTS = 'Tenant-chosen-Passw0rd-1';
const LATER = 'Tenant-chosen-Passw0rd-2';

let h: AzureHarness;
let ns: string;
let mgr: Manager;

const apply = (obj: unknown) => run(['apply', '-f', '-'], JSON.stringify(obj));
const get = () => getJson<Tdb>(['get', 'tenantdatabases.tenantdb.io', 'hand', '-n', ns]);
const cond = (o: Tdb | undefined, type: string) => o?.status?.conditions?.find((c) => c.type === type);

/** Whether `password` logs in to the server as its administrator (a real PostgreSQL behind the FQDN). */
async function logsIn(password: string): Promise<boolean> {
  // A fresh pool each time: an idle session from an earlier login would answer without authenticating.
  const conns = new PostgresConnections(h.settings.postgres);
  try {
    await conns.query({ host: `${SERVER}.postgres.database.azure.com`, port: 5432, sslMode: 'verify-full', user: 'handadmin', password, database: 'postgres' }, 'SELECT 1');
    return true;
  } catch (err) {
    if (/password authentication failed/i.test((err as Error).message)) return false;
    throw err;
  } finally {
    await conns.close();
  }
}

const tenantSecret = (password: string) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  // The marker a tenant can write on a Secret of its own.
  metadata: { name: 'hand-admin', namespace: ns, annotations: { 'tenantdb.io/generated-password': 'true' }, labels: { 'app.kubernetes.io/managed-by': 'tenantdb-operator' } },
  stringData: { password },
});

const adopting = (azure: Record<string, unknown> = {}) =>
  azureTenantDatabase(ns, 'hand', SERVER, { administratorLogin: 'handadmin', administratorPasswordSecretRef: { name: 'hand-admin', key: 'password' }, ...azure }, { metadata: { annotations: { 'tenantdb.io/adopt': 'true' } } });

beforeAll(async () => {
  await installCrds();
  h = await startAzureHarness('trust-pw');
  ns = await createTestNamespace('trust-pw');
  await apply(credentialsSecret(ns, 'azure-creds'));
  // The harness's policy lets every namespace adopt: adoption itself is allowed here.
  mgr = await startOperatorInProcess(h, ns, { syncPeriodMs: 2_000 });
});

afterAll(async () => {
  await mgr?.stop();
  if (ns) await run(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  await h?.stop();
});

test('(e) a tenant-set generated-password annotation on an adopted server: the password is not changed', async () => {
  const put = await h.raw('PUT', serverPath(SERVER) + API, {
    location: 'eastus',
    sku: { name: 'Standard_D2ds_v5', tier: 'GeneralPurpose' },
    properties: { administratorLogin: 'handadmin', administratorLoginPassword: ORIGINAL, version: '17', storage: { storageSizeGB: 32 } },
  });
  expect(put.status).toBeLessThan(300);
  await eventually('handmade Ready', async () => (await h.raw('GET', serverPath(SERVER) + API)).body?.properties?.state === 'Ready', 60_000, 300);
  expect(await logsIn(ORIGINAL)).toBe(true);

  await apply(tenantSecret(TENANTS));
  const since = new Date().toISOString();
  await apply(adopting());
  const adopted = await eventually(
    'hand adopted and ServerReady',
    async () => {
      const o = await get();
      return cond(o, 'ServerReady')?.status === 'True' && o?.status?.azure?.origin === 'adopted' ? o : undefined;
    },
    90_000,
    300,
  );
  expect(adopted.status?.azure?.origin).toBe('adopted');
  // Adoption wrote the ownership tags only; the server's password is still the original.
  const writes = (await h.control.requests(since)).entries.filter((e) => e.principal === h.spObjectId && e.kind === 'write' && e.path.endsWith(SERVER));
  expect(writes.map((e) => e.method)).toEqual(['PATCH']);
  expect(await logsIn(TENANTS)).toBe(false);
  expect(await logsIn(ORIGINAL)).toBe(true);

  // A later change of the Secret is not applied either (the server is not the operator's to set).
  await apply(tenantSecret(LATER));
  await new Promise((r) => setTimeout(r, 5_000)); // two sync periods
  expect(await logsIn(LATER)).toBe(false);
  expect(await logsIn(ORIGINAL)).toBe(true);
});

test('manageAdministratorPassword: true asks for it explicitly: the Secret is applied to the adopted server', async () => {
  await apply(adopting({ manageAdministratorPassword: true }));
  await eventually('the Secret password applied', () => logsIn(LATER), 90_000, 500);
  expect(await logsIn(ORIGINAL)).toBe(false);
});
