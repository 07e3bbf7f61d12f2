// Attacks on the TLS to external servers, against the real apiserver and PostgreSQL:
// - verify-ca with a caSecretRef naming a CA that did NOT sign the server's certificate: the server is
//   trusted by another CA the operator knows (--postgres-ca-file, like any public root). verify-ca checks
//   no host name, so trusting more than the spec's CA lets any certificate those CAs signed stand in for
//   the server. It must be refused.
// - sslMode require on a default install (floor verify-full): Stalled TLSModeNotAllowed with an Event, and
//   not one connection made (a counting relay in front of the server), so the admin password never left.
// - an installer that allows require (--postgres-min-sslmode=require): require connects.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureCertificateAuthority } from '../../dev/env/pki.js';
import { testEnv } from '../../dev/env/testenv.js';
import { eventually } from '../runtime/helpers.js';
import { applyJson, cond, events, externalTd, getTd, waitCondition } from '../tenantdatabase/db-harness.js';
import { countingRelay, startHardeningHarness, type HardeningHarness } from './hardening-harness.js';

let lenient: HardeningHarness; // installer allows require and trusts the environment's CA for every server
let strict: HardeningHarness; // default install
const relays: Array<{ close: () => void }> = [];
const suffix = Date.now().toString(36);

beforeAll(async () => {
  lenient = await startHardeningHarness('tls-lenient', { caFile: testEnv().postgres.caFile, minSslMode: 'require' });
  strict = await startHardeningHarness('tls-strict');
});

afterAll(async () => {
  for (const r of relays) r.close();
  await lenient?.stop();
  await strict?.stop();
});

function withSslMode(td: ReturnType<typeof externalTd>, sslMode: string, caSecret?: string) {
  const ext = td.spec.server.external as Record<string, unknown>;
  ext.sslMode = sslMode;
  if (caSecret === undefined) delete ext.caSecretRef;
  else ext.caSecretRef = { name: caSecret, key: 'ca.crt' };
  return td;
}

describe('verify-ca trusts only the CA the spec gives', () => {
  test('a server certificate signed by another CA than caSecretRef is refused', async () => {
    const other = await ensureCertificateAuthority(fs.mkdtempSync(path.join(os.tmpdir(), 'tenant-ca-')));
    await applyJson({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'tenant-ca', namespace: lenient.ns }, stringData: { 'ca.crt': fs.readFileSync(other.certFile, 'utf8') } });
    const name = `vca-${suffix}`;
    await applyJson(withSslMode(externalTd(lenient.ns, name), 'verify-ca', 'tenant-ca'));
    const o = await waitCondition(lenient.ns, name, 'ServerReady', (c) => c.reason !== 'Unknown' && c.reason !== '' && c.status !== 'Unknown');
    expect(cond(o, 'ServerReady')).toMatchObject({ status: 'False', reason: 'ConnectionFailed', message: expect.stringMatching(/TLS|certificate/i) });
  });

  test('the same server with its own CA in caSecretRef is trusted under verify-ca', async () => {
    const name = `vca-ok-${suffix}`;
    await applyJson(withSslMode(externalTd(lenient.ns, name), 'verify-ca', 'pg-ca'));
    const o = await waitCondition(lenient.ns, name, 'ServerReady', (c) => c.status === 'True');
    expect(cond(o, 'ServerReady')?.reason).toBe('Reachable');
  });
});

describe('the installer\'s minimum sslMode', () => {
  test('sslMode require on a default install: Stalled TLSModeNotAllowed, an Event, and no connection made', async () => {
    const relay = await countingRelay();
    relays.push(relay);
    const name = `req-${suffix}`;
    await applyJson(withSslMode(externalTd(strict.ns, name, { host: '127.0.0.1', port: relay.port }), 'require'));
    const o = await waitCondition(strict.ns, name, 'ServerReady', (c) => c.status === 'True' || c.reason === 'TLSModeNotAllowed');
    expect(cond(o, 'ServerReady')).toMatchObject({ status: 'False', reason: 'TLSModeNotAllowed', message: expect.stringContaining('verify-full') });
    expect(cond(o, 'Stalled')).toMatchObject({ status: 'True', reason: 'TLSModeNotAllowed' });
    const ev = await eventually('TLSModeNotAllowed event', async () => (await events(strict.ns, name)).find((e) => e.reason === 'TLSModeNotAllowed'));
    expect(ev.type).toBe('Warning');
    // A second look (nudged by a status write) still connects nowhere.
    await new Promise((r) => setTimeout(r, 1_500));
    expect(relay.connections()).toBe(0);
    expect((await getTd(strict.ns, name))?.status?.serverState).not.toBe('Reachable');
  });

  test('an installer that allows require gets require', async () => {
    const relay = await countingRelay();
    relays.push(relay);
    const name = `req-ok-${suffix}`;
    await applyJson(withSslMode(externalTd(lenient.ns, name, { host: '127.0.0.1', port: relay.port }), 'require'));
    await waitCondition(lenient.ns, name, 'ServerReady', (c) => c.status === 'True');
    expect(relay.connections()).toBeGreaterThan(0);
  });
});
