// Pure logic of the emulator core: routing, token buckets, principal extraction, server-parameter values.
import { ArmError } from '../../dev/arm-emulator/framework/errors.js';
import { Router } from '../../dev/arm-emulator/framework/router.js';
import { principalOf } from '../../dev/arm-emulator/framework/server.js';
import { Throttler } from '../../dev/arm-emulator/framework/throttle.js';
import { checkParameterValue, findParameter } from '../../dev/arm-emulator/postgresql/parameters.js';

describe('Router', () => {
  const router = new Router();
  const handler = () => ({ status: 200 });
  router.add({ method: 'GET', path: '/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}', apiVersions: [], resourceType: 'rg', handler });
  router.add({ method: 'GET', path: '/subscriptions/{subscriptionId}/providers/{namespace}/locations/{location}/operationResults/{id}', apiVersions: [], resourceType: 'op', handler });
  router.add({ method: 'GET', path: '/subscriptions/{subscriptionId}/providers/Microsoft.X/locations/{location}/{kind}/{id}', apiVersions: [], resourceType: 'generic', handler });

  test('matches case-insensitively and decodes parameters', () => {
    const m = router.match('GET', '/SUBSCRIPTIONS/abc/resourcegroups/my%20rg');
    expect(m.params).toEqual({ subscriptionId: 'abc', resourceGroupName: 'my rg' });
  });

  test('the template with more literal segments wins', () => {
    expect(router.match('GET', '/subscriptions/s/providers/Microsoft.X/locations/eastus/operationResults/1').route.resourceType).toBe('op');
  });

  test('unknown paths answer 404, known paths with another method 405', () => {
    expect(() => router.match('GET', '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Nope/things/x')).toThrow(
      expect.objectContaining({ status: 404, code: 'InvalidResourceType' }) as unknown as Error,
    );
    const err = (() => {
      try {
        router.match('DELETE', '/subscriptions/s/resourceGroups/rg');
      } catch (e) {
        return e as ArmError;
      }
      return undefined;
    })();
    expect(err).toMatchObject({ status: 405 });
  });
});

describe('Throttler', () => {
  test('a bucket empties, answers 429 with Retry-After, and refills at its rate', () => {
    const t = new Throttler();
    t.configure({ deletes: { capacity: 2, refillPerSecond: 0.5 } });
    const now = 1_000_000;
    expect(t.take('sub', 'p', 'delete', now)).toEqual({ 'x-ms-ratelimit-remaining-subscription-deletes': '1' });
    expect(t.take('sub', 'p', 'delete', now)).toEqual({ 'x-ms-ratelimit-remaining-subscription-deletes': '0' });
    let thrown: ArmError | undefined;
    try {
      t.take('sub', 'p', 'delete', now);
    } catch (e) {
      thrown = e as ArmError;
    }
    expect(thrown).toMatchObject({ status: 429, code: 'SubscriptionRequestsThrottled', headers: { 'Retry-After': '2' } });
    // Two seconds later one token is back.
    expect(t.take('sub', 'p', 'delete', now + 2000)).toEqual({ 'x-ms-ratelimit-remaining-subscription-deletes': '0' });
    // Polls draw on the read bucket, other principals have their own buckets.
    expect(t.take('sub', 'p', 'poll', now)).toEqual({ 'x-ms-ratelimit-remaining-subscription-reads': '249' });
    expect(t.take('sub', 'q', 'delete', now)).toEqual({ 'x-ms-ratelimit-remaining-subscription-deletes': '1' });
  });
});

describe('principalOf', () => {
  const jwt = (claims: object) => `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.x`;
  test('uses the oid claim, then appid, of a JWT', () => {
    expect(principalOf(jwt({ oid: 'o-1', appid: 'a-1' }))).toBe('o-1');
    expect(principalOf(jwt({ appid: 'a-1' }))).toBe('a-1');
  });
  test('hashes opaque tokens without revealing them', () => {
    const p = principalOf('opaque-secret-token');
    expect(p).toMatch(/^token-[0-9a-f]{16}$/);
    expect(p).not.toContain('secret');
    expect(principalOf('opaque-secret-token')).toBe(p);
  });
});

describe('server parameter values', () => {
  test('integers are range-checked, booleans and sets normalised', () => {
    const mc = findParameter('max_connections')!;
    expect(checkParameterValue(mc, '120')).toEqual({ value: '120' });
    expect(checkParameterValue(mc, '10')).toHaveProperty('error');
    expect(checkParameterValue(mc, '12x')).toHaveProperty('error');
    expect(checkParameterValue(findParameter('log_connections')!, 'OFF')).toEqual({ value: 'off' });
    expect(checkParameterValue(findParameter('azure.extensions')!, 'CITEXT, pg_trgm,citext')).toEqual({ value: 'citext,pg_trgm' });
    expect(checkParameterValue(findParameter('azure.extensions')!, 'citext,plpython3u')).toHaveProperty('error');
    expect(checkParameterValue(findParameter('log_min_duration_statement')!, '-1')).toEqual({ value: '-1' });
    expect(checkParameterValue(findParameter('timezone')!, "UTC'; DROP")).toHaveProperty('error');
  });
});
