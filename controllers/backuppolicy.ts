// The BackupPolicy controller. Its reconcile reports that the object was seen; provisioning lands in a later issue.
import { validateBackupPolicy } from '../src/api/backuppolicy.js';
import type { Manager } from '../src/runtime/manager.js';
import type { ControllerSettings } from '../src/settings.js';
import { registerObserver } from './observe.js';

export function registerBackupPolicyController(mgr: Manager, _settings?: ControllerSettings): void {
  registerObserver(mgr, { kind: 'BackupPolicy', validate: validateBackupPolicy });
}
