// Classification of SDK failures. The integration tests (faults.test.ts) drive the same function with
// errors thrown by the real SDK clients; these cases pin the table itself.
import { RestError, createHttpHeaders, createPipelineRequest, type PipelineResponse } from '@azure/core-rest-pipeline';
import { classifyArmError, scrubSecrets } from '../../src/azure/errors.js';

function restError(status: number, code: string, message: string, headers: Record<string, string> = {}): RestError {
  const request = createPipelineRequest({ url: 'https://management.azure.com/subscriptions/s' });
  const response: PipelineResponse = { request, status, headers: createHttpHeaders(headers), bodyAsText: JSON.stringify({ error: { code, message } }) };
  const err = new RestError(message, { statusCode: status, code, request, response });
  err.details = { error: { code, message } };
  return err;
}

describe('classifyArmError', () => {
  test.each([
    [429, 'SubscriptionRequestsThrottled', true, 'throttled'],
    [409, 'ServerIsBusy', true, 'conflict'],
    [409, 'OperationInProgress', true, 'conflict'],
    [409, 'AnotherOperationInProgress', true, 'conflict'],
    [409, 'NameAlreadyExists', false, 'conflict'],
    [500, 'InternalServerError', true, 'server'],
    [503, 'ServiceUnavailable', true, 'server'],
    [400, 'InvalidParameterValue', false, 'bad-request'],
    [401, 'AuthenticationFailed', false, 'unauthorized'],
    [403, 'AuthorizationFailed', false, 'forbidden'],
    [404, 'ResourceNotFound', false, 'not-found'],
    [400, 'QuotaExceeded', false, 'quota'],
    [409, 'QuotaExceeded', false, 'quota'],
  ])('%i %s → retryable=%s (%s)', (status, code, retryable, kind) => {
    const info = classifyArmError(restError(status, code, `message for ${code}`));
    expect(info).toMatchObject({ retryable, kind, code, statusCode: status, message: `message for ${code}` });
  });

  test('keeps Retry-After of a throttled response', () => {
    expect(classifyArmError(restError(429, 'SubscriptionRequestsThrottled', 'slow down', { 'Retry-After': '17' })).retryAfterMs).toBe(17_000);
  });

  test('network failures without a response are retryable', () => {
    const err = new RestError('socket hang up', { code: 'ECONNRESET' });
    expect(classifyArmError(err)).toMatchObject({ retryable: true, kind: 'network', code: 'ECONNRESET' });
    expect(classifyArmError(new RestError('connect failed', { code: RestError.REQUEST_SEND_ERROR }))).toMatchObject({ retryable: true, kind: 'network' });
  });

  test('a failed long-running operation keeps its code and message (core-lro wording)', () => {
    const err = new Error('The long-running operation has failed. ServerProvisioningFailed. The server could not be provisioned. Retry later.');
    expect(classifyArmError(err)).toEqual({
      retryable: false,
      kind: 'operation-failed',
      code: 'ServerProvisioningFailed',
      message: 'The server could not be provisioned. Retry later.',
    });
    expect(classifyArmError(new Error('The long-running operation has failed. InternalServerError. boom'))).toMatchObject({ retryable: true, code: 'InternalServerError' });
    expect(classifyArmError(new Error('The long-running operation has failed'))).toMatchObject({ code: 'OperationFailed', retryable: false });
  });

  test('tokens never reach the classified message', () => {
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJvaWQiOiIxMjM0NTY3OCJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ';
    const info = classifyArmError(restError(401, 'InvalidAuthenticationToken', `The token Bearer ${jwt} is invalid; client_secret=hunter2`));
    expect(info.message).not.toContain(jwt);
    expect(info.message).not.toContain('hunter2');
    expect(scrubSecrets(`x ${jwt} y`)).toBe('x [REDACTED] y');
  });

  test('anything else is terminal and unknown', () => {
    expect(classifyArmError('weird')).toMatchObject({ retryable: false, kind: 'unknown' });
    expect(classifyArmError(new TypeError('bad'))).toMatchObject({ retryable: false, kind: 'unknown', code: 'TypeError' });
  });
});
