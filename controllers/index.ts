// Every controller the operator runs, registered with one manager.
import type { Manager } from '../src/runtime/manager.js';
import { registerAlertRuleSetController } from './alertruleset/index.js';
import { registerBackupPolicyController } from './backuppolicy/index.js';
import { registerMigrationController } from './migration/index.js';
import { registerTenantDatabaseController } from './tenantdatabase/index.js';
import { DEFAULT_CONTROLLER_SETTINGS, type ControllerSettings } from '../src/settings.js';

export function registerControllers(mgr: Manager, settings: ControllerSettings = DEFAULT_CONTROLLER_SETTINGS): void {
  registerTenantDatabaseController(mgr, settings);
  registerMigrationController(mgr, settings);
  registerBackupPolicyController(mgr, settings);
  registerAlertRuleSetController(mgr, settings);
}
