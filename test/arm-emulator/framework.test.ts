// The emulator core on its own: api-version checks, throttling buckets (429 + Retry-After), injected
// faults and latency, the request log, LRO polling documents, and the spec's example request bodies.
import fs from 'node:fs';
import path from 'node:path';
import { POSTGRES_SPEC_DIR } from '../../dev/arm-emulator/framework/swagger.js';
import { LOCATION, SUB, createResourceGroup, rawCall, requireSpecs, startHarness, type Harness } from './fixtures.js';

let h: Harness;

function jwt(claims: Record<string, unknown>): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.sig`;
}

const rgPath = (name: string, sub = SUB) => `/subscriptions/${sub}/resourcegroups/${name}?api-version=2024-11-01`;

beforeAll(async () => {
  h = await startHarness('framework');
});

afterAll(async () => {
  await h?.stop();
});

afterEach(async () => {
  await h.control.reset();
  await h.control.configureLro({ defaultDurationMs: 50, retryAfterSeconds: 0 });
});

test('api-version is required and checked per resource type', async () => {
  await createResourceGroup(h, 'rg-api');
  const base = `/subscriptions/${SUB}/resourceGroups/rg-api/providers/Microsoft.DBforPostgreSQL/flexibleServers`;
  const missing = await rawCall(h, 'GET', base);
  expect(missing).toMatchObject({ status: 400, body: { error: { code: 'MissingApiVersionParameter' } } });
  const unsupported = await rawCall(h, 'GET', `${base}?api-version=2099-01-01`);
  expect(unsupported).toMatchObject({ status: 400, body: { error: { code: 'NoRegisteredProviderFound' } } });
  expect((unsupported.body as { error: { message: string } }).error.message).toContain('2025-08-01');
  const malformed = await rawCall(h, 'GET', `${base}?api-version=latest`);
  expect(malformed).toMatchObject({ status: 400, body: { error: { code: 'InvalidApiVersionParameter' } } });
  const unknownType = await rawCall(h, 'GET', `/subscriptions/${SUB}/resourceGroups/rg-api/providers/Microsoft.DBforPostgreSQL/notAType/x?api-version=2025-08-01`);
  expect(unknownType).toMatchObject({ status: 404, body: { error: { code: 'InvalidResourceType' } } });
  const supported = await rawCall(h, 'GET', `${base}?api-version=2025-08-01`);
  expect(supported).toMatchObject({ status: 200, body: { value: [] } });
});

test('writes are throttled per subscription and principal with 429, Retry-After and remaining-writes headers', async () => {
  await h.control.configureThrottling({ writes: { capacity: 3, refillPerSecond: 0.5 } });
  const alice = jwt({ oid: '11111111-1111-1111-1111-111111111111' });
  const bob = jwt({ oid: '22222222-2222-2222-2222-222222222222' });
  const remaining: string[] = [];
  for (let i = 0; i < 3; i++) {
    const res = await rawCall(h, 'PUT', rgPath(`rg-throttle-${i}`), { body: { location: LOCATION }, token: alice });
    expect(res.status).toBe(201);
    remaining.push(String(res.headers['x-ms-ratelimit-remaining-subscription-writes']));
  }
  expect(remaining).toEqual(['2', '1', '0']);
  const throttled = await rawCall(h, 'PUT', rgPath('rg-throttle-x'), { body: { location: LOCATION }, token: alice });
  expect(throttled.status).toBe(429);
  expect(throttled.body).toMatchObject({ error: { code: 'SubscriptionRequestsThrottled' } });
  expect(Number(throttled.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  // Another principal has its own bucket; reads use the read bucket.
  expect((await rawCall(h, 'PUT', rgPath('rg-throttle-bob'), { body: { location: LOCATION }, token: bob })).status).toBe(201);
  const read = await rawCall(h, 'GET', rgPath('rg-throttle-0'), { token: alice });
  expect(read.status).toBe(200);
  expect(Number(read.headers['x-ms-ratelimit-remaining-subscription-reads'])).toBeGreaterThan(100);
  expect((await h.control.requests()).counts.throttled).toBe(1);
});

test('injected 500s and 429s are retried by the SDK; the request log shows every attempt', async () => {
  await createResourceGroup(h, 'rg-faults');
  await h.control.clearRequests();
  await h.control.failRequests({ method: 'GET', path: '/flexibleServers$', status: 500, code: 'InternalServerError', count: 1 });
  await h.control.failRequests({ method: 'GET', path: '/flexibleServers$', status: 429, code: 'TooManyRequests', retryAfterSeconds: 0, count: 1 });
  const servers = [];
  for await (const s of h.client.servers.listByResourceGroup('rg-faults')) servers.push(s);
  expect(servers).toEqual([]);
  const log = await h.control.requests();
  const lists = log.entries.filter((e) => e.method === 'GET' && e.path.endsWith('/flexibleServers'));
  expect(lists.map((e) => e.status)).toEqual([500, 429, 200]);
  expect(lists.map((e) => e.apiVersion)).toEqual(['2025-08-01', '2025-08-01', '2025-08-01']);
  expect(lists[0]!.code).toBe('InternalServerError');
});

test('latency can be added per call', async () => {
  await createResourceGroup(h, 'rg-latency');
  await h.control.addLatency({ method: 'GET', path: '/resourcegroups/rg-latency$', ms: 300, count: 1 });
  const t0 = Date.now();
  expect((await rawCall(h, 'GET', rgPath('rg-latency'))).status).toBe(200);
  expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
});

test('LROs answer 202 with Azure-AsyncOperation, Location and Retry-After; polls are logged as poll', async () => {
  await createResourceGroup(h, 'rg-lro');
  await h.control.configureLro({ retryAfterSeconds: 1 });
  await h.control.pauseOperations({ method: 'DELETE', path: '/resourcegroups/rg-lro$' });
  const res = await rawCall(h, 'DELETE', rgPath('rg-lro'));
  expect(res.status).toBe(202);
  expect(res.headers['retry-after']).toBe('1');
  const location = new URL(String(res.headers.location));
  const running = await rawCall(h, 'GET', location.pathname + location.search);
  expect(running.status).toBe(202);
  const op = (await h.control.operations()).find((o) => o.action === 'resourceGroups.delete')!;
  const statusPath = `/subscriptions/${SUB}/providers/Microsoft.Resources/locations/${LOCATION}/azureAsyncOperation/${op.id}`;
  expect((await rawCall(h, 'GET', statusPath)).body).toMatchObject({ status: 'InProgress', name: op.id });
  await h.control.resumeOperation(op.id);
  await new Promise((r) => setTimeout(r, 200));
  expect((await rawCall(h, 'GET', statusPath)).body).toMatchObject({ status: 'Succeeded', percentComplete: 100 });
  expect((await rawCall(h, 'GET', location.pathname + location.search)).status).toBe(204);
  expect((await rawCall(h, 'GET', rgPath('rg-lro'))).body).toMatchObject({ error: { code: 'ResourceGroupNotFound' } });
  const counts = (await h.control.requests()).counts;
  expect(counts.poll).toBeGreaterThanOrEqual(4);
  expect(counts.delete).toBeGreaterThanOrEqual(1);
});

test('an LRO status document validates against common-types OperationStatusResult', async () => {
  if (!requireSpecs(h.emu.ctx.specs)) return;
  await createResourceGroup(h, 'rg-opstatus');
  await h.control.failOperations({ method: 'DELETE', path: '/resourcegroups/rg-opstatus$', code: 'Conflict', message: 'Injected.' });
  await rawCall(h, 'DELETE', rgPath('rg-opstatus'));
  await new Promise((r) => setTimeout(r, 200));
  const op = (await h.control.operations()).find((o) => o.action === 'resourceGroups.delete' && o.status === 'Failed')!;
  const doc = (await rawCall(h, 'GET', `/subscriptions/${SUB}/providers/Microsoft.Resources/locations/${LOCATION}/azureAsyncOperation/${op.id}`)).body;
  expect(doc).toMatchObject({ status: 'Failed', error: { code: 'Conflict', message: 'Injected.' } });
  const schema = `${h.emu.ctx.specs.refUrl({ file: 'specification/common-types/resource-management/v5/types.json', definition: 'OperationStatusResult' })}`;
  expect(h.emu.ctx.specs.validate(schema, doc)).toEqual([]);
});

describe("the spec's example request bodies are accepted", () => {
  const EX_SUB = 'ffffffff-ffff-ffff-ffff-ffffffffffff';
  const examplesDir = () => path.join(h.emu.ctx.specs.root, POSTGRES_SPEC_DIR, 'examples');

  interface Example {
    parameters: Record<string, unknown>;
  }
  const load = (name: string) => JSON.parse(fs.readFileSync(path.join(examplesDir(), name), 'utf8')) as Example;

  /** Sends an example's request the way the SDK would (path from the operation's template, the example's body). */
  async function send(file: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    const ex = load(file);
    const p = ex.parameters as Record<string, string>;
    const op = h.emu.ctx.specs.operations.find((o) => o.file.startsWith(POSTGRES_SPEC_DIR) && exampleOperation(file) === o.operationId)!;
    const urlPath = op.template.replace(/\{(\w+)\}/g, (_m, k: string) => encodeURIComponent(p[k]!));
    return rawCall(h, op.method, `${urlPath}?api-version=${p['api-version']}`, body === undefined && ex.parameters.parameters === undefined ? {} : { body: body ?? ex.parameters.parameters });
  }

  function exampleOperation(file: string): string {
    const map: Record<string, string> = {
      'AdministratorsMicrosoftEntraAdd.json': 'AdministratorsMicrosoftEntra_CreateOrUpdate',
      'BackupsAutomaticAndOnDemandCreate.json': 'BackupsAutomaticAndOnDemand_Create',
      'ConfigurationsUpdate.json': 'Configurations_Update',
      'DatabasesCreate.json': 'Databases_Create',
      'FirewallRulesCreateOrUpdate.json': 'FirewallRules_CreateOrUpdate',
      'ServersCreateGeoRestoreWithDataEncryptionEnabled.json': 'Servers_CreateOrUpdate',
      'ServersCreateInMicrosoftOwnedVirtualNetworkWithZoneRedundantHighAvailability.json': 'Servers_CreateOrUpdate',
      'ServersCreatePointInTimeRestore.json': 'Servers_CreateOrUpdate',
      'ServersCreateReplica.json': 'Servers_CreateOrUpdate',
      'ServersRestartWithFailover.json': 'Servers_Restart',
      'ServersUpdate.json': 'Servers_Update',
    };
    return map[file]!;
  }

  async function waitOp(action: string, status: string): Promise<void> {
    for (let i = 0; i < 1200; i++) {
      const ops = (await h.control.operations()).filter((o) => o.action === action && o.subscriptionId === EX_SUB);
      if (ops.some((o) => o.status === status)) return;
      const failed = ops.find((o) => o.status === 'Failed');
      if (failed) throw new Error(`${action} failed: ${JSON.stringify(failed.error)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no ${action} operation reached ${status}`);
  }

  /** Waits until no operation is in flight (server creates run initdb: allow for a loaded machine). */
  async function waitIdle(): Promise<void> {
    for (let i = 0; i < 1200 && (await h.control.operations()).some((o) => o.status === 'InProgress'); i++) await new Promise((r) => setTimeout(r, 50));
  }

  test('every example with a request body validates against its swagger definition', () => {
    if (!requireSpecs(h.emu.ctx.specs)) return;
    const files = fs.readdirSync(examplesDir()).filter((f) => f.endsWith('.json'));
    let checked = 0;
    for (const f of files) {
      const body = load(f).parameters.parameters;
      const opId = exampleOperation(f);
      if (body === undefined || !opId) continue;
      const op = h.emu.ctx.specs.operations.find((o) => o.operationId === opId)!;
      expect({ file: f, errors: h.emu.ctx.specs.validate(op.bodySchema!, body) }).toEqual({ file: f, errors: [] });
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(10);
  });

  test('the emulator answers 202 to each of them', async () => {
    if (!requireSpecs(h.emu.ctx.specs)) return;
    await createResourceGroup(h, 'exampleresourcegroup', EX_SUB);
    // The source server the restore and replica examples name: in westus with geo-redundant backup, since
    // the geo-restore example creates its server in eastus (westus's paired region).
    await rawCall(h, 'PUT', `/subscriptions/${EX_SUB}/resourceGroups/exampleresourcegroup/providers/Microsoft.DBforPostgreSQL/flexibleServers/examplesourceserver?api-version=2025-08-01`, {
      body: { location: 'westus', properties: { administratorLogin: 'sourceadmin', administratorLoginPassword: 'S0urce-Passw0rd!', version: '17', backup: { geoRedundantBackup: 'Enabled' } } },
    });
    await waitOp('servers.create', 'Succeeded');

    // Restore / replica / geo-restore all target `exampleserver`: each is accepted (202), then made to fail
    // so the next one can use the name and no extra PostgreSQL is started.
    for (const f of ['ServersCreatePointInTimeRestore.json', 'ServersCreateReplica.json', 'ServersCreateGeoRestoreWithDataEncryptionEnabled.json']) {
      await h.control.failOperations({ method: 'PUT', path: '/flexibleServers/exampleserver$', code: 'ExampleNotRun', message: 'stopped by the test' });
      const body = structuredClone(load(f).parameters.parameters) as { properties: Record<string, unknown> };
      // The example's restore point (2025) predates the source created now; only that value is moved.
      if (f !== 'ServersCreateReplica.json') body.properties.pointInTimeUTC = new Date().toISOString();
      const res = await send(f, body);
      expect({ f, status: res.status, body: res.body }).toEqual({ f, status: 202, body: undefined });
      await waitIdle();
    }

    const create = await send('ServersCreateInMicrosoftOwnedVirtualNetworkWithZoneRedundantHighAvailability.json');
    expect(create.status).toBe(202);
    await waitIdle();
    for (const f of [
      'ServersUpdate.json',
      'DatabasesCreate.json',
      'FirewallRulesCreateOrUpdate.json',
      'ConfigurationsUpdate.json',
      'AdministratorsMicrosoftEntraAdd.json',
      'BackupsAutomaticAndOnDemandCreate.json',
      'ServersRestartWithFailover.json',
    ]) {
      const res = await send(f);
      expect({ f, status: res.status, body: res.body }).toEqual({ f, status: 202, body: undefined });
      await waitIdle();
    }
    const failed = (await h.control.operations()).filter((o) => o.subscriptionId === EX_SUB && o.status === 'Failed' && o.error?.code !== 'ExampleNotRun');
    expect(failed).toEqual([]);
    const server = await rawCall(h, 'GET', `/subscriptions/${EX_SUB}/resourceGroups/exampleresourcegroup/providers/Microsoft.DBforPostgreSQL/flexibleServers/exampleserver?api-version=2025-08-01`);
    expect(server.body).toMatchObject({ sku: { name: 'Standard_D8s_v3' }, properties: { state: 'Ready', storage: { storageSizeGB: 1024 }, highAvailability: { mode: 'ZoneRedundant' } } });
  });
});
