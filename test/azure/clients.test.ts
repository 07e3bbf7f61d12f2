// The client factory against the emulator: both SDK clients ask for tokens of the configured endpoint's
// scope, trust in the emulator's CA comes from the factory's option (not from anything process-wide),
// and both clients share the subscription's budget.
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';
import { ArmRequestBudget, sharedBudget } from '../../src/azure/budget.js';
import { createAzureClients } from '../../src/azure/clients.js';
import { staticTokenCredential } from '../../src/azure/credentials.js';
import { classifyArmError } from '../../src/azure/errors.js';
import { SUBSCRIPTION, createResourceGroup, startPrivateArm, type PrivateArm } from './fixtures.js';

let arm: PrivateArm;

beforeAll(async () => {
  arm = await startPrivateArm('clients');
});

afterAll(async () => {
  await arm?.stop();
});

function recordingCredential(inner: TokenCredential, scopes: string[]): TokenCredential {
  return {
    getToken(requested: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
      scopes.push(...(Array.isArray(requested) ? requested : [requested]));
      return inner.getToken(requested, options);
    },
  };
}

test('both clients request tokens for the configured endpoint and share the budget', async () => {
  const scopes: string[] = [];
  const budget = new ArmRequestBudget();
  const clients = createAzureClients({
    subscriptionId: SUBSCRIPTION,
    armEndpoint: `${arm.endpoint}/`,
    credential: recordingCredential(staticTokenCredential('t', { armEndpoint: arm.endpoint }), scopes),
    caCertPem: arm.caPem,
    budget,
  });
  await createResourceGroup(clients, 'clients-rg'); // through the PostgreSQL client's pipeline
  await clients.monitor.actionGroups.createOrUpdate('clients-rg', 'g', { location: 'Global', groupShortName: 'g', enabled: true });
  const servers = [];
  for await (const s of clients.postgres.servers.listByResourceGroup('clients-rg')) servers.push(s);
  expect(servers).toEqual([]);
  expect(new Set(scopes)).toEqual(new Set([`${arm.endpoint}/.default`]));
  expect(clients.budget).toBe(budget);
  // Two writes and a read went through the one budget.
  expect(budget.available('writes')).toBeLessThan(budget.effective.writes.capacity);
  expect(budget.available('reads')).toBeLessThan(budget.effective.reads.capacity);
});

test('without the CA option the emulator is not trusted: the trust is the client\'s, not the process\'s', async () => {
  const clients = createAzureClients({
    subscriptionId: SUBSCRIPTION,
    armEndpoint: arm.endpoint,
    credential: staticTokenCredential('t', { armEndpoint: arm.endpoint }),
    budget: new ArmRequestBudget(),
    retry: { maxRetries: 0 },
  });
  const err = await clients.monitor.actionGroups.get('clients-rg', 'g').catch((e: unknown) => e);
  const info = classifyArmError(err);
  expect(info.statusCode).toBeUndefined();
  expect(info.retryable).toBe(false);
  expect(`${info.code} ${info.message}`).toMatch(/certificate|CERT|self[- ]signed/i);
});

test('clients of one endpoint and subscription share a budget by default', () => {
  expect(sharedBudget(arm.endpoint, SUBSCRIPTION)).toBe(sharedBudget(`${arm.endpoint}/`, SUBSCRIPTION.toUpperCase()));
  expect(sharedBudget(arm.endpoint, SUBSCRIPTION)).not.toBe(sharedBudget('https://management.azure.com', SUBSCRIPTION));
  expect(() => createAzureClients({ subscriptionId: 'not-a-guid', credential: staticTokenCredential('t', { armEndpoint: arm.endpoint }) })).toThrow(/GUID/);
});
