// Hostile step names, versions and options are refused by the apiserver at admission (the CRD's
// OpenAPI patterns and CEL rules), before the operator ever sees them.
import { createTestNamespace } from '../../dev/env/testenv.js';
import { installCrds, run } from '../runtime/helpers.js';
import { MIGRATIONS, closeKube, kube } from './fixtures.js';

let ns: string;
beforeAll(async () => {
  await installCrds();
  ns = await createTestNamespace('mig-adm');
});
afterAll(async () => {
  closeKube();
  if (ns) await run(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
});

const step = { version: '1', name: 'init', up: 'SELECT 1' };
const object = (spec: Record<string, unknown>) => ({ apiVersion: 'tenantdb.io/v1alpha1', kind: 'Migration', metadata: { name: 'hostile' }, spec: { databaseRef: { name: 'db' }, ...spec } });
const admit = (spec: Record<string, unknown>) => kube().create(MIGRATIONS, ns, object(spec), { dryRun: 'All' });

test.each([
  ['a step name with a quote and SQL', { migrations: [{ ...step, name: `x"; DROP TABLE users; --` }] }, /spec.migrations\[0\].name/],
  ['an upper-case step name', { migrations: [{ ...step, name: 'Init' }] }, /spec.migrations\[0\].name/],
  ['a step name of 64 characters', { migrations: [{ ...step, name: 'a'.repeat(64) }] }, /spec.migrations\[0\].name/],
  ['a version with SQL in it', { migrations: [{ ...step, version: "1'; DROP TABLE x; --" }] }, /spec.migrations\[0\].version/],
  ['a negative version', { migrations: [{ ...step, version: '-1' }] }, /spec.migrations\[0\].version/],
  ['a version of 19 digits (beyond bigint)', { migrations: [{ ...step, version: '9'.repeat(19) }] }, /spec.migrations\[0\].version/],
  ['a targetVersion with a space', { migrations: [step], targetVersion: '1 OR 1=1' }, /spec.targetVersion/],
  ['a baselineVersion with letters', { migrations: [step], baselineVersion: 'latest' }, /spec.baselineVersion/],
  ['a lockTimeout injection', { migrations: [step], lockTimeout: "1s'; RESET ROLE; --" }, /spec.lockTimeout/],
  ['a ConfigMap name with a slash', { sources: [{ configMapRef: { name: '../etc' } }] }, /spec.sources\[0\].configMapRef.name/],
])('refuses %s', async (_what, spec, field) => {
  await expect(admit(spec)).rejects.toThrow(field);
});

test('accepts a well-formed Migration (dry run)', async () => {
  await expect(admit({ migrations: [step, { ...step, version: '20250101000000', name: 'add-col_2' }] })).resolves.toMatchObject({ kind: 'Migration' });
});
