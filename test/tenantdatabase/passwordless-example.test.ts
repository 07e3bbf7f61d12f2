// crds/examples/tenantdatabase-passwordless.yaml as `npm run dev` applies it (after the azure dev fixture
// registered the operator's service principal with the object id the example names as Entra administrator):
// Ready with no administrator password anywhere, its Entra principals created, their Secrets passwordless.
import fs from 'node:fs';
import YAML from 'yaml';
import { postgresConnections } from '../../src/postgres/connections.js';
import type { Manager } from '../../src/runtime/manager.js';
import { prepareAzureExample } from '../../dev/env/dev-fixtures/azure.js';
import { repoRoot } from '../../dev/env/paths.js';
import { createTestNamespace } from '../../dev/env/testenv.js';
import { getJson, installCrds, run } from '../runtime/helpers.js';
import { startAzureHarness, startOperatorInProcess, type AzureHarness } from './azure-harness.js';
import { waitReady } from './db-harness.js';

const FILE = `${repoRoot}/crds/examples/tenantdatabase-passwordless.yaml`;
const example = YAML.parse(fs.readFileSync(FILE, 'utf8'));
let h: AzureHarness;
let ns: string;
let mgr: Manager;

beforeAll(async () => {
  await installCrds();
  h = await startAzureHarness('passwordless-example');
  ns = await createTestNamespace('tdb-pwless-example');
  await prepareAzureExample({ arm: h.emu, namespace: ns, apply: (m) => run(['apply', '-f', '-'], JSON.stringify(m)).then(() => undefined) }, FILE);
  mgr = await startOperatorInProcess(h, ns, { parts: 'all' });
}, 120_000);

afterAll(async () => {
  await mgr?.stop();
  await postgresConnections(h.settings.postgres).close();
  if (ns) await run(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  await h?.stop();
});

test('the passwordless example becomes Ready with tokens only', async () => {
  await run(['apply', '-n', ns, '-f', FILE]);
  const o = await waitReady(ns, example.metadata.name, 240_000);
  expect(o.status?.conditions?.find((c) => c.type === 'ServerReady')?.message).toContain('the operator logs in as Entra administrator tenantdb-operator');
  const secrets = (await getJson<{ items: Array<{ metadata: { name: string }; data: Record<string, string> }> }>(['get', 'secrets', '-n', ns]))!.items;
  expect(secrets.map((s) => s.metadata.name).filter((n) => /admin/.test(n))).toEqual([]);
  for (const p of example.spec.entraPrincipals as Array<{ name: string }>) {
    const s = secrets.find((x) => x.metadata.name === `${example.metadata.name}-entra-${p.name}`);
    expect(s).toBeDefined();
    expect(Object.keys(s!.data).sort()).toEqual(['host', 'port', 'dbname', 'username', 'sslmode', 'tokenScope', 'uri', 'ca.crt'].filter((k) => k in s!.data).sort());
    expect(s!.data).toHaveProperty('tokenScope');
    expect(s!.data.password).toBeUndefined();
  }
}, 300_000);
