// The emulated Microsoft.Insights resource provider: metric alerts, action groups and diagnostic
// settings at the api-versions @azure/arm-monitor 8.0.0 sends.
import type { EmulatorContext } from '../framework/context.js';
import { registerActionGroups } from './action-groups.js';
import { registerDiagnosticSettings } from './diagnostic-settings.js';
import { registerMetricAlerts } from './metric-alerts.js';

export { API_VERSIONS as INSIGHTS_API_VERSIONS, SPEC_FILES as INSIGHTS_SPEC_FILES } from './common.js';

export function registerInsights(ctx: EmulatorContext): void {
  registerMetricAlerts(ctx);
  registerActionGroups(ctx);
  registerDiagnosticSettings(ctx);
}
