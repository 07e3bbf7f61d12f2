import { armResourceTypeOf, extensionResourceUri } from '../../src/azure/resource-type.js';

const base = 'https://management.azure.com/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/tenant-a';

describe('armResourceTypeOf', () => {
  test.each([
    [`${base}/providers/Microsoft.DBforPostgreSQL/flexibleServers/srv-1?api-version=2025-08-01`, 'Microsoft.DBforPostgreSQL/flexibleServers'],
    [`${base}/providers/Microsoft.DBforPostgreSQL/flexibleServers/srv-1/databases/tenant_db`, 'Microsoft.DBforPostgreSQL/flexibleServers/databases'],
    [`${base}/providers/Microsoft.DBforPostgreSQL/flexibleServers/srv-1/restart`, 'Microsoft.DBforPostgreSQL/flexibleServers/restart'],
    [`${base}/providers/Microsoft.DBforPostgreSQL/flexibleServers`, 'Microsoft.DBforPostgreSQL/flexibleServers'],
    [
      `${base}/providers/Microsoft.DBforPostgreSQL/flexibleServers/srv-1/providers/Microsoft.Insights/diagnosticSettings/to-la`,
      'Microsoft.DBforPostgreSQL/flexibleServers/providers/Microsoft.Insights/diagnosticSettings',
    ],
    [
      'https://management.azure.com/subscriptions/s/providers/Microsoft.DBforPostgreSQL/locations/eastus/azureAsyncOperation/6c1c?api-version=2025-08-01',
      'Microsoft.DBforPostgreSQL/locations/azureAsyncOperation',
    ],
    [`${base}/providers/Microsoft.Insights/metricAlerts/cpu-high`, 'Microsoft.Insights/metricAlerts'],
    [`${base}`, 'resourceGroups'],
    ['https://management.azure.com/subscriptions/abc', 'subscriptions'],
  ])('%s → %s', (url, type) => {
    expect(armResourceTypeOf(url)).toBe(type);
  });

  test('no names, ids or odd characters survive', () => {
    const t = armResourceTypeOf(`${base}/providers/Microsoft.DBforPostgreSQL/flexibleServers/secret-server/databases/customer%20db`);
    expect(t).not.toMatch(/secret|customer|tenant|0000/);
    expect(armResourceTypeOf('not a url')).toBe('other');
    expect(armResourceTypeOf(`${base}/providers/Weird%20Namespace/servers/a b`)).toBe('other/servers');
  });
});

test('extensionResourceUri drops the slashes the SDK adds itself', () => {
  expect(extensionResourceUri('/subscriptions/s/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/a/')).toBe(
    'subscriptions/s/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/a',
  );
});
