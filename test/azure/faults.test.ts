// Faults injected through the emulator's control API, driven by the real SDK clients built by the
// operator's factory: 500s and 429s are retried until the call succeeds (the request log shows each
// attempt), Retry-After is honoured, a Failed long-running operation surfaces its code and message
// through classifyArmError, and 400s are not retried.
import { ArmMetrics } from '../../src/azure/metrics.js';
import { classifyArmError } from '../../src/azure/errors.js';
import type { AzureClients } from '../../src/azure/clients.js';
import { burstableServer, clientsFor, control, createResourceGroup, requestLog, startPrivateArm, type PrivateArm } from './fixtures.js';

const RG = 'faults-rg';

let arm: PrivateArm;
let clients: AzureClients;
const metrics = new ArmMetrics();

beforeAll(async () => {
  arm = await startPrivateArm('faults');
  clients = clientsFor(arm, { metrics });
  await createResourceGroup(clients, RG);
});

afterAll(async () => {
  await arm?.stop();
});

const attemptsOn = async (since: string, pathPart: RegExp) => (await requestLog(arm, since)).entries.filter((e) => pathPart.test(e.path));

test('injected 500s are retried and the call succeeds', async () => {
  const since = new Date().toISOString();
  await control(arm, 'POST', '/faults/requests', { method: 'PUT', path: 'actionGroups/retry-500$', status: 500, code: 'InternalServerError', count: 2 });
  const group = await clients.monitor.actionGroups.createOrUpdate(RG, 'retry-500', { location: 'Global', groupShortName: 'r500', enabled: true });
  expect(group.name).toBe('retry-500');
  const attempts = await attemptsOn(since, /actionGroups\/retry-500$/);
  expect(attempts.map((a) => a.status)).toEqual([500, 500, 201]);

  const counted = (await metrics.requests.get()).values.filter((v) => v.labels.resource_type === 'Microsoft.Insights/actionGroups' && v.labels.status_code === '500');
  expect(counted.reduce((n, v) => n + v.value, 0)).toBe(2);
});

test('injected 429s are retried after their Retry-After', async () => {
  const since = new Date().toISOString();
  await control(arm, 'POST', '/faults/requests', { method: 'PUT', path: 'actionGroups/retry-429$', status: 429, code: 'SubscriptionRequestsThrottled', retryAfterSeconds: 1, count: 1 });
  const started = performance.now();
  await clients.monitor.actionGroups.createOrUpdate(RG, 'retry-429', { location: 'Global', groupShortName: 'r429', enabled: true });
  expect(performance.now() - started).toBeGreaterThanOrEqual(1000);
  const attempts = await attemptsOn(since, /actionGroups\/retry-429$/);
  expect(attempts.map((a) => a.status)).toEqual([429, 201]);
});

test('a 429 that lost its Retry-After on the way is still retried, after ARM\'s minimum of 1 s', async () => {
  const since = new Date().toISOString();
  await control(arm, 'POST', '/faults/requests', { method: 'PUT', path: 'actionGroups/retry-429-bare$', status: 429, code: 'SubscriptionRequestsThrottled', count: 1 });
  const started = performance.now();
  await clients.monitor.actionGroups.createOrUpdate(RG, 'retry-429-bare', { location: 'Global', groupShortName: 'r429b', enabled: true });
  expect(performance.now() - started).toBeGreaterThanOrEqual(1000);
  expect((await attemptsOn(since, /actionGroups\/retry-429-bare$/)).map((a) => a.status)).toEqual([429, 201]);
});

test('retries stay bounded: a fault that outlasts them surfaces as a retryable error', async () => {
  const since = new Date().toISOString();
  const bounded = clientsFor(arm, { retry: { maxRetries: 2 } });
  await control(arm, 'POST', '/faults/requests', { method: 'GET', path: 'actionGroups/always-503$', status: 503, code: 'ServiceUnavailable', count: 10 });
  const err = await bounded.monitor.actionGroups.get(RG, 'always-503').catch((e: unknown) => e);
  expect(classifyArmError(err)).toMatchObject({ retryable: true, kind: 'server', statusCode: 503, code: 'ServiceUnavailable' });
  expect(await attemptsOn(since, /actionGroups\/always-503$/)).toHaveLength(3);
  await control(arm, 'POST', '/reset');
});

test('400s are not retried: injected and genuine', async () => {
  const since = new Date().toISOString();
  await control(arm, 'POST', '/faults/requests', { method: 'PUT', path: 'actionGroups/bad-request$', status: 400, code: 'InvalidParameterValue', message: 'Injected bad parameter.', count: 5 });
  const injected = await clients.monitor.actionGroups.createOrUpdate(RG, 'bad-request', { location: 'Global', groupShortName: 'bad', enabled: true }).catch((e: unknown) => e);
  expect(classifyArmError(injected)).toMatchObject({ retryable: false, kind: 'bad-request', statusCode: 400, code: 'InvalidParameterValue', message: 'Injected bad parameter.' });
  expect(await attemptsOn(since, /actionGroups\/bad-request$/)).toHaveLength(1);

  // groupShortName is limited to 12 characters by the swagger: the emulator's own validation answers 400.
  const genuine = await clients.monitor.actionGroups
    .createOrUpdate(RG, 'too-long', { location: 'Global', groupShortName: 'much-too-long-name', enabled: true })
    .catch((e: unknown) => e);
  expect(classifyArmError(genuine)).toMatchObject({ retryable: false, statusCode: 400 });
  expect(classifyArmError(genuine).message).toMatch(/groupShortName/);
  expect(await attemptsOn(since, /actionGroups\/too-long$/)).toHaveLength(1);
  await control(arm, 'POST', '/reset');
});

test('a Failed long-running operation surfaces its error code and message', async () => {
  await control(arm, 'POST', '/faults/operations', {
    method: 'PUT',
    path: 'flexibleServers/lro-fails$',
    code: 'ServerProvisioningFailed',
    message: 'The server could not be provisioned in the requested zone.',
    count: 1,
  });
  const err = await clients.postgres.servers
    .beginCreateOrUpdateAndWait(RG, 'lro-fails', burstableServer('Faults-test-Pa55'), { updateIntervalInMs: 50 })
    .catch((e: unknown) => e);
  const info = classifyArmError(err);
  expect(info).toMatchObject({ kind: 'operation-failed', code: 'ServerProvisioningFailed', retryable: false });
  expect(info.message).toContain('The server could not be provisioned in the requested zone.');
  expect(info.message).not.toContain('Faults-test-Pa55');
});

test('metric labels carry no names, ids or tokens', async () => {
  const text = await metrics.registry.metrics();
  expect(text).toMatch(/tenantdb_arm_requests_total\{method="PUT",resource_type="Microsoft.Insights\/actionGroups",status_code="201"\}/);
  expect(text).not.toMatch(/retry-500|faults-rg|lro-fails|emulator-static-token|5f1c3e2a/);
  expect(text).toMatch(/tenantdb_arm_budget_wait_seconds_count\{category="writes"\}/);
});
