// Invalid objects, each one valid example with one thing broken, and the field the rejection must
// name. Both the apiserver (CRD schema + CEL) and the runtime zod validation must refuse every case,
// except those marked apiserverOnly (unknown fields: zod strips them, the apiserver refuses them).
import { REMOVE, example, renamed, withChanges, type Obj } from './objects.js';

export interface InvalidCase {
  title: string;
  object: Obj;
  /** Field path as the apiserver prints it; the error message must contain it. */
  field: string;
  apiserverOnly?: boolean;
}

const tdbAzure = example('tenantdatabase-azure.yaml');
const tdbExternal = example('tenantdatabase-external.yaml');
const migration = example('migration-compliance-schema.yaml');
const rollout = example('migration-rollout.yaml');
const backup = example('backuppolicy.yaml');
const alerts = example('alertruleset.yaml');

let n = 0;
function bad(title: string, base: Obj, changes: Record<string, unknown>, field: string, opts: { apiserverOnly?: boolean } = {}): InvalidCase {
  n++;
  return { title, object: renamed(withChanges(base, changes), `invalid-${n}`), field, ...opts };
}

const LONG_64 = 'a'.repeat(64);
const firstStep = (migration.spec as { migrations: Record<string, unknown>[] }).migrations[0];

export const INVALID_CASES: InvalidCase[] = [
  // --- TenantDatabase: SQL identifiers
  bad('database name with a double quote', tdbAzure, { 'spec.database.name': 'comp"liance' }, 'spec.database.name'),
  bad('database name with a semicolon', tdbAzure, { 'spec.database.name': 'compliance;' }, 'spec.database.name'),
  bad('database name with a comment (--)', tdbAzure, { 'spec.database.name': 'compliance--x' }, 'spec.database.name'),
  bad('database name with a space', tdbAzure, { 'spec.database.name': 'my db' }, 'spec.database.name'),
  bad('database name of 64 bytes', tdbAzure, { 'spec.database.name': LONG_64 }, 'spec.database.name'),
  bad('database name injection', tdbAzure, { 'spec.database.name': "x'; DROP DATABASE postgres; --" }, 'spec.database.name'),
  bad('database name of a system database', tdbAzure, { 'spec.database.name': 'template1' }, 'spec.database.name'),
  bad('extension name injection', tdbAzure, { 'spec.database.extensions[0]': 'pg_trgm; DROP SCHEMA public' }, 'spec.database.extensions[0]'),
  bad('owner role with a quote', tdbAzure, { 'spec.roles.owner': 'owner"' }, 'spec.roles.owner'),
  bad('application role injection', tdbAzure, { 'spec.roles.application': 'app; DROP ROLE admin' }, 'spec.roles.application'),
  bad('admin role in the reserved pg_ namespace', tdbAzure, { 'spec.roles.admin': 'pg_admin' }, 'spec.roles.admin'),
  bad('analytics role with a multi-byte character', tdbAzure, { 'spec.roles.analytics': 'ánalytics' }, 'spec.roles.analytics'),
  bad('analytics role named public', tdbAzure, { 'spec.roles.analytics': 'public' }, 'spec.roles.analytics'),
  bad('same role twice', tdbAzure, { 'spec.roles.application': 'compliance_owner' }, 'spec.roles'),
  bad('tenant column with a space', tdbAzure, { 'spec.tenancy.tenantColumn': 'tenant id' }, 'spec.tenancy.tenantColumn'),
  bad('tenant setting without a prefix', tdbAzure, { 'spec.tenancy.tenantSetting': 'current_tenant' }, 'spec.tenancy.tenantSetting'),
  bad('tenant setting injection', tdbAzure, { 'spec.tenancy.tenantSetting': 'app.x; RESET ALL' }, 'spec.tenancy.tenantSetting'),
  bad('tenancy table name with a quote', tdbExternal, { 'spec.tenancy.tables[0].name': 'events"' }, 'spec.tenancy.tables[0].name'),
  bad('partitioned table with --', tdbAzure, { 'spec.partitioning[0].table': 'storage_records--' }, 'spec.partitioning[0].table'),
  bad('partition column of 64 bytes', tdbAzure, { 'spec.partitioning[0].column': LONG_64 }, 'spec.partitioning[0].column'),
  bad('unknown partition interval', tdbAzure, { 'spec.partitioning[0].interval': 'hourly' }, 'spec.partitioning[0].interval'),
  bad('server parameter name injection', tdbAzure, { 'spec.server.azure.parameters': { 'work_mem; SELECT 1': '4096' } }, 'spec.server.azure.parameters'),
  // --- TenantDatabase: Azure server
  bad('backup retention of 6 days', tdbAzure, { 'spec.server.azure.backup.retentionDays': 6 }, 'spec.server.azure.backup.retentionDays'),
  bad('backup retention of 36 days', tdbAzure, { 'spec.server.azure.backup.retentionDays': 36 }, 'spec.server.azure.backup.retentionDays'),
  bad('server name with capitals', tdbAzure, { 'spec.server.azure.name': 'Comply-AI' }, 'spec.server.azure.name'),
  bad('server name of two characters', tdbAzure, { 'spec.server.azure.name': 'ab' }, 'spec.server.azure.name'),
  bad('server name ending with a hyphen', tdbAzure, { 'spec.server.azure.name': 'comply-ai-' }, 'spec.server.azure.name'),
  bad('subscription id that is no UUID', tdbAzure, { 'spec.server.azure.subscriptionId': 'my-subscription' }, 'spec.server.azure.subscriptionId'),
  bad('firewall start address out of range', tdbAzure, { 'spec.server.azure.network.firewallRules[0].startIpAddress': '300.1.1.1' }, 'spec.server.azure.network.firewallRules[0].startIpAddress'),
  bad('firewall end address given as CIDR', tdbAzure, { 'spec.server.azure.network.firewallRules[0].endIpAddress': '10.0.1.0/24' }, 'spec.server.azure.network.firewallRules[0].endIpAddress'),
  bad('firewall range reversed', tdbAzure, { 'spec.server.azure.network.firewallRules[0].startIpAddress': '10.0.2.0' }, 'spec.server.azure.network.firewallRules[0].endIpAddress'),
  bad('firewall rules with public access disabled', tdbAzure, { 'spec.server.azure.network.publicNetworkAccess': 'Disabled' }, 'spec.server.azure.network.firewallRules'),
  bad('both azure and external', tdbAzure, { 'spec.server.external': (tdbExternal.spec as { server: { external: unknown } }).server.external }, 'spec.server'),
  bad('neither azure nor external', tdbAzure, { 'spec.server.azure': REMOVE }, 'spec.server'),
  bad('Burstable tier with a GeneralPurpose size', tdbAzure, { 'spec.server.azure.sku.tier': 'Burstable', 'spec.server.azure.highAvailability': REMOVE, 'spec.server.azure.readReplicas': REMOVE }, 'spec.server.azure.sku.tier'),
  bad('high availability on Burstable', tdbAzure, { 'spec.server.azure.sku': { name: 'Standard_B2s', tier: 'Burstable' }, 'spec.server.azure.readReplicas': REMOVE }, 'spec.server.azure.highAvailability'),
  bad('storage size Azure does not offer', tdbAzure, { 'spec.server.azure.storage.sizeGB': 100 }, 'spec.server.azure.storage.sizeGB'),
  bad('reserved administrator login', tdbAzure, { 'spec.server.azure.administratorLogin': 'azure_superuser' }, 'spec.server.azure.administratorLogin'),
  bad('password auth without an administrator login', tdbAzure, { 'spec.server.azure.administratorLogin': REMOVE }, 'spec.server.azure.administratorLogin'),
  bad('promotion of a server that is not one of readReplicas', tdbAzure, { 'spec.server.azure.promotion': { replica: 'comply-ai-postgres-other', requestId: 'dr-1' } }, 'spec.server.azure.promotion.replica'),
  bad('promotion with an unknown mode', tdbAzure, { 'spec.server.azure.promotion': { replica: 'comply-ai-postgres-westus2', mode: 'Swap', requestId: 'dr-1' } }, 'spec.server.azure.promotion.mode'),
  bad('promotion without a requestId', tdbAzure, { 'spec.server.azure.promotion': { replica: 'comply-ai-postgres-westus2' } }, 'spec.server.azure.promotion.requestId'),
  bad('virtual endpoint without read replicas', tdbAzure, { 'spec.server.azure.virtualEndpoint': { name: 'comply-ai-rw' }, 'spec.server.azure.readReplicas': REMOVE }, 'spec.server.azure.virtualEndpoint'),
  bad('virtual endpoint name with upper case and a trailing hyphen', tdbAzure, { 'spec.server.azure.virtualEndpoint': { name: 'Comply-' } }, 'spec.server.azure.virtualEndpoint.name'),
  bad('unknown deletion policy', tdbAzure, { 'spec.deletionPolicy': 'Destroy' }, 'spec.deletionPolicy'),
  bad('unknown field', tdbAzure, { 'spec.server.azure.adminPassword': 'hunter2' }, 'spec.server.azure.adminPassword', { apiserverOnly: true }),
  // --- TenantDatabase: external server
  bad('sslMode disable', tdbExternal, { 'spec.server.external.sslMode': 'disable' }, 'spec.server.external.sslMode'),
  bad('host with shell metacharacters', tdbExternal, { 'spec.server.external.host': 'db.example.com; rm -rf /' }, 'spec.server.external.host'),
  bad('port out of range', tdbExternal, { 'spec.server.external.port': 70000 }, 'spec.server.external.port'),
  bad('verify-ca without a CA', tdbExternal, { 'spec.server.external.sslMode': 'verify-ca', 'spec.server.external.caSecretRef': REMOVE }, 'spec.server.external.caSecretRef'),
  // --- Migration
  bad('both databaseRef and databaseSelector', migration, { 'spec.databaseSelector': { matchLabels: { a: 'b' } } }, 'spec'),
  bad('neither databaseRef nor databaseSelector', migration, { 'spec.databaseRef': REMOVE }, 'spec'),
  bad('rollout without a selector', migration, { 'spec.rollout': { maxParallel: 2 } }, 'spec.rollout'),
  bad('version that is not a number', migration, { 'spec.migrations[0].version': 'v1' }, 'spec.migrations[0].version'),
  bad('duplicate versions', migration, { 'spec.migrations[1].version': '001' }, 'spec.migrations[1]'),
  bad('step name with a quote', migration, { 'spec.migrations[0].name': "create'tables" }, 'spec.migrations[0].name'),
  bad('unknown runAs', migration, { 'spec.runAs': 'superuser' }, 'spec.runAs'),
  bad('lockTimeout without a unit', migration, { 'spec.lockTimeout': '10' }, 'spec.lockTimeout'),
  bad('statementTimeout injection', migration, { 'spec.statementTimeout': "1s'; SET role postgres; --" }, 'spec.statementTimeout'),
  bad('targetVersion with a trailing dot (dotted versions are Flyway\'s 1.2.3)', migration, { 'spec.targetVersion': '1.0.' }, 'spec.targetVersion'),
  bad('no steps at all', migration, { 'spec.migrations': REMOVE }, 'spec.migrations'),
  bad('label selector key with a space', rollout, { 'spec.databaseSelector.matchLabels': { 'tier name': 'standard' } }, 'spec.databaseSelector.matchLabels'),
  bad('maxParallel of 0', rollout, { 'spec.rollout.maxParallel': 0 }, 'spec.rollout.maxParallel'),
  bad('empty up script', migration, { 'spec.migrations[0]': { ...firstStep, up: '' } }, 'spec.migrations[0].up'),
  // --- BackupPolicy
  bad('retention of 6 days', backup, { 'spec.retentionDays': 6 }, 'spec.retentionDays'),
  bad('retention of 36 days', backup, { 'spec.retentionDays': 36 }, 'spec.retentionDays'),
  bad('schedule in words', backup, { 'spec.onDemand.schedule': 'every sunday' }, 'spec.onDemand.schedule'),
  bad('schedule with minute 60', backup, { 'spec.onDemand.schedule': '60 3 * * 0' }, 'spec.onDemand.schedule'),
  bad('schedule with four fields', backup, { 'spec.restoreDrill.schedule': '30 4 1 *' }, 'spec.restoreDrill.schedule'),
  bad('schedule with hour 24', backup, { 'spec.restoreDrill.schedule': '0 24 * * *' }, 'spec.restoreDrill.schedule'),
  bad('timeout as a Go duration', backup, { 'spec.restoreDrill.timeout': '2h' }, 'spec.restoreDrill.timeout'),
  bad('timeout without an amount', backup, { 'spec.restoreDrill.timeout': 'PT' }, 'spec.restoreDrill.timeout'),
  bad('drill without checks', backup, { 'spec.restoreDrill.checks': [] }, 'spec.restoreDrill.checks'),
  bad('databaseRef that is no object name', backup, { 'spec.databaseRef.name': 'Compliance_DB' }, 'spec.databaseRef.name'),
  bad('keep of 0 backups', backup, { 'spec.onDemand.keep': 0 }, 'spec.onDemand.keep'),
  // --- AlertRuleSet
  bad('unknown metric', alerts, { 'spec.rules[0].metric': 'cpu_usage' }, 'spec.rules[0].metric'),
  bad('single-server metric', alerts, { 'spec.rules[0].metric': 'io_consumption_percent' }, 'spec.rules[0].metric'),
  bad('operator as a symbol', alerts, { 'spec.rules[0].operator': '>' }, 'spec.rules[0].operator'),
  bad('window size Azure does not offer', alerts, { 'spec.rules[0].windowSize': 'PT7M' }, 'spec.rules[0].windowSize'),
  bad('evaluation less often than the window', alerts, { 'spec.rules[0].evaluationFrequency': 'PT1H' }, 'spec.rules[0].evaluationFrequency'),
  bad('percent threshold above 100', alerts, { 'spec.rules[0].threshold': 150 }, 'spec.rules[0].threshold'),
  bad('unknown severity', alerts, { 'spec.rules[0].severity': 'Sev5' }, 'spec.rules[0].severity'),
  bad('rule naming an undefined action group', alerts, { 'spec.rules[0].actionGroups': ['nobody'] }, 'spec.rules'),
  bad('action group short name over 12 characters', alerts, { 'spec.actionGroups[0].shortName': 'llama-mapper-alerts' }, 'spec.actionGroups[0].shortName'),
  bad('e-mail address without a domain', alerts, { 'spec.actionGroups[0].emailReceivers[0].emailAddress': 'dba-oncall' }, 'spec.actionGroups[0].emailReceivers[0].emailAddress'),
  bad('unknown log category', alerts, { 'spec.diagnostics.logCategories[0]': 'PostgreSQLAudit' }, 'spec.diagnostics.logCategories[0]'),
  bad('workspace that is no resource id', alerts, { 'spec.diagnostics.workspaceResourceId': 'comply-ai-logs' }, 'spec.diagnostics.workspaceResourceId'),
  bad('diagnostics sending nothing', alerts, { 'spec.diagnostics.allMetrics': false, 'spec.diagnostics.logCategories': REMOVE }, 'spec.diagnostics.logCategories'),
  bad('duplicate rule names', alerts, { 'spec.rules[1].name': 'high-cpu' }, 'spec.rules[1]'),
];
