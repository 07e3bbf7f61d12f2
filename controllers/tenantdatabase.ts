// The TenantDatabase controller. Its reconcile reports that the object was seen; provisioning lands in a later issue.
import { validateTenantDatabase } from '../src/api/tenantdatabase.js';
import type { Manager } from '../src/runtime/manager.js';
import { registerObserver } from './observe.js';

export function registerTenantDatabaseController(mgr: Manager): void {
  registerObserver(mgr, { kind: 'TenantDatabase', validate: validateTenantDatabase });
}
