// The emulator as the local environment runs it (main.ts started by jest's global setup): the SDK, trusting
// the harness CA, creates a server whose PostgreSQL accepts the administrator at the mapped FQDN.
import fs from 'node:fs';
import pg from 'pg';
import { testEnv } from '../../dev/env/testenv.js';
import { EmulatorControl } from '../../dev/arm-emulator/control-client.js';
import { createAzureClients } from '../../src/azure/clients.js';
import { staticTokenCredential } from '../../src/azure/credentials.js';
import { LOCATION } from './fixtures.js';

const SUB = '9d2c4b6a-1e3f-4a5b-8c7d-0e1f2a3b4c5d';
const RG = `rg-env-${process.pid}`;
const arm = testEnv().arm;
const maybe = arm ? test : test.skip;
if (!arm) console.warn('SKIPPED: the test environment runs without the ARM emulator (TENANTDB_TEST_NO_ARM)');

maybe('the environment emulator serves the SDK and backs servers with PostgreSQL at the mapped FQDN', async () => {
  const env = arm!;
  const caPem = fs.readFileSync(env.caFile, 'utf8');
  const control = new EmulatorControl(env.controlEndpoint, env.caFile);
  expect(await control.health()).toMatchObject({ ok: true });
  const { postgres } = createAzureClients({
    subscriptionId: SUB,
    armEndpoint: env.endpoint,
    credential: staticTokenCredential('local-environment-test', { armEndpoint: env.endpoint }),
    caCertPem: caPem,
  });
  const { createHttpHeaders, createPipelineRequest } = await import('@azure/core-rest-pipeline');
  const rg = await postgres.sendRequest(
    createPipelineRequest({
      url: `${env.endpoint}/subscriptions/${SUB}/resourcegroups/${RG}?api-version=2024-11-01`,
      method: 'PUT',
      headers: createHttpHeaders({ 'content-type': 'application/json' }),
      body: JSON.stringify({ location: LOCATION }),
    }),
  );
  expect(rg.status).toBe(201);
  const name = `env-pg-${process.pid}`;
  const server = await postgres.servers.beginCreateOrUpdateAndWait(
    RG,
    name,
    { location: LOCATION, sku: { name: 'Standard_B1ms', tier: 'Burstable' }, administratorLogin: 'envadmin', administratorLoginPassword: 'Env-Passw0rd!', version: '17' },
    { updateIntervalInMs: 200 },
  );
  try {
    const fqdn = server.fullyQualifiedDomainName!;
    const hosts = JSON.parse(fs.readFileSync(env.hostsFile, 'utf8')) as Record<string, { host: string; port: number }>;
    const c = new pg.Client({ host: hosts[fqdn]!.host, port: hosts[fqdn]!.port, user: 'envadmin', password: 'Env-Passw0rd!', database: 'postgres', ssl: { ca: caPem, servername: fqdn } });
    await c.connect();
    try {
      expect((await c.query('SELECT current_user AS u')).rows[0].u).toBe('envadmin');
    } finally {
      await c.end();
    }
  } finally {
    await postgres.servers.beginDeleteAndWait(RG, name, { updateIntervalInMs: 200 });
  }
}, 120_000);
