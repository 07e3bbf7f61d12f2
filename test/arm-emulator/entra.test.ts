// The emulator's Microsoft Entra token endpoint, used by @azure/identity unchanged: ClientSecretCredential
// and WorkloadIdentityCredential (built by the operator's credentialFromSecretData / azureClientsFor) get
// tokens whose oid/appid become the principal ARM logs and throttles by; Entra's errors for a wrong secret,
// an unknown application and an unmatched federated assertion. Also ARM's tag-name rule.
import fs from 'node:fs';
import path from 'node:path';
import { credentialFromSecretData } from '../../src/azure/credentials.js';
import { azureClientsFor, clearAzureClientsCache } from '../../src/azure/provider.js';
import { SUB, LOCATION, rawCall, startHarness, type Harness } from './fixtures.js';

const TENANT = '7e1d2c3b-4a59-4867-9f10-a2b3c4d5e6f7';
const CLIENT = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
const FED_CLIENT = '2b3c4d5e-6f70-4812-9a3b-4c5d6e7f8091';
let h: Harness;
let objectId: string;
let caPem: string;

beforeAll(async () => {
  h = await startHarness('entra');
  caPem = h.caPem;
  objectId = (await h.control.registerServicePrincipal({ tenantId: TENANT, clientId: CLIENT, clientSecret: 's3cret-value' })).objectId;
  await h.control.registerServicePrincipal({
    tenantId: TENANT,
    clientId: FED_CLIENT,
    federatedCredentials: [{ issuer: 'https://oidc.aks.example/abc', subject: 'system:serviceaccount:tenantdb-system:tenantdb-operator' }],
  });
  clearAzureClientsCache();
});

afterAll(async () => {
  await h?.stop();
});

const cloud = () => ({ authorityHost: h.emu.authorityHost, disableInstanceDiscovery: true, caCertPem: caPem });
const scope = () => `${h.emu.endpoint}/.default`;
const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'));

test('OpenID metadata names the token endpoint on the same origin', async () => {
  const r = await rawCall(h, 'GET', `/${TENANT}/v2.0/.well-known/openid-configuration`, { token: null });
  expect(r.status).toBe(200);
  expect(r.body).toMatchObject({ issuer: `${h.emu.endpoint}/${TENANT}/v2.0`, token_endpoint: `${h.emu.endpoint}/${TENANT}/oauth2/v2.0/token` });
  const d = await rawCall(h, 'GET', '/common/discovery/instance?api-version=1.1', { token: null });
  expect((d.body as Record<string, string>)['tenant_discovery_endpoint']).toMatch(/openid-configuration$/);
});

test('ClientSecretCredential gets a token carrying the principal; ARM logs that principal', async () => {
  const { credential, kind } = credentialFromSecretData({ tenantId: TENANT, clientId: CLIENT, clientSecret: 's3cret-value' }, cloud());
  expect(kind).toBe('clientSecret');
  const t = await credential.getToken(scope());
  expect(claimsOf(t!.token)).toMatchObject({ oid: objectId, appid: CLIENT, tid: TENANT, aud: h.emu.endpoint });

  // Through the operator's provider (AZURE_* key names accepted): ARM sees the principal.
  const since = new Date().toISOString();
  const clients = azureClientsFor(
    { cloud: 'AzurePublicCloud', armEndpoint: h.emu.endpoint, authorityHost: h.emu.authorityHost, caFile: h.emu.caFile, staticToken: undefined },
    { subscriptionId: SUB, credentialsSecretData: { AZURE_TENANT_ID: TENANT, AZURE_CLIENT_ID: CLIENT, AZURE_CLIENT_SECRET: 's3cret-value' } },
  );
  const list = [];
  for await (const s of clients.postgres.servers.listBySubscription()) list.push(s);
  expect(list).toEqual([]);
  const entries = (await h.control.requests(since)).entries;
  expect(entries.map((e) => e.principal)).toContain(objectId);
  // Same settings + credentials: the cached clients (one pipeline, one budget).
  expect(
    azureClientsFor(
      { cloud: 'AzurePublicCloud', armEndpoint: h.emu.endpoint, authorityHost: h.emu.authorityHost, caFile: h.emu.caFile, staticToken: undefined },
      { subscriptionId: SUB, credentialsSecretData: { tenantId: TENANT, clientId: CLIENT, clientSecret: 's3cret-value' } },
    ),
  ).toBe(clients);
});

test("a wrong secret, an unknown application: Entra's errors", async () => {
  const wrong = credentialFromSecretData({ tenantId: TENANT, clientId: CLIENT, clientSecret: 'nope' }, cloud()).credential;
  await expect(wrong.getToken(scope())).rejects.toThrow(/AADSTS7000215/);
  const unknown = credentialFromSecretData({ tenantId: TENANT, clientId: '00000000-0000-4000-8000-000000000001', clientSecret: 'x' }, cloud()).credential;
  await expect(unknown.getToken(scope())).rejects.toThrow(/AADSTS700016/);
  const r = await rawCall(h, 'POST', `/${TENANT}/oauth2/v2.0/token`, { token: null });
  expect(r.status).toBe(400);
});

test('WorkloadIdentityCredential: a federated token file matching the registered subject', async () => {
  const dir = fs.mkdtempSync(path.join(h.emu.ctx.stateDir, 'wi-'));
  const file = path.join(dir, 'token');
  const jwt = (claims: object) => `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.c2ln`;
  fs.writeFileSync(file, jwt({ iss: 'https://oidc.aks.example/abc', sub: 'system:serviceaccount:tenantdb-system:tenantdb-operator', aud: 'api://AzureADTokenExchange' }));
  const { credential, kind } = credentialFromSecretData({ tenantId: TENANT, clientId: FED_CLIENT, federatedTokenFile: file }, cloud());
  expect(kind).toBe('workloadIdentity');
  const t = await credential.getToken(scope());
  expect(claimsOf(t!.token).appid).toBe(FED_CLIENT);

  fs.writeFileSync(file, jwt({ iss: 'https://oidc.aks.example/abc', sub: 'system:serviceaccount:other:intruder' }));
  const other = credentialFromSecretData({ tenantId: TENANT, clientId: FED_CLIENT, federatedTokenFile: file }, cloud()).credential;
  await expect(other.getToken(scope())).rejects.toThrow(/AADSTS70021/);
});

test('tag names with / < > % & \\ ? are refused as ARM refuses them', async () => {
  for (const bad of ['owner/name', 'a<b', 'a>b', '50%', 'a&b', 'a\\b', 'what?']) {
    const r = await rawCall(h, 'PUT', `/subscriptions/${SUB}/resourcegroups/tag-rg?api-version=2021-04-01`, { body: { location: LOCATION, tags: { [bad]: 'x' } } });
    expect(r.status).toBe(400);
    expect((r.body as any).error.code).toBe('InvalidTagNameCharacters');
  }
  // A value may hold them (the operator's owner tag is "<namespace>/<name>").
  const ok = await rawCall(h, 'PUT', `/subscriptions/${SUB}/resourcegroups/tag-rg?api-version=2021-04-01`, { body: { location: LOCATION, tags: { 'tenantdb-owner': 'ns/name' } } });
  expect(ok.status).toBeLessThan(300);
});
