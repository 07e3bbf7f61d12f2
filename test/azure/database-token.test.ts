// The database token cache (src/azure/database-token.ts) with a credential that counts its calls and a
// clock the test moves: one fetch per token lifetime whatever the number of callers, refreshed before
// expiry, concurrent callers sharing one fetch. The figure the README gives (tokens fetched per hour at
// 100 databases) is computed here from that policy with Entra's usual token lifetime.
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import { DatabaseTokenSource, DATABASE_TOKEN_SCOPE, REFRESH_BEFORE_EXPIRY_MS } from '../../src/azure/database-token.js';

const HOUR = 3_600_000;

function countingCredential(clock: { now: number }, lifetimeMs: number) {
  const calls: string[] = [];
  const credential: TokenCredential = {
    async getToken(scope) {
      calls.push(String(scope));
      const payload = Buffer.from(JSON.stringify({ oid: 'ABC-1' })).toString('base64url');
      return { token: `h.${payload}.s${calls.length}`, expiresOnTimestamp: clock.now + lifetimeMs } as AccessToken;
    },
  };
  return { credential, calls };
}

test('one fetch serves every caller until shortly before expiry; concurrent callers share one fetch', async () => {
  const clock = { now: 1_000_000 };
  const { credential, calls } = countingCredential(clock, HOUR);
  const src = new DatabaseTokenSource(credential, () => clock.now);
  const first = await Promise.all(Array.from({ length: 20 }, () => src.get()));
  expect(calls).toEqual([DATABASE_TOKEN_SCOPE]);
  expect(new Set(first.map((t) => t.token)).size).toBe(1);
  expect(first[0]!.objectId).toBe('abc-1');
  clock.now += HOUR - REFRESH_BEFORE_EXPIRY_MS - 1;
  await src.get();
  expect(calls.length).toBe(1);
  clock.now += 2;
  expect((await src.get()).token).not.toBe(first[0]!.token);
  expect(calls.length).toBe(2);
});

test('tokens fetched per hour at 100 databases reconciled every 10 s: about one per identity', async () => {
  // Entra's access tokens for a service principal live 60-90 minutes; 60 is the worst case.
  for (const identities of [1, 100]) {
    const clock = { now: 0 };
    // `identities` credentials share the 100 databases (1: the operator's own identity; 100: a credentials Secret each).
    const creds = Array.from({ length: identities }, () => countingCredential(clock, HOUR));
    const sources = creds.map((c) => new DatabaseTokenSource(c.credential, () => clock.now));
    for (let t = 0; t < 10 * HOUR; t += 10_000) {
      clock.now = t;
      for (let db = 0; db < 100; db++) await sources[db % identities]!.get();
    }
    const perHour = creds.reduce((n, c) => n + c.calls.length, 0) / 10;
    // 60 min tokens refreshed 5 min early: one fetch per 55 min, 1.09 per identity and hour.
    expect(perHour).toBeGreaterThanOrEqual(identities);
    expect(perHour).toBeLessThanOrEqual(identities * 1.2);
    console.log(`database tokens fetched per hour, 100 databases, ${identities} identit${identities === 1 ? 'y' : 'ies'}: ${perHour.toFixed(2)}`);
  }
});
