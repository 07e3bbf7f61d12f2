// Credential selection. Entra is not reachable from tests, so these pin which credential is built and
// what is refused; the static token path is exercised end to end against the emulator elsewhere.
import { ClientSecretCredential, DefaultAzureCredential, WorkloadIdentityCredential } from '@azure/identity';
import { AZURE_CLOUDS, armScope, isLoopbackEndpoint, normaliseArmEndpoint } from '../../src/azure/clouds.js';
import { CredentialSecretError, credentialFromSecretData, defaultCredential, staticTokenCredential } from '../../src/azure/credentials.js';

const tenantId = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const clientId = '11111111-2222-3333-4444-555555555555';

describe('credentials', () => {
  test('Secret with a client secret → ClientSecretCredential', () => {
    const { kind, credential } = credentialFromSecretData({ tenantId, clientId, clientSecret: 's3cr3t-value' });
    expect(kind).toBe('clientSecret');
    expect(credential).toBeInstanceOf(ClientSecretCredential);
  });

  test('Secret with a federated token file → WorkloadIdentityCredential', () => {
    const { kind, credential } = credentialFromSecretData(
      { tenantId, clientId, federatedTokenFile: '/var/run/secrets/azure/tokens/azure-identity-token' },
      { authorityHost: AZURE_CLOUDS.AzureUSGovernment.authorityHost },
    );
    expect(kind).toBe('workloadIdentity');
    expect(credential).toBeInstanceOf(WorkloadIdentityCredential);
  });

  test('unusable Secrets are refused without echoing values', () => {
    const attempt = (data: Record<string, string>) => {
      try {
        credentialFromSecretData(data);
      } catch (e) {
        return e as Error;
      }
      throw new Error('expected a refusal');
    };
    const both = attempt({ tenantId, clientId, clientSecret: 'top-secret-1', federatedTokenFile: '/f' });
    expect(both).toBeInstanceOf(CredentialSecretError);
    expect(both.message).toMatch(/exactly one of clientSecret or federatedTokenFile/);
    expect(both.message).not.toContain('top-secret-1');
    const missing = attempt({ clientSecret: 'top-secret-2' });
    expect(missing.message).toMatch(/tenantId/);
    expect(missing.message).toMatch(/clientId/);
    expect(missing.message).not.toContain('top-secret-2');
  });

  test('DefaultAzureCredential is the default', () => {
    expect(defaultCredential()).toBeInstanceOf(DefaultAzureCredential);
  });

  test('a static token only for loopback endpoints unless explicitly allowed', async () => {
    const cred = staticTokenCredential('emulator-token', { armEndpoint: 'https://127.0.0.1:8443' });
    await expect(cred.getToken('https://127.0.0.1:8443/.default')).resolves.toMatchObject({ token: 'emulator-token' });
    expect(() => staticTokenCredential('t', { armEndpoint: 'https://localhost:1' })).not.toThrow();
    expect(() => staticTokenCredential('t', { armEndpoint: 'https://[::1]:1' })).not.toThrow();
    expect(() => staticTokenCredential('t', { armEndpoint: 'https://management.azure.com' })).toThrow(/refusing a static token/);
    expect(() => staticTokenCredential('t', { armEndpoint: 'https://arm-emulator.test-ns.svc:8443', allowStaticToken: true })).not.toThrow();
  });

  test('endpoints and scopes per cloud', () => {
    expect(armScope(AZURE_CLOUDS.AzurePublicCloud.armEndpoint)).toBe('https://management.azure.com/.default');
    expect(armScope(AZURE_CLOUDS.AzureUSGovernment.armEndpoint)).toBe('https://management.usgovcloudapi.net/.default');
    expect(armScope(AZURE_CLOUDS.AzureChinaCloud.armEndpoint + '/')).toBe('https://management.chinacloudapi.cn/.default');
    expect(normaliseArmEndpoint('https://127.0.0.1:9443/')).toBe('https://127.0.0.1:9443');
    expect(() => normaliseArmEndpoint('http://management.azure.com')).toThrow(/https/);
    expect(isLoopbackEndpoint('https://127.0.0.2:1')).toBe(true);
    expect(isLoopbackEndpoint('https://management.azure.com')).toBe(false);
  });
});
