// Argo CD's own way of testing health scripts: every <group>/<Kind>/health_test.yaml under health/argocd,
// run by gopher-lua as Argo CD runs health.lua, on objects the operator wrote (testdata/live-*.yaml,
// captured by operator-e2e.test.ts with TENANTDB_WRITE_HEALTH_TESTDATA=1).
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { HEALTH_DIR, runTool } from './tools.js';

const KINDS = ['TenantDatabase', 'Migration', 'BackupPolicy', 'AlertRuleSet'];

test('every health_test.yaml passes under gopher-lua', async () => {
  const res = await runTool('argocd-health', ['test', HEALTH_DIR], { allowFailure: true });
  expect(res.stdout).toMatch(/\d+ passed, 0 failed/);
  expect(res.code).toBe(0);
});

test.each(KINDS)('%s: health.lua in Argo CD layout, tested on live objects in every state', (kind) => {
  const dir = path.join(HEALTH_DIR, 'tenantdb.io', kind);
  expect(fs.existsSync(path.join(dir, 'health.lua'))).toBe(true);
  const tests = (parse(fs.readFileSync(path.join(dir, 'health_test.yaml'), 'utf8')) as { tests: Array<{ healthStatus: { status: string }; inputPath: string }> }).tests;
  for (const t of tests) expect(fs.existsSync(path.join(dir, t.inputPath))).toBe(true);
  const statuses = new Set(tests.map((t) => t.healthStatus.status));
  const want = kind === 'BackupPolicy' ? ['Healthy', 'Progressing', 'Degraded', 'Suspended'] : ['Healthy', 'Progressing', 'Degraded'];
  expect([...statuses].filter((s) => want.includes(s)).sort()).toEqual([...want].sort());
});
