// The token checks behind database logins (entra/token-check.ts) and the LDAP bind DN they arrive with, as
// pure functions: each refusal for its own reason.
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { parseBindDn } from '../../dev/arm-emulator/entra/database-login.js';
import { OSSRDBMS_AUDIENCE, checkAccessToken } from '../../dev/arm-emulator/entra/token-check.js';
import { parseLabel } from '../../dev/arm-emulator/postgresql/pgaadauth.js';

const ISS = 'https://127.0.0.1:1234/tenant-1/v2.0';
const NOW = 1_800_000_000;
const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

function jwt(claims: Record<string, unknown>, key: KeyObject = keys.privateKey, alg = 'RS256'): string {
  const head = `${b64({ alg, typ: 'JWT' })}.${b64(claims)}`;
  return `${head}.${sign('sha256', Buffer.from(head), key).toString('base64url')}`;
}
const good = { iss: ISS, aud: OSSRDBMS_AUDIENCE, exp: NOW + 60, nbf: NOW - 60, oid: 'o-1' };
const check = (t: string) => checkAccessToken(t, { key: keys.publicKey, issuers: [ISS], audience: OSSRDBMS_AUDIENCE, nowSeconds: NOW });

test('a well-formed token passes and yields its claims', () => {
  expect(check(jwt(good))).toEqual({ ok: true, claims: good });
});

test.each([
  ['another key', jwt(good, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey), /signature/],
  ['HS256 header', jwt(good, keys.privateKey, 'HS256'), /RS256/],
  ['another issuer', jwt({ ...good, iss: 'https://elsewhere/tenant-1/v2.0' }), /issuer/],
  ['another audience', jwt({ ...good, aud: 'https://management.azure.com' }), /audience/],
  ['expired', jwt({ ...good, exp: NOW }), /expired/],
  ['not yet valid', jwt({ ...good, nbf: NOW + 10 }), /not yet valid/],
  ['not a JWT', 'abc.def', /not a JWT/],
])('refused: %s', (_what, token, reason) => {
  const r = check(token);
  expect(r.ok).toBe(false);
  expect(r.ok ? '' : r.reason).toMatch(reason);
});

test('bind DN: role names may hold commas, the server key comes last', () => {
  expect(parseBindDn('cn=team, ops,ou=srv-1,dc=pgaadauth')).toEqual({ role: 'team, ops', serverKey: 'srv-1' });
  expect(parseBindDn('cn=x,dc=pgaadauth')).toBeUndefined();
  expect(parseBindDn('uid=x,ou=s,dc=pgaadauth')).toBeUndefined();
});

test("pgaadauth labels in Azure's format", () => {
  expect(parseLabel('aadauth,oid=AB-1,type=service,admin')).toEqual({ objectId: 'ab-1', type: 'service', admin: true });
  expect(parseLabel('aadauth,oid=c,type=group')).toEqual({ objectId: 'c', type: 'group', admin: false });
  expect(parseLabel('other,oid=c,type=group')).toBeUndefined();
  expect(parseLabel(null)).toBeUndefined();
});
