// Pure rules of the health part: quantised figures, thresholds (defaults and spec overrides), the order
// of reasons, and the status patch (nothing written when no figure changed, checkedAt only with a change).
import { describe, expect, test } from '@jest/globals';
import { HEALTH_THRESHOLD_DEFAULTS } from '../../src/api/tenantdatabase-health.js';
import { validateTenantDatabase } from '../../src/api/tenantdatabase.js';
import type { ServerFigures } from '../../src/postgres/health/figures.js';
import { healthCondition, healthFigures, healthPatch, mergePatch, thresholdsOf } from '../../controllers/tenantdatabase/health/evaluate.js';

const MiB = 1024 * 1024;
const base: ServerFigures = {
  usedBytes: 300 * MiB + 123,
  connectionsInUse: 12,
  maxConnections: 100,
  wraparoundHeadroomXids: 2_100_123_456,
  replicas: [{ name: 'r1', streaming: true, state: 'streaming', lagSeconds: 0.004, lagBytes: 1200 }],
};
const azure = { provisionedGiB: 32, backupCount: 7, earliestRestorePoint: new Date('2026-12-01T10:17:03.120Z'), retentionDays: 7 };
const t = thresholdsOf({ periodSeconds: 300, topStatements: 5 });

describe('figures', () => {
  test('are quantised: MiB, one-decimal percentages, whole seconds, xids to the million, restore point up to the hour', () => {
    const h = healthFigures({ ...base, oldestTransactionSeconds: 12.9 }, azure, 5);
    expect(h).toEqual({
      storage: { usedMiB: 300, provisionedMiB: 32768, percentUsed: 0.9 },
      connections: { inUse: 12, max: 100, percentUsed: 12 },
      wraparoundHeadroomXids: 2_100_000_000,
      replicas: [{ name: 'r1', streaming: true, state: 'streaming', lagSeconds: 0, lagMiB: 0 }],
      oldestTransactionAgeSeconds: 12,
      backups: { count: 7, earliestRestorePoint: '2026-12-01T11:00:00Z', retentionDays: 7 },
    });
  });

  test('external servers: no provisioned storage, no backups; statements cut to topStatements', () => {
    const statements = Array.from({ length: 4 }, (_, i) => ({ query: `SELECT $1 FROM t${i}`, calls: 3, totalTimeMs: 10.6 - i, meanTimeMs: 3.533 }));
    const h = healthFigures({ ...base, statements }, undefined, 2);
    expect(h.storage).toEqual({ usedMiB: 300 });
    expect(h.backups).toBeUndefined();
    expect(h.topStatements).toEqual([
      { query: 'SELECT $1 FROM t0', calls: 3, totalTimeMs: 11, meanTimeMs: 3.5 },
      { query: 'SELECT $1 FROM t1', calls: 3, totalTimeMs: 10, meanTimeMs: 3.5 },
    ]);
  });
});

describe('thresholds', () => {
  test('defaults are those of the README; spec overrides single fields', () => {
    expect(thresholdsOf(undefined)).toEqual({ storagePercent: 80, replicationLagSeconds: 300, backupRetentionDays: 7, connectionsPercent: 80, transactionAgeSeconds: 3600, wraparoundHeadroomXids: 500_000_000 });
    expect(thresholdsOf({ periodSeconds: 60, topStatements: 5, thresholds: { ...HEALTH_THRESHOLD_DEFAULTS, storagePercent: 90 } }).storagePercent).toBe(90);
  });

  test('within every threshold: Healthy True, informational', () => {
    expect(healthCondition(healthFigures(base, azure, 5), t)).toMatchObject({ type: 'Healthy', ok: true, reason: 'Healthy', informational: true });
  });

  test.each([
    ['StorageNearlyFull', { ...base, usedBytes: 26_500 * MiB }, azure, /storage 80\.9% used \(26500 of 32768 MiB, threshold 80%\)/],
    ['ReplicationLagging', { ...base, replicas: [{ name: 'r1', streaming: true, lagSeconds: 301 }] }, azure, /replica r1 replays 301 s behind the primary \(threshold 300 s\)/],
    ['ReplicaNotStreaming', { ...base, replicas: [{ name: 'replica_ab12', slot: 'replica_ab12', streaming: false, lagBytes: 64 * MiB }] }, azure, /no replica streams from replication slot replica_ab12 \(the slot keeps 64 MiB of WAL/],
    ['ConnectionsNearlyExhausted', { ...base, connectionsInUse: 81 }, azure, /81 of 100 connections in use \(81%, threshold 80%\): connect through the pooler/],
    ['LongRunningTransaction', { ...base, oldestTransactionSeconds: 3601 }, azure, /open for 3601 s \(threshold 3600 s\)/],
    ['WraparoundNear', { ...base, wraparoundHeadroomXids: 499_999_999 }, azure, /499000000 transaction ids left before wraparound/],
    ['NoBackups', base, { ...azure, backupCount: 0 }, /Azure lists no backup/],
    ['BackupRetentionShort', base, { ...azure, retentionDays: 5 }, /keeps backups for 5 days \(threshold 7\)/],
  ] as const)('%s', (reason, figures, az, message) => {
    const c = healthCondition(healthFigures(figures as ServerFigures, az, 5), t);
    expect(c).toMatchObject({ ok: false, reason, informational: true });
    expect(c.message).toMatch(message);
  });

  test('at the threshold is still healthy (the rules say "more than")', () => {
    expect(healthCondition(healthFigures({ ...base, connectionsInUse: 80, oldestTransactionSeconds: 3600 }, azure, 5), t).ok).toBe(true);
  });

  test('several problems: the most urgent gives the reason, the message lists all', () => {
    const c = healthCondition(healthFigures({ ...base, oldestTransactionSeconds: 7200, usedBytes: 30_000 * MiB }, azure, 5), t);
    expect(c.reason).toBe('StorageNearlyFull');
    expect(c.message).toMatch(/storage .*; a transaction has been open for 7200 s/);
  });
});

describe('status patch', () => {
  const now = new Date('2026-12-06T01:00:00.500Z');
  test('no figure changed: nothing to write, not even checkedAt', () => {
    const h = healthFigures(base, azure, 5);
    const written = { ...h, checkedAt: '2026-12-06T00:00:00Z' };
    // Noise below the quanta (bytes, fractions of a second) changes nothing.
    expect(healthPatch(healthFigures({ ...base, usedBytes: base.usedBytes! + 4096, wraparoundHeadroomXids: base.wraparoundHeadroomXids - 50 }, azure, 5), written, now)).toBeUndefined();
  });

  test('a change writes the figures with checkedAt and clears what went away (merge patch nulls)', () => {
    const prev = { ...healthFigures({ ...base, oldestTransactionSeconds: 20 }, azure, 5), checkedAt: '2026-12-06T00:00:00Z' };
    const p = healthPatch(healthFigures(base, { ...azure, provisionedGiB: undefined }, 5), prev, now)!;
    expect(p.checkedAt).toBe('2026-12-06T01:00:00Z');
    expect(p.oldestTransactionAgeSeconds).toBeNull();
    expect(p.storage).toEqual({ usedMiB: 300, provisionedMiB: null, percentUsed: null });
  });

  test('mergePatch replaces arrays whole', () => {
    expect(mergePatch({ replicas: [{ name: 'a' }] }, { replicas: [{ name: 'a', lagSeconds: 3 }, { name: 'b' }] })).toEqual({ replicas: [{ name: 'a' }] });
  });
});

describe('spec.health', () => {
  const td = (health: unknown) => ({
    apiVersion: 'tenantdb.io/v1alpha1',
    kind: 'TenantDatabase',
    metadata: { name: 'x', namespace: 'y' },
    spec: { server: { external: { host: 'db.example.com', adminSecretRef: { name: 'a' } } }, database: { name: 'app' }, roles: { owner: 'o', application: 'a' }, health },
  });
  test('defaults period 300 s and 5 statements; period below 30 s and more than 20 statements are refused', () => {
    const ok = validateTenantDatabase(td({}));
    expect(ok.ok && ok.value.spec.health).toEqual({ periodSeconds: 300, topStatements: 5 });
    expect(validateTenantDatabase(td({ periodSeconds: 10 })).ok).toBe(false);
    expect(validateTenantDatabase(td({ topStatements: 21 })).ok).toBe(false);
  });
});
