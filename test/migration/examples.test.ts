// The Migration examples are real: the rollout example's inline step plus the dev fixture's ConfigMap
// (dev/env/dev-fixtures/migrations.ts) apply, in version order, to a fresh database as its owner, up to
// the example's targetVersion, and the compliance example applies too (its roles created here as the
// TenantDatabase controller would).
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { validateMigration, type Migration } from '../../src/api/migration.js';
import { gatherSteps } from '../../src/migrations/steps.js';
import { ident } from '../../src/postgres/ident.js';
import { runMigration } from '../../src/postgres/migrations/runner.js';
import { repoRoot } from '../../dev/env/paths.js';
import { STANDARD_TIER_CONFIGMAP, STANDARD_TIER_STEPS } from '../../dev/env/dev-fixtures/migrations.js';
import { closeConnections, connections, createTestDatabase, superSql, type TestDatabase } from './pg.js';

const example = (f: string): Migration => {
  const r = validateMigration(YAML.parse(fs.readFileSync(path.join(repoRoot, 'crds', 'examples', f), 'utf8')));
  if (!r.ok) throw r.error;
  return r.value as Migration;
};
const dbs: TestDatabase[] = [];
afterAll(async () => {
  await closeConnections();
  for (const db of dbs) await db.drop().catch(() => undefined);
});

test('migration-rollout.yaml with the standard-tier-migrations ConfigMap', async () => {
  const m = example('migration-rollout.yaml');
  const g = gatherSteps(m.spec.migrations ?? [], [STANDARD_TIER_CONFIGMAP], new Map([[STANDARD_TIER_CONFIGMAP, { metadata: { name: STANDARD_TIER_CONFIGMAP }, data: STANDARD_TIER_STEPS }]]));
  if (!g.ok) throw new Error(g.problem.message);
  const db = await createTestDatabase('ex');
  dbs.push(db);
  const r = await runMigration(connections(), db.target, {
    migration: 'default/standard-tier-audit-columns',
    steps: g.steps,
    plan: { targetVersion: m.spec.targetVersion, allowDown: m.spec.allowDown, outOfOrder: m.spec.outOfOrder, repair: false },
    runAsRole: db.owner,
    lockTimeout: m.spec.lockTimeout,
    appliedBy: 'test',
  });
  expect(r.outcome === 'failed' ? r.failure : r.outcome).toBe('succeeded');
  expect(r.steps.map((s) => s.version)).toEqual(['20241201000000', '20250101000000', '20250201000000', '20250301000000']);
  const part = await db.sql<{ strategy: string; col: string }>(
    `SELECT p.partstrat AS strategy, a.attname AS col FROM pg_partitioned_table p JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0] WHERE p.partrelid = 'events'::regclass`,
  );
  expect(part).toEqual([{ strategy: 'r', col: 'occurred_at' }]);
  const cols = await db.sql<{ c: string }>(`SELECT attname AS c FROM pg_attribute WHERE attrelid = 'events'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`);
  expect(cols.map((c) => c.c)).toEqual(['id', 'org_id', 'occurred_at', 'type', 'payload', 'source']);
});

test('migration-compliance-schema.yaml applies as the owner, including its CREATE INDEX CONCURRENTLY step', async () => {
  const m = example('migration-compliance-schema.yaml');
  const db = await createTestDatabase('ex');
  dbs.push(db);
  const roles = ['compliance_app', 'compliance_admin', 'compliance_analytics'].map((r) => `${r}_${db.database.slice(-8)}`);
  for (const r of roles) await superSql(`CREATE ROLE ${ident(r)} NOLOGIN`);
  try {
    // The example names the roles of its TenantDatabase; here they carry a suffix so runs never collide.
    const steps = (m.spec.migrations ?? []).map((s) => ({
      ...s,
      up: s.up.replace(/compliance_(app|admin|analytics)\b/g, (x) => `${x}_${db.database.slice(-8)}`),
    }));
    const g = gatherSteps(steps, [], new Map());
    if (!g.ok) throw new Error(g.problem.message);
    const r = await runMigration(connections(), db.target, { migration: 'default/compliance-schema', steps: g.steps, plan: { allowDown: false, outOfOrder: false, repair: false }, runAsRole: db.owner, lockTimeout: m.spec.lockTimeout, statementTimeout: m.spec.statementTimeout, appliedBy: 'test' });
    expect(r.outcome === 'failed' ? r.failure : r.outcome).toBe('succeeded');
    expect(r.steps.length).toBe(5);
  } finally {
    await db.drop();
    dbs.pop();
    for (const r of roles) await superSql(`DROP ROLE IF EXISTS ${ident(r)}`);
  }
});
