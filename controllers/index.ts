// Every controller the operator runs, registered with one manager.
import type { Manager } from '../src/runtime/manager.js';
import { registerAlertRuleSetController } from './alertruleset.js';
import { registerBackupPolicyController } from './backuppolicy.js';
import { registerMigrationController } from './migration.js';
import { registerTenantDatabaseController } from './tenantdatabase.js';

export function registerControllers(mgr: Manager): void {
  registerTenantDatabaseController(mgr);
  registerMigrationController(mgr);
  registerBackupPolicyController(mgr);
  registerAlertRuleSetController(mgr);
}
