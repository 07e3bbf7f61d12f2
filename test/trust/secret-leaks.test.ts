// Secrets stay secret on every error path, against the real parts: a pg error that names the password
// (an admin Secret whose username key holds the password by mistake), and an AlertRuleSet webhook URI
// with a token that the ARM emulator rejects and echoes back percent-encoded (fault injection with
// echoBody). Then the operator's captured pino output, every Event and the status of every object in the
// namespace, and the /metrics text are searched for the secrets in every encoding: zero hits.
// The scrubber's patterns (JSON-quoted keys, escaped URIs, connection strings) are checked directly too.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { registerAlertRuleSetController } from '../../controllers/alertruleset/index.js';
import { registerTenantDatabaseController } from '../../controllers/tenantdatabase/index.js';
import { scrubDeep, scrubSecrets } from '../../src/runtime/scrub.js';
import { metricsRegistry } from '../../src/runtime/metrics.js';
import { EmulatorControl } from '../../dev/arm-emulator/control-client.js';
import { eventually, run } from '../runtime/helpers.js';
import { serverAndDatabase, startControllerHarness, type ControllerHarness } from '../alertruleset/fixtures.js';
import { applyJson, cond, externalTd, waitCondition } from '../tenantdatabase/db-harness.js';
import { startHardeningHarness, type HardeningHarness } from './hardening-harness.js';

const PG_SECRET = `Pw-${Date.now().toString(36)}-Sw4pped/Key+x`;
const WEBHOOK_TOKEN = `tok${Date.now().toString(36)}Zq9`;
const WEBHOOK = `https://hooks.example.com/services/T01/B02/${WEBHOOK_TOKEN}?token=${WEBHOOK_TOKEN}`;

const forms = (v: string) => [v, encodeURIComponent(v), JSON.stringify(v).slice(1, -1), JSON.stringify(JSON.stringify(v)).slice(1, -1), v.replace(/\//g, '\\/')];

async function everything(ns: string): Promise<string> {
  const events = await run(['get', 'events.events.k8s.io', '-n', ns, '-o', 'json']);
  const objects = await run(['get', 'tenantdatabases.tenantdb.io,alertrulesets.tenantdb.io', '-n', ns, '-o', 'json']);
  return `${events}\n${objects}`;
}

function hits(text: string, secret: string): string[] {
  return forms(secret).filter((f) => text.includes(f));
}

let pgh: HardeningHarness;
let arh: ControllerHarness;

beforeAll(async () => {
  pgh = await startHardeningHarness('leak-pg', {}, registerTenantDatabaseController);
  arh = await startControllerHarness('leak-ars');
  await serverAndDatabase(arh, { rg: 'leak-rg', server: 'leak-pg-1', td: 'leak-db' });
  await arh.startManager(registerAlertRuleSetController);
}, 180_000);

afterAll(async () => {
  await pgh?.stop();
  await run(['delete', 'alertrulesets.tenantdb.io', '--all', '-n', arh.ns, '--wait=false']).catch(() => undefined);
  await arh?.stop();
});

describe('a pg error that carries the password', () => {
  test('the admin Secret with the password in its username key: condition, Events, logs and metrics hold no copy', async () => {
    await applyJson({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'pg-admin-swapped', namespace: pgh.ns }, stringData: { username: PG_SECRET, password: PG_SECRET } });
    const name = `leak-${Date.now().toString(36)}`;
    await applyJson(externalTd(pgh.ns, name, { adminSecret: 'pg-admin-swapped' }));
    const o = await waitCondition(pgh.ns, name, 'ServerReady', (c) => c.reason === 'ConnectionFailed');
    expect(cond(o, 'ServerReady')?.message).toMatch(/password authentication failed|authentication/i);
    await eventually('an Event', async () => (await run(['get', 'events.events.k8s.io', '-n', pgh.ns, '-o', 'name'])).trim() || undefined);
    const seen = `${await everything(pgh.ns)}\n${pgh.log.text}\n${await metricsRegistry.metrics()}`;
    expect(hits(seen, PG_SECRET)).toEqual([]);
  });
});

describe('an AlertRuleSet webhook URI that ARM rejects and echoes', () => {
  test('the token is in no status, Event, log line or metric', async () => {
    const control = new EmulatorControl(arh.arm.controlEndpoint, arh.arm.emu.caFile);
    await control.failRequests({ method: 'PUT', path: 'actionGroups/', status: 400, code: 'InvalidRequestContent', echoBody: 'percent-encoded', count: 1000 });
    await run(['apply', '-n', arh.ns, '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'hooks' }, stringData: { uri: WEBHOOK } }));
    await run(['apply', '-n', arh.ns, '-f', '-'], JSON.stringify({
      apiVersion: 'tenantdb.io/v1alpha1',
      kind: 'AlertRuleSet',
      metadata: { name: 'leaky' },
      spec: {
        databaseRef: { name: 'leak-db' },
        defaults: false,
        actionGroups: [{ name: 'oncall', shortName: 'oncall', webhookReceivers: [{ name: 'hook', uriSecretRef: { name: 'hooks', key: 'uri' } }] }],
        rules: [{ name: 'cpu', metric: 'cpu_percent', operator: 'GreaterThan', threshold: 90, aggregation: 'Average', windowSize: 'PT5M', severity: 'Warning', actionGroups: ['oncall'] }],
      },
    }));
    const status = await eventually('AzureRejected', async () => {
      const out = await run(['get', 'alertrulesets.tenantdb.io', 'leaky', '-n', arh.ns, '-o', 'json']);
      const c = (JSON.parse(out) as { status?: { conditions?: Array<{ type: string; reason: string; message: string }> } }).status?.conditions?.find((x) => x.type === 'Ready');
      return c?.reason === 'AzureRejected' ? c : undefined;
    }, 60_000);
    expect(status.message).toContain('Request body');
    const seen = `${await everything(arh.ns)}\n${arh.logs.join('')}\n${await metricsRegistry.metrics()}`;
    expect(hits(seen, WEBHOOK)).toEqual([]);
    expect(hits(seen, WEBHOOK_TOKEN)).toEqual([]);
  });
});

describe('the scrubber\'s patterns', () => {
  test.each([
    ['a JSON-quoted key', '{"administratorLogin":"a","administratorLoginPassword":"Hunter2-xyz"}'],
    ['a JSON-escaped body', '{\\"administratorLoginPassword\\":\\"Hunter2-xyz\\"}'],
    ['a percent-encoded body', '%7B%22administratorLoginPassword%22%3A%22Hunter2-xyz%22%7D'],
    ['a URI with user info', 'postgresql://app:Hunter2-xyz@db.example.com:5432/app?sslmode=verify-full'],
    ['a percent-encoded URI', 'postgresql%3A%2F%2Fapp%3AHunter2-xyz%40db.example.com'],
    ['a connection string', 'Host=db;Username=app;Password=Hunter2-xyz;Database=app'],
    ['a webhook in JSON', '{"serviceUri":"https://hooks.example.com/x/Hunter2-xyz"}'],
    ['a bearer token in free text', 'sent Bearer Hunter2-xyz upstream'],
    ['a JWT in free text', 'token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.Hunter2-xyz was refused'],
    ['key=value in free text', 'retrying with token=Hunter2-xyz now'],
  ])('%s', (_what, text) => {
    expect(scrubSecrets(text)).not.toContain('Hunter2-xyz');
  });

  test('a value read from a Secret is taken out of every string of a status, in its echoed encodings; the rest is kept', () => {
    const secret = 'S3cr3t/pass+word';
    const status = {
      conditions: [{ type: 'Ready', message: `login failed for S3cr3t/pass+word` }],
      failure: { detail: `body {"x":"${JSON.stringify(secret).slice(1, -1).replace(/\//g, '\\/')}"}`, query: `?p=${encodeURIComponent(secret)}` },
      applied: [{ version: '0001', name: 'create_tables', checksum: 'ab'.repeat(32), appliedAt: '2026-12-07T13:49:09Z', executionTimeMs: 3 }],
    };
    const out = scrubDeep(status, new Set([secret]));
    expect(JSON.stringify(out)).not.toMatch(/S3cr3t|S3cr3t%2F/);
    expect(out.conditions[0]?.message).toBe('login failed for [REDACTED]');
    expect(out.applied).toEqual(status.applied);
  });
});
