// The AlertRuleSet controller. Its reconcile reports that the object was seen; provisioning lands in a later issue.
import { validateAlertRuleSet } from '../src/api/alertruleset.js';
import type { Manager } from '../src/runtime/manager.js';
import type { ControllerSettings } from '../src/settings.js';
import { registerObserver } from './observe.js';

export function registerAlertRuleSetController(mgr: Manager, _settings?: ControllerSettings): void {
  registerObserver(mgr, { kind: 'AlertRuleSet', validate: validateAlertRuleSet });
}
