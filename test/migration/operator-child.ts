// An operator process with only the Migration controller, for the test that kills one mid-step.
// Usage (inherits TENANTDB_TEST_ENV_DIR): node --import tsx test/migration/operator-child.ts <namespace>
import { startMigrationOperator } from './fixtures.js';

const ns = process.argv[2];
if (!ns) throw new Error('usage: operator-child.ts <namespace>');
await startMigrationOperator(ns, 'child-operator');
process.stdout.write('started\n');
setInterval(() => undefined, 60_000);
