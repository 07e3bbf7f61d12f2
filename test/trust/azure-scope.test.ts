// Attacks on "who may use which Azure scope" (issue 16, point 2), against the real apiserver and the ARM
// emulator (its request log says who called what; its Entra issues real tokens and, for principals with
// role assignments, ARM answers 403 AuthorizationFailed outside them):
//  (a) a namespace the installer's policy does not grant names a subscription / resource group and has
//      the operator's identity used there: Stalled ScopeNotAllowed, a Warning Event, zero ARM requests;
//  (b) a namespace with its own credentials whose identity lacks access: Stalled, and the operator's own
//      identity is never used instead, even where the policy would grant it;
//  (c) the adopt annotation without allowAdoption in the policy: Stalled AdoptionNotAllowed, no write;
//  (d) a credentials Secret naming a federated token file: refused, the file never read.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { registerTenantDatabaseController, defaultParts } from '../../controllers/tenantdatabase/index.js';
import { Manager } from '../../src/runtime/manager.js';
import { principalOf } from '../../dev/arm-emulator/framework/server.js';
import { createTestNamespace, kubeConfig } from '../../dev/env/testenv.js';
import { eventually, getJson, installCrds, run, testLogger } from '../runtime/helpers.js';
import { azureTenantDatabase, credentialsSecret, RG, serverPath, startAzureHarness, SUB, TENANT, type AzureHarness } from '../tenantdatabase/azure-harness.js';

interface Cond { type: string; status: string; reason: string; message: string }
interface Tdb { status?: Record<string, any> & { conditions?: Cond[] } }

const API = '?api-version=2025-08-01';
const TEAM_LABEL = 'tenantdb.io/azure-team';
const OTHER_RG = 'other-team-rg';
const FED_CLIENT = '7e1f0c2d-3b4a-4c5d-8e6f-9a0b1c2d3e4f';
const LIMITED_CLIENT = '2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e';

let h: AzureHarness;
let mgr: Manager;
let started: string;
/** granted: labelled, the policy grants RG (no adoption); denied: no rule; own: its own credentials. */
let granted: string;
let denied: string;
let own: string;
let limitedObjectId: string;
let fedObjectId: string;
const operatorPrincipal = principalOf('operator-static-token');

const apply = (obj: unknown) => run(['apply', '-f', '-'], JSON.stringify(obj));
const get = (ns: string, name: string) => getJson<Tdb>(['get', 'tenantdatabases.tenantdb.io', name, '-n', ns]);
const cond = (o: Tdb | undefined, type: string) => o?.status?.conditions?.find((c) => c.type === type);

async function serverReason(ns: string, name: string, reason: string): Promise<Tdb> {
  return eventually(
    `${ns}/${name} ServerReady ${reason}`,
    async () => {
      const o = await get(ns, name);
      return cond(o, 'ServerReady')?.reason === reason ? o : undefined;
    },
    90_000,
    300,
  );
}

/** ARM requests since the test file started that touch `fragment` (a server or resource group name). */
async function requestsTouching(fragment: string): Promise<{ method: string; path: string; principal: string; status: number }[]> {
  const snap = await h.control.requests(started);
  return snap.entries.filter((e) => e.path.toLowerCase().includes(fragment.toLowerCase())).map((e) => ({ method: e.method, path: e.path, principal: e.principal, status: e.status }));
}

async function warningEvents(ns: string, name: string): Promise<{ reason: string; message: string }[]> {
  const list = await getJson<{ items: { type: string; reason: string; message?: string; note?: string; involvedObject?: { name: string }; regarding?: { name: string } }[] }>(['get', 'events', '-n', ns]);
  return (list?.items ?? [])
    .filter((e) => e.type === 'Warning' && (e.involvedObject?.name ?? e.regarding?.name) === name)
    .map((e) => ({ reason: e.reason, message: e.message ?? e.note ?? '' }));
}

/** The operator's identity is used: no credentialsSecretRef. */
const withOperatorIdentity = (ns: string, name: string, server: string, azure: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) =>
  azureTenantDatabase(ns, name, server, { credentialsSecretRef: undefined, ...azure }, extra);

beforeAll(async () => {
  await installCrds();
  h = await startAzureHarness('trust-scope');
  started = new Date().toISOString();
  granted = await createTestNamespace('trust-granted');
  denied = await createTestNamespace('trust-denied');
  own = await createTestNamespace('trust-own');
  await run(['label', 'namespace', granted, `${TEAM_LABEL}=payments`]);
  // An identity with a role on another resource group only, and one that could sign in with a
  // federated token the operator's pod holds.
  limitedObjectId = (
    await h.control.registerServicePrincipal({ tenantId: TENANT, clientId: LIMITED_CLIENT, clientSecret: 'limited-secret', roleAssignments: [`/subscriptions/${SUB}/resourceGroups/${OTHER_RG}`] })
  ).objectId;
  fedObjectId = (await h.control.registerServicePrincipal({ tenantId: TENANT, clientId: FED_CLIENT, federatedCredentials: [{ issuer: 'https://oidc.example/op', subject: 'system:serviceaccount:tenantdb-system:tenantdb-operator' }] }))
    .objectId;
  h.settings.azure.scopePolicy = {
    rules: [
      { namespaceSelector: { matchLabels: { [TEAM_LABEL]: 'payments' } }, subscriptions: [SUB], resourceGroups: [RG], allowAdoption: false },
      // The own-credentials namespace is granted too: its own identity must still never be swapped for the operator's.
      { namespaces: [own], subscriptions: [SUB], resourceGroups: ['*'], allowAdoption: false },
    ],
  };
  mgr = new Manager({
    kubeConfig: kubeConfig(),
    logger: testLogger(),
    namespaces: [granted, denied, own],
    metricsBindAddress: '0',
    healthProbeBindAddress: '0',
    maxConcurrentReconciles: 4,
    gracefulShutdownTimeoutMs: 5_000,
  });
  registerTenantDatabaseController(mgr, h.settings, { ...defaultParts(), inside: [] });
  await mgr.start();
});

afterAll(async () => {
  await mgr?.stop();
  for (const ns of [granted, denied, own]) if (ns) await run(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  await h?.stop();
});

test('(a) a namespace the policy does not grant: Stalled ScopeNotAllowed, a Warning Event, zero ARM requests for the scope', async () => {
  await apply(withOperatorIdentity(denied, 'grab', 'trust-grab-srv'));
  const o = await serverReason(denied, 'grab', 'ScopeNotAllowed');
  expect(cond(o, 'Stalled')?.status).toBe('True');
  expect(cond(o, 'ServerReady')?.message).toContain(`namespace ${denied}`);
  await eventually('Warning ScopeNotAllowed', async () => (await warningEvents(denied, 'grab')).some((e) => e.reason === 'ScopeNotAllowed'));
  // A granted namespace naming a resource group outside its grant: the same.
  await apply(withOperatorIdentity(granted, 'elsewhere', 'trust-elsewhere-srv', { resourceGroup: OTHER_RG }));
  await serverReason(granted, 'elsewhere', 'ScopeNotAllowed');
  await new Promise((r) => setTimeout(r, 1_500)); // a few more passes could not call ARM either
  expect(await requestsTouching('trust-grab-srv')).toEqual([]);
  expect(await requestsTouching(OTHER_RG)).toEqual([]);

  // What the policy grants works (the label selector read from the apiserver): the server is created.
  await apply(withOperatorIdentity(granted, 'mine', 'trust-mine-srv'));
  const writes = await eventually('the granted create', async () => {
    const w = (await requestsTouching('trust-mine-srv')).filter((e) => e.method === 'PUT');
    return w.length ? w : undefined;
  });
  expect(writes.every((e) => e.principal === operatorPrincipal)).toBe(true);
});

test("(b) own credentials without access: Stalled AuthorizationFailed, and the operator's identity is never used instead", async () => {
  await apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'limited-creds', namespace: own }, stringData: { tenantId: TENANT, clientId: LIMITED_CLIENT, clientSecret: 'limited-secret' } });
  await apply(azureTenantDatabase(own, 'norbac', 'trust-norbac-srv', { credentialsSecretRef: { name: 'limited-creds' } }));
  const o = await serverReason(own, 'norbac', 'AuthorizationFailed');
  expect(cond(o, 'Stalled')?.status).toBe('True');
  await new Promise((r) => setTimeout(r, 1_500));
  const touched = await requestsTouching('trust-norbac-srv');
  expect(touched.length).toBeGreaterThan(0);
  expect(touched.filter((e) => e.principal !== limitedObjectId)).toEqual([]);
  expect(touched.every((e) => e.status === 403)).toBe(true);
  // ARM's error, from the emulator's minimal RBAC (role assignments per principal).
  expect((await h.control.requests(started)).entries.find((e) => e.principal === limitedObjectId)?.code).toBe('AuthorizationFailed');
  // A missing Secret does not fall back to the operator's identity either.
  await apply(azureTenantDatabase(own, 'nosecret', 'trust-nosecret-srv', { credentialsSecretRef: { name: 'does-not-exist' } }));
  await serverReason(own, 'nosecret', 'SecretNotFound');
  expect(await requestsTouching('trust-nosecret-srv')).toEqual([]);
});

test('(c) the adopt annotation without allowAdoption in the policy: Stalled AdoptionNotAllowed, no write', async () => {
  const put = await h.raw('PUT', serverPath('trust-handmade') + API, {
    location: 'eastus',
    sku: { name: 'Standard_D2ds_v5', tier: 'GeneralPurpose' },
    properties: { administratorLogin: 'handadmin', administratorLoginPassword: 'Hand-made-Passw0rd', version: '17', storage: { storageSizeGB: 32 } },
  });
  expect(put.status).toBeLessThan(300);
  await eventually('handmade Ready', async () => (await h.raw('GET', serverPath('trust-handmade') + API)).body?.properties?.state === 'Ready', 60_000, 300);
  await apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'take-admin', namespace: granted }, stringData: { password: 'Hand-made-Passw0rd' } });
  const since = new Date().toISOString();
  await apply(
    withOperatorIdentity(granted, 'take', 'trust-handmade', { administratorLogin: 'handadmin', administratorPasswordSecretRef: { name: 'take-admin', key: 'password' } }, { metadata: { annotations: { 'tenantdb.io/adopt': 'true' } } }),
  );
  const o = await serverReason(granted, 'take', 'AdoptionNotAllowed');
  expect(cond(o, 'Stalled')?.status).toBe('True');
  await eventually('Warning AdoptionNotAllowed', async () => (await warningEvents(granted, 'take')).some((e) => e.reason === 'AdoptionNotAllowed'));
  await new Promise((r) => setTimeout(r, 1_500));
  const snap = await h.control.requests(since);
  const writes = snap.entries.filter((e) => /trust-handmade/i.test(e.path) && e.kind !== 'read' && e.kind !== 'poll');
  expect(writes).toEqual([]);
  const srv = await h.raw('GET', serverPath('trust-handmade') + API);
  expect(srv.body.tags?.['tenantdb-owner']).toBeUndefined();
});

test('(d) a credentials Secret naming a federated token file: refused, the file is never read', async () => {
  // A token file the operator's pod could hold (its own projected ServiceAccount token), here with the
  // subject the federated identity trusts: if the operator read it, Entra would issue a token.
  const dir = fs.mkdtempSync(path.join(h.dir, 'pod-token-'));
  const file = path.join(dir, 'azure-identity-token');
  const jwt = (claims: object) => `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.c2ln`;
  fs.writeFileSync(file, jwt({ iss: 'https://oidc.example/op', sub: 'system:serviceaccount:tenantdb-system:tenantdb-operator', aud: 'api://AzureADTokenExchange' }));
  const before = (await h.control.entraStats()).byClient[FED_CLIENT] ?? 0;
  for (const [name, data] of [
    ['fed-creds', { tenantId: TENANT, clientId: FED_CLIENT, federatedTokenFile: file }],
    ['fed-env-creds', { AZURE_TENANT_ID: TENANT, AZURE_CLIENT_ID: FED_CLIENT, AZURE_FEDERATED_TOKEN_FILE: file }],
  ] as const) {
    await apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: own }, stringData: data });
    await apply(azureTenantDatabase(own, name, `trust-${name}-srv`, { credentialsSecretRef: { name } }));
    const o = await serverReason(own, name, 'InvalidCredentialsSecret');
    expect(cond(o, 'Stalled')?.status).toBe('True');
    expect(cond(o, 'ServerReady')?.message).toMatch(/federatedTokenFile/);
    expect(cond(o, 'ServerReady')?.message).not.toContain(file);
  }
  await new Promise((r) => setTimeout(r, 1_500));
  expect((await h.control.entraStats()).byClient[FED_CLIENT] ?? 0).toBe(before);
  const snap = await h.control.requests(started);
  expect(snap.entries.filter((e) => e.principal === fedObjectId)).toEqual([]);
  expect(await requestsTouching('trust-fed-')).toEqual([]);
});
