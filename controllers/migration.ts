// The Migration controller. Its reconcile reports that the object was seen; provisioning lands in a later issue.
import { validateMigration } from '../src/api/migration.js';
import type { Manager } from '../src/runtime/manager.js';
import type { ControllerSettings } from '../src/settings.js';
import { registerObserver } from './observe.js';

export function registerMigrationController(mgr: Manager, _settings?: ControllerSettings): void {
  registerObserver(mgr, { kind: 'Migration', validate: validateMigration });
}
