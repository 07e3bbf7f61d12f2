// The README's main job, end to end: `npm run dev -- --once` brings a local environment up, installs
// the CRDs, runs the operator and waits until every example in crds/examples/ reports Ready.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { down } from '../../dev/env/localenv.js';
import { repoRoot } from '../../dev/env/paths.js';
import { runCommand } from '../../dev/env/proc.js';

describe('npm run dev (the main job)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenantdb-dev-'));
  afterAll(async () => {
    await down(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('brings every example to Ready', async () => {
    const examples = fs.readdirSync(path.join(repoRoot, 'crds', 'examples')).filter((f) => /\.ya?ml$/.test(f));
    expect(examples.length).toBeGreaterThan(0);
    const result = await runCommand(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'dev', 'env', 'dev.ts'), '--once', '--dir', dir], {
      cwd: repoRoot,
      timeoutMs: 280_000,
    });
    expect(result.stderr).toMatch(/all \d+ examples are Ready/);
    expect(result.code).toBe(0);
    // The printed table lists each example with READY True.
    const readyRows = result.stdout.split('\n').filter((l) => /\bTrue\b/.test(l));
    const objects = Number(/all (\d+) examples are Ready/.exec(result.stderr)?.[1]);
    expect(readyRows.length).toBe(objects);
    // The compliance database's pooler keys reach the server's PgBouncer as the application role.
    expect(result.stderr).toMatch(/pooler: compliance-db-app pooler-uri \([^)]*:6432, verify-full\) reaches PgBouncer as compliance_app/);
  }, 300_000);
});
