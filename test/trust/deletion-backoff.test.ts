// Issue 16 point 11, last part: a deletion whose cleanup keeps failing backs off exponentially instead
// of retrying at the poll interval (a hot loop against a broken server). Against the apiserver and the
// ARM emulator: the server's DELETE is refused three times (a 400, which the SDK does not retry, so one
// request is one attempt of the operator), then accepted; the gaps between attempts must grow.
import type { Manager } from '../../src/runtime/manager.js';
import { createTestNamespace } from '../../dev/env/testenv.js';
import { eventually, getJson, installCrds, run } from '../runtime/helpers.js';
import { azureTenantDatabase, credentialsSecret, serverPath, startAzureHarness, startOperatorInProcess, type AzureHarness } from '../tenantdatabase/azure-harness.js';

interface Cond { type: string; status: string }
interface Tdb { metadata: { generation: number }; status?: { conditions?: Cond[]; observedGeneration?: number } }

let h: AzureHarness;
let ns: string;
let mgr: Manager;
const apply = (obj: unknown) => run(['apply', '-f', '-'], JSON.stringify(obj));

beforeAll(async () => {
  await installCrds();
  h = await startAzureHarness('backoff');
  ns = await createTestNamespace('trust-backoff');
  await apply(credentialsSecret(ns, 'azure-creds'));
  mgr = await startOperatorInProcess(h, ns);
});

afterAll(async () => {
  await mgr?.stop();
  await h?.stop();
});

test('a server deletion refused three times is retried after growing delays (5 s, 10 s, 20 s), then completes', async () => {
  await apply(azureTenantDatabase(ns, 'doomed', 'trust-doomed-srv', {}, { spec: { deletionPolicy: 'Delete' } }));
  await eventually('doomed ServerReady', async () => {
    const o = await getJson<Tdb>(['get', 'tenantdatabases.tenantdb.io', 'doomed', '-n', ns]);
    return o?.status?.conditions?.some((c) => c.type === 'ServerReady' && c.status === 'True') ? o : undefined;
  }, 120_000, 300);
  await h.control.failRequests({ method: 'DELETE', path: 'flexibleServers/trust-doomed-srv$', status: 400, code: 'ServerDeleteRefused', message: 'injected refusal', count: 3 });
  const since = new Date().toISOString();
  await run(['delete', 'tenantdatabases.tenantdb.io', 'doomed', '-n', ns, '--wait=true', '--timeout=150s']);
  const deletes = (await h.control.requests(since)).entries.filter((e) => e.method === 'DELETE' && /flexibleServers\/trust-doomed-srv$/i.test(e.path.split('?')[0] ?? ''));
  const at = deletes.map((e) => Date.parse(e.time));
  const gaps = at.slice(1).map((t, i) => (t - (at[i] as number)) / 1000);
  console.log(`server DELETE attempts: ${deletes.map((e) => e.status).join(', ')}; gaps ${gaps.map((g) => g.toFixed(1)).join(', ')} s`);
  expect(deletes.map((e) => e.status).slice(0, 3)).toEqual([400, 400, 400]);
  expect(deletes.length).toBe(4);
  // Exponential: each wait about twice the one before (the first one the base, 5 s).
  expect(gaps[0]).toBeGreaterThanOrEqual(4.5);
  expect(gaps[1]).toBeGreaterThanOrEqual((gaps[0] as number) * 1.7);
  expect(gaps[2]).toBeGreaterThanOrEqual((gaps[1] as number) * 1.7);
  expect((await h.raw('GET', serverPath('trust-doomed-srv') + '?api-version=2025-08-01')).status).toBe(404);
}, 300_000);
