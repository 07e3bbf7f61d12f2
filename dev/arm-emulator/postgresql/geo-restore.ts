// Geo-restore (createMode GeoRestore, 2025-08-01): "restores an existing backup of an existing server, on
// the paired region of the existing server ... only supported on existing servers that were created with
// geographically redundant backups enabled" (Servers.json, CreateMode). Azure copies the backups and the
// transaction log to the paired region asynchronously, so a geo-restore never sees the source's live
// data: the emulator restores from what the source has archived (base backups + archived WAL, never a
// segment switch forced on the source), and what was committed after the last archived segment is lost.
import { ArmError } from '../framework/errors.js';

/**
 * Azure's region pairs (learn.microsoft.com, "Azure cross-region replication pairings"), both ways.
 * Regions without a pair are absent: a source there cannot be geo-restored.
 */
const PAIRS: ReadonlyArray<readonly [string, string]> = [
  ['eastus', 'westus'],
  ['eastus2', 'centralus'],
  ['northcentralus', 'southcentralus'],
  ['westus2', 'westcentralus'],
  ['westus3', 'eastus'],
  ['canadacentral', 'canadaeast'],
  ['brazilsouth', 'southcentralus'],
  ['northeurope', 'westeurope'],
  ['uksouth', 'ukwest'],
  ['francecentral', 'francesouth'],
  ['germanywestcentral', 'germanynorth'],
  ['switzerlandnorth', 'switzerlandwest'],
  ['norwayeast', 'norwaywest'],
  ['swedencentral', 'swedensouth'],
  ['japaneast', 'japanwest'],
  ['koreacentral', 'koreasouth'],
  ['australiaeast', 'australiasoutheast'],
  ['australiacentral', 'australiacentral2'],
  ['southeastasia', 'eastasia'],
  ['centralindia', 'southindia'],
  ['uaenorth', 'uaecentral'],
  ['southafricanorth', 'southafricawest'],
];

/** The regions a server in `location` geo-restores into (its pair; westus3 is paired one way with eastus). */
export function pairedRegions(location: string): string[] {
  const l = location.replace(/\s+/g, '').toLowerCase();
  const out = new Set<string>();
  for (const [a, b] of PAIRS) {
    if (a === l) out.add(b);
    // Azure lists westus3's pair as eastus, but eastus's pair is westus: only the first pair goes both ways.
    if (b === l && a !== 'westus3' && a !== 'brazilsouth') out.add(a);
  }
  return [...out];
}

/** Refuses a geo-restore Azure refuses: no geo-redundant backup on the source, or a target outside its pair. */
export function checkGeoRestore(o: { sourceName: string; sourceLocation: string; geoRedundantBackup: unknown; targetLocation: string }): void {
  if (o.geoRedundantBackup !== 'Enabled') {
    throw new ArmError(
      400,
      'GeoRedundantBackupNotEnabled',
      `Geo-restore is only supported for servers created with geo-redundant backup enabled; server '${o.sourceName}' has backup.geoRedundantBackup '${String(o.geoRedundantBackup ?? 'Disabled')}'. Geo-redundant backup can only be chosen when a server is created.`,
      'properties.createMode',
    );
  }
  const target = o.targetLocation.replace(/\s+/g, '').toLowerCase();
  const paired = pairedRegions(o.sourceLocation);
  if (!paired.includes(target)) {
    const where = paired.length ? `its paired region ${paired.map((r) => `'${r}'`).join(' or ')}` : 'a paired region, and it has none';
    throw new ArmError(
      400,
      'InvalidGeoRestoreLocation',
      `A geo-restore of server '${o.sourceName}' (location '${o.sourceLocation}') must create the new server in ${where}, not in '${o.targetLocation}'.`,
      'location',
    );
  }
}
