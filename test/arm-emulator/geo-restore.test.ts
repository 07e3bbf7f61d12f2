// The emulator's geo-restore rules (pure): Azure's region pairs (westus3 and brazilsouth are paired one way),
// and the two refusals, each naming what to do.
import { checkGeoRestore, pairedRegions } from '../../dev/arm-emulator/postgresql/geo-restore.js';

test('paired regions, both ways except the one-way pairs', () => {
  expect(pairedRegions('eastus')).toEqual(['westus']);
  expect(pairedRegions('westus')).toEqual(['eastus']);
  expect(pairedRegions('West Europe')).toEqual(['northeurope']);
  expect(pairedRegions('westus3')).toEqual(['eastus']);
  expect(pairedRegions('southcentralus')).toEqual(['northcentralus']);
  expect(pairedRegions('nowhere')).toEqual([]);
});

test('refused without geo-redundant backup, or outside the pair', () => {
  const ok = { sourceName: 's', sourceLocation: 'eastus', geoRedundantBackup: 'Enabled', targetLocation: 'westus' };
  expect(() => checkGeoRestore(ok)).not.toThrow();
  expect(() => checkGeoRestore({ ...ok, geoRedundantBackup: 'Disabled' })).toThrow(/only supported for servers created with geo-redundant backup/);
  expect(() => checkGeoRestore({ ...ok, targetLocation: 'eastus' })).toThrow(/paired region 'westus', not in 'eastus'/);
});
