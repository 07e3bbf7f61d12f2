// Nothing grows without bound, nothing hangs: a tenant can mint endless subscription ids and resource
// groups (each a cache key), so the caches of Azure clients, request budgets and server directories are
// LRU-bounded; and every PostgreSQL query has a client-side timeout, so a server that stops answering
// cannot hold a worker (against the environment's PostgreSQL).
import { afterAll, describe, expect, test } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { AZURE_CLIENTS_CACHE_MAX, azureClientsCacheSize, azureClientsFor, clearAzureClientsCache } from '../../src/azure/provider.js';
import { SHARED_BUDGETS_MAX, sharedBudgetCount } from '../../src/azure/budget.js';
import { SERVER_DIRECTORIES_MAX, serverDirectoryCount, serversOf } from '../../src/azure/arm/server-directory.js';
import { PostgresConnections } from '../../src/postgres/connections.js';
import type { AzureSettings } from '../../src/settings.js';
import { caPem, hostsFileFor, superuserConfig } from '../postgres/helpers.js';

const settings: AzureSettings = { cloud: 'AzurePublicCloud', armEndpoint: 'https://127.0.0.1:9', authorityHost: undefined, caFile: undefined, staticToken: 'bounded-test-token' };
// What the code paths would allow today at most; the bounds are far below the ids minted here.
const MINTED = 1_500;

afterAll(() => clearAzureClientsCache());

describe('caches keyed by what specs name stay bounded', () => {
  test(`${MINTED} distinct subscription ids: Azure clients and request budgets stay under their bounds`, () => {
    clearAzureClientsCache();
    for (let i = 0; i < MINTED; i += 1) azureClientsFor(settings, { subscriptionId: randomUUID() });
    expect(azureClientsCacheSize()).toBeLessThanOrEqual(Math.min(AZURE_CLIENTS_CACHE_MAX, 256));
    expect(sharedBudgetCount()).toBeLessThanOrEqual(Math.min(SHARED_BUDGETS_MAX, 256));
    // The most recent ones are still cached: the same clients come back.
    const sub = randomUUID();
    expect(azureClientsFor(settings, { subscriptionId: sub })).toBe(azureClientsFor(settings, { subscriptionId: sub }));
  });

  test(`${MINTED} distinct resource groups: server directories stay under their bound`, () => {
    const clients = azureClientsFor(settings, { subscriptionId: randomUUID() });
    for (let i = 0; i < MINTED; i += 1) serversOf(clients, `rg-${i}`);
    expect(serverDirectoryCount()).toBeLessThanOrEqual(Math.min(SERVER_DIRECTORIES_MAX, 1024));
    expect(serversOf(clients, 'rg-again')).toBe(serversOf(clients, 'rg-again'));
  });
});

describe('every PostgreSQL query has a client-side timeout', () => {
  const NAME = 'pg-primary.databases.svc.cluster.local';
  const opened: PostgresConnections[] = [];
  afterAll(async () => {
    await Promise.all(opened.map((c) => c.close()));
  });

  test('a query the server does not answer in time is abandoned by the client', async () => {
    // statement_timeout far away: only the client-side bound can end this query.
    const c = new PostgresConnections({ caFile: undefined, hostsFile: hostsFileFor([NAME]) }, { statementTimeoutMs: 120_000, queryTimeoutMs: 500 });
    opened.push(c);
    const s = superuserConfig();
    const t = { host: NAME, port: 5432, sslMode: 'verify-full' as const, caPem: caPem(), user: s.user as string, password: s.password as string, database: 'postgres' };
    const t0 = Date.now();
    const err = await c.query(t, 'SELECT pg_sleep(6)').then(() => undefined, (e: unknown) => e);
    expect(Date.now() - t0).toBeLessThan(4_000);
    expect(String((err as Error | undefined)?.message)).toMatch(/timeout/i);
  });
});
