// The API group, version and the four kinds the operator serves. Everything that needs a kind's
// plural, list kind or short names (CRD generation, informers, RBAC in the chart) reads it from here.
export const API_GROUP = 'tenantdb.io';
export const API_VERSION = 'v1alpha1';
export const API_GROUP_VERSION = `${API_GROUP}/${API_VERSION}`;

export interface KindInfo {
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  shortNames: string[];
}

export const KINDS = {
  TenantDatabase: { kind: 'TenantDatabase', listKind: 'TenantDatabaseList', plural: 'tenantdatabases', singular: 'tenantdatabase', shortNames: ['tdb'] },
  Migration: { kind: 'Migration', listKind: 'MigrationList', plural: 'migrations', singular: 'migration', shortNames: ['tdbmig'] },
  BackupPolicy: { kind: 'BackupPolicy', listKind: 'BackupPolicyList', plural: 'backuppolicies', singular: 'backuppolicy', shortNames: ['tdbbackup'] },
  AlertRuleSet: { kind: 'AlertRuleSet', listKind: 'AlertRuleSetList', plural: 'alertrulesets', singular: 'alertruleset', shortNames: ['tdbalerts'] },
} as const satisfies Record<string, KindInfo>;

export type KindName = keyof typeof KINDS;
