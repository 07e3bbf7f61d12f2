// TenantDatabase: a PostgreSQL database with its roles, tenant isolation and partitioning, on an Azure
// Flexible Server the operator manages or on an existing server it only connects to.
import { z } from 'zod';
import { celString, immutable, listMap, listSet, withRules } from './cel.js';
import {
  CUSTOM_GUC_NAME_PATTERN,
  EXTENSION_NAME_PATTERN,
  GUC_NAME_MAX,
  GUC_NAME_PATTERN,
  HOST_PATTERN,
  IPV4_PATTERN,
  databaseName,
  ipv4Address,
  ipv4ToNumber,
  k8sName,
  localObjectRef,
  roleName,
  secretKeyRef,
  sqlIdentifier,
  stringMap,
  uuid,
} from './fields.js';
import { AGE_COLUMN, READY_COLUMNS, kindObjectSchema, validateWith, type KindDefinition } from './object.js';
import { statusBaseShape, timestampField } from './status.js';
import { KINDS } from './kinds.js';
import { armOperationSchema } from './arm-operation.js';
import { maintenanceSpecSchema, maintenanceStatusSchema } from './maintenance.js';
import { healthSpecSchema, healthStatusSchema } from './tenantdatabase-health.js';

// ---------------------------------------------------------------------------------------------
// Azure Flexible Server

/** Flexible Server names become DNS labels (<name>.postgres.database.azure.com). */
export const AZURE_SERVER_NAME_PATTERN = '^[a-z0-9][-a-z0-9]{1,61}[a-z0-9]$';
export const AZURE_RESOURCE_GROUP_PATTERN = '^[-A-Za-z0-9_.()]{0,89}[-A-Za-z0-9_()]$';
export const AZURE_LOCATION_PATTERN = '^[a-z][a-z0-9]{1,39}$';
export const POSTGRES_VERSIONS = ['13', '14', '15', '16', '17'] as const;
/** Premium SSD sizes Flexible Server provisions; anything else is rounded by Azure, so we refuse it. */
export const STORAGE_SIZES_GB = [32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32767] as const;
/** Logins Azure refuses for the server administrator. */
export const RESERVED_ADMIN_LOGINS = ['azure_superuser', 'azure_pg_admin', 'admin', 'administrator', 'root', 'guest', 'public'] as const;

const serverName = (description: string) =>
  z.string().min(3).max(63).regex(new RegExp(AZURE_SERVER_NAME_PATTERN)).describe(description);
const location = (description: string) => z.string().min(2).max(40).regex(new RegExp(AZURE_LOCATION_PATTERN)).describe(description);
const zone = (description: string) => z.enum(['1', '2', '3']).describe(description);

const IPV4 = new RegExp(IPV4_PATTERN);

const ipSum = (f: string) => {
  const part = (i: number) => `int(${f}.split('.')[${i}])`;
  return `(${part(0)} * 16777216 + ${part(1)} * 65536 + ${part(2)} * 256 + ${part(3)})`;
};

export const firewallRuleSchema = withRules(
  z
    .object({
      name: z.string().min(1).max(128).regex(/^[-A-Za-z0-9_]{1,128}$/).describe('Name of the firewall rule (letters, digits, - and _).'),
      startIpAddress: ipv4Address('First IPv4 address of the allowed range.'),
      endIpAddress: ipv4Address('Last IPv4 address of the allowed range (inclusive).'),
    })
    .describe('A range of client IPv4 addresses allowed to connect.'),
  [
    {
      rule: `!self.startIpAddress.matches('^[0-9.]+$') || !self.endIpAddress.matches('^[0-9.]+$') || size(self.startIpAddress.split('.')) != 4 || size(self.endIpAddress.split('.')) != 4 || ${ipSum('self.startIpAddress')} <= ${ipSum('self.endIpAddress')}`,
      message: 'startIpAddress must not be greater than endIpAddress',
      fieldPath: '.endIpAddress',
      // Malformed addresses are reported by their own pattern; compare only well-formed ones.
      check: (r) => !IPV4.test(r.startIpAddress) || !IPV4.test(r.endIpAddress) || ipv4ToNumber(r.startIpAddress) <= ipv4ToNumber(r.endIpAddress),
    },
  ],
);

const skuSchema = withRules(
  z
    .object({
      name: z
        .string()
        .min(1)
        .max(64)
        .regex(/^Standard_[A-Za-z0-9]+(_v[0-9]+)?$/)
        .describe('Compute size, e.g. Standard_B2s, Standard_D4ds_v5, Standard_E8ds_v5.'),
      tier: z.enum(['Burstable', 'GeneralPurpose', 'MemoryOptimized']).describe('Pricing tier the compute size belongs to.'),
    })
    .describe('Compute tier and size of the server.'),
  [
    {
      rule: "(self.tier == 'Burstable') == self.name.startsWith('Standard_B')",
      message: 'tier Burstable goes with Standard_B* sizes, and only with them',
      fieldPath: '.tier',
      check: (s) => (s.tier === 'Burstable') === s.name.startsWith('Standard_B'),
    },
  ],
);

const storageSchema = z
  .object({
    sizeGB: withRules(
      z
        .int()
        .min(32)
        .max(32767)
        .default(32)
        .describe(`Storage size in GiB; one of ${STORAGE_SIZES_GB.join(', ')}. Storage can grow but never shrink.`),
      [
        {
          rule: `self in [${STORAGE_SIZES_GB.join(', ')}]`,
          message: `sizeGB must be one of ${STORAGE_SIZES_GB.join(', ')}`,
          check: (v) => (STORAGE_SIZES_GB as readonly number[]).includes(v),
        },
        { rule: 'self >= oldSelf', message: 'storage cannot shrink' },
      ],
    ),
    autoGrow: z.boolean().default(false).describe('Let Azure grow storage automatically when it runs low.'),
  })
  .describe('Storage of the server.');

const highAvailabilitySchema = z
  .object({
    mode: z.enum(['Disabled', 'SameZone', 'ZoneRedundant']).default('Disabled').describe('High-availability mode: Disabled, SameZone or ZoneRedundant.'),
    standbyAvailabilityZone: zone('Availability zone of the standby (ZoneRedundant only).').optional(),
    failover: z
      .object({
        requestId: z
          .string()
          .min(1)
          .max(63)
          .regex(/^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/)
          .describe('Identifier of the request: a new value fails over once. The server carries the request handled in its tag tenantdb-failover (so a lost status or a re-created object never repeats it); status.azure.failover reports it.'),
        mode: z.enum(['Planned', 'Forced']).default('Planned').describe('Planned waits until the standby has every committed transaction; Forced fails over at once.'),
      })
      .optional()
      .describe('Fail over to the standby on request (restart with failover); the server keeps its host name.'),
  })
  .describe('High availability (a hot standby with automatic failover).');

const backupSchema = z
  .object({
    retentionDays: z.int().min(7).max(35).default(7).describe('Days of point-in-time-restore backups Azure keeps (7-35).'),
    geoRedundant: immutable(
      z.boolean().default(false).describe('Keep backups in the paired region too. Can only be chosen when the server is created.'),
      'backup.geoRedundant',
    ),
  })
  .describe('Automated backups of the server.');

const networkSchema = withRules(
  z
    .object({
      publicNetworkAccess: z
        .enum(['Enabled', 'Disabled'])
        .default('Enabled')
        .describe('Whether the server has a public endpoint; with Enabled, only firewallRules ranges can connect.'),
      firewallRules: listMap(z.array(firewallRuleSchema).max(128).describe('Client IPv4 ranges allowed through the public endpoint.'), ['name']).optional(),
    })
    .describe('Network access to the server.'),
  [
    {
      rule: "self.publicNetworkAccess == 'Enabled' || !has(self.firewallRules) || size(self.firewallRules) == 0",
      message: 'firewallRules require publicNetworkAccess Enabled',
      fieldPath: '.firewallRules',
      check: (n) => n.publicNetworkAccess === 'Enabled' || (n.firewallRules ?? []).length === 0,
    },
  ],
);

const maintenanceWindowSchema = z
  .object({
    dayOfWeek: z.int().min(0).max(6).describe('Day of the week, 0 = Sunday to 6 = Saturday.'),
    startHour: z.int().min(0).max(23).describe('Hour (UTC) the window starts, 0-23.'),
    startMinute: z.int().min(0).max(59).default(0).describe('Minute the window starts, 0-59.'),
  })
  .describe('Weekly window (one hour, UTC) for Azure updates and for restarts under restartPolicy MaintenanceWindow.');

const authenticationSchema = withRules(
  z
    .object({
      passwordAuth: z.boolean().default(true).describe('Allow PostgreSQL password authentication.'),
      entraAuth: z.boolean().default(false).describe('Allow Microsoft Entra ID authentication.'),
      tenantId: uuid('Entra tenant of the administrators; defaults to the tenant of the subscription.').optional(),
    })
    .describe('Authentication methods the server accepts.'),
  [
    {
      rule: 'self.passwordAuth || self.entraAuth',
      message: 'at least one of passwordAuth or entraAuth must be enabled',
      check: (a) => a.passwordAuth || a.entraAuth,
    },
  ],
);

const entraAdministratorSchema = z
  .object({
    objectId: uuid('Object ID of the Entra principal.'),
    principalName: z
      .string()
      .min(1)
      .max(128)
      .regex(/^[A-Za-z0-9][-A-Za-z0-9@._ ]{0,126}[A-Za-z0-9]$/)
      .describe('Name of the principal as it becomes a PostgreSQL role (user principal name, group or application name).'),
    principalType: z.enum(['User', 'Group', 'ServicePrincipal']).describe('Kind of principal: User, Group or ServicePrincipal.'),
  })
  .describe('An Entra principal made server administrator.');

const readReplicaSchema = z
  .object({
    name: serverName('Name of the replica server (3-63 lowercase letters, digits and hyphens).'),
    location: location('Azure region of the replica.').optional(),
  })
  .describe('A read replica of the server.');

export const PROMOTE_MODES = ['Standalone', 'Switchover'] as const;
export const PROMOTE_OPTIONS = ['Planned', 'Forced'] as const;

// Issue 18: a declared promotion of one of the read replicas, run once per requestId (README, Promotion).
const promotionSchema = z
  .object({
    replica: serverName('The read replica (one of readReplicas) to promote; once requested the TenantDatabase follows it.'),
    mode: z
      .enum(PROMOTE_MODES)
      .default('Standalone')
      .describe('Standalone: the replica becomes an independent primary and the old primary is left as it is. Switchover: the old primary becomes a replica of the new one.'),
    option: z
      .enum(PROMOTE_OPTIONS)
      .default('Planned')
      .describe('Planned: waits until the replica replayed everything the primary had written (no committed row lost). Forced: at once; what the replica had not received is lost (status.promotion.lostWindowBytes).'),
    requestId: z
      .string()
      .min(1)
      .max(63)
      .regex(/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/)
      .describe('Identifies the request: a request runs once; a new requestId asks again (a no-op when the replica is already the primary).'),
  })
  .describe('Promotion of a read replica to primary, requested declaratively (runs once per requestId).');

// Issue 18: Azure's read-write virtual endpoint, so clients keep one host name across a switchover (README, Promotion).
const virtualEndpointSchema = z
  .object({
    name: z
      .string()
      .min(3)
      .max(63)
      .regex(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/)
      .describe('Base name of the endpoint pair: <name>.writer.postgres.database.azure.com (the current primary) and <name>.reader... (a replica). Global, like server names.'),
  })
  .describe('A read-write virtual endpoint over the server and a read replica; connection Secrets then use its writer host name.');

const administratorLoginSchema = withRules(
  immutable(roleName('Login of the server administrator; set at creation and immutable.'), 'administratorLogin'),
  [
    {
      rule: `!(self in [${RESERVED_ADMIN_LOGINS.map(celString).join(', ')}])`,
      message: `administratorLogin must not be one of ${RESERVED_ADMIN_LOGINS.join(', ')}`,
      check: (v) => !(RESERVED_ADMIN_LOGINS as readonly string[]).includes(v),
    },
  ],
);

export const azureServerSchema = withRules(
  z
    .object({
      subscriptionId: uuid('Azure subscription that holds the server.'),
      resourceGroup: z
        .string()
        .min(1)
        .max(90)
        .regex(new RegExp(AZURE_RESOURCE_GROUP_PATTERN))
        .describe('Resource group that holds the server (1-90 characters, not ending with a period).'),
      name: immutable(
        serverName('Name of the Flexible Server: 3-63 lowercase letters, digits and hyphens, not starting or ending with a hyphen. Immutable.'),
        'name',
      ),
      location: immutable(location('Azure region of the server, e.g. westeurope. Immutable.'), 'location'),
      version: withRules(
        z.enum(POSTGRES_VERSIONS).default('17').describe('PostgreSQL major version; can be raised (major upgrade) but never lowered.'),
        [{ rule: 'int(self) >= int(oldSelf)', message: 'version can be upgraded but not downgraded' }],
      ),
      sku: skuSchema,
      storage: storageSchema.optional(),
      highAvailability: highAvailabilitySchema.optional(),
      availabilityZone: zone('Preferred availability zone of the primary.').optional(),
      backup: backupSchema.optional(),
      network: networkSchema.optional(),
      parameters: stringMap({
        description: 'Server parameters to set, by name (e.g. log_min_duration_statement: "1000").',
        keyPattern: GUC_NAME_PATTERN,
        keyMax: GUC_NAME_MAX,
        valueMax: 1024,
        maxProperties: 128,
        what: 'parameter name',
      }).optional(),
      restartPolicy: z
        .enum(['Immediate', 'MaintenanceWindow', 'Manual'])
        .default('MaintenanceWindow')
        .describe('When to restart for parameters that need it: Immediate, in the MaintenanceWindow, or Manual (report only).'),
      maintenanceWindow: maintenanceWindowSchema.optional(),
      authentication: authenticationSchema.optional(),
      entraAdministrators: listMap(z.array(entraAdministratorSchema).max(16).describe('Entra principals made server administrators.'), ['objectId']).optional(),
      administratorLogin: administratorLoginSchema.optional(),
      administratorPasswordSecretRef: secretKeyRef('Secret holding the administrator password.', 'password').optional(),
      manageAdministratorPassword: z
        .boolean()
        .optional()
        .describe(
          'Set the administrator password of an ADOPTED server from administratorPasswordSecretRef (on adoption and whenever the Secret changes). Without it the operator never changes the password of a server it did not create; the Secret must then hold the current password. Servers the operator created always follow the Secret.',
        ),
      readReplicas: listMap(z.array(readReplicaSchema).max(5).describe('Read replicas of the server.'), ['name']).optional(),
      promotion: promotionSchema.optional(),
      virtualEndpoint: virtualEndpointSchema.optional(),
      tags: stringMap({
        description: 'Azure tags on the server (Azure allows 50 per resource; the operator keeps 4 of its own: tenantdb-owner, tenantdb-origin, tenantdb-tags, tenantdb-failover).',
        keyPattern: '^[-A-Za-z0-9_.:+@ ]{1,512}$',
        keyMax: 512,
        valueMax: 256,
        maxProperties: 46,
        what: 'tag name',
      }).optional(),
      credentialsSecretRef: localObjectRef(
        'Secret with the Azure service principal (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET) to use; workload identity when absent.',
        'Name of the Secret.',
      ).optional(),
    })
    .describe('An Azure Database for PostgreSQL Flexible Server the operator creates and keeps in shape.'),
  [
    {
      rule: '(has(self.authentication) && !self.authentication.passwordAuth) || (has(self.administratorLogin) && has(self.administratorPasswordSecretRef))',
      message: 'administratorLogin and administratorPasswordSecretRef are required while password authentication is enabled',
      fieldPath: '.administratorLogin',
      reason: 'FieldValueRequired',
      check: (a) => (a.authentication !== undefined && !a.authentication.passwordAuth) || (a.administratorLogin !== undefined && a.administratorPasswordSecretRef !== undefined),
    },
    {
      rule: '!has(self.entraAdministrators) || size(self.entraAdministrators) == 0 || (has(self.authentication) && self.authentication.entraAuth)',
      message: 'entraAdministrators require authentication.entraAuth',
      fieldPath: '.entraAdministrators',
      check: (a) => (a.entraAdministrators ?? []).length === 0 || a.authentication?.entraAuth === true,
    },
    {
      // The operator's own tags (owner, origin, the spec tags it set, the failover handled) record facts
      // about the server; a spec that set them could forge ownership, have foreign tags removed, or replay
      // a failover.
      rule: "!has(self.tags) || self.tags.all(k, !k.lowerAscii().startsWith('tenantdb-'))",
      message: "tag names starting with 'tenantdb-' are reserved for the operator (tenantdb-owner, tenantdb-origin, tenantdb-tags, tenantdb-failover)",
      fieldPath: '.tags',
      reason: 'FieldValueForbidden',
      check: (a) => Object.keys(a.tags ?? {}).every((k) => !k.toLowerCase().startsWith('tenantdb-')),
    },
    {
      rule: "!has(self.highAvailability) || self.highAvailability.mode == 'Disabled' || self.sku.tier != 'Burstable'",
      message: 'high availability is not available in the Burstable tier',
      fieldPath: '.highAvailability',
      check: (a) => (a.highAvailability?.mode ?? 'Disabled') === 'Disabled' || a.sku.tier !== 'Burstable',
    },
    {
      rule: "!has(self.highAvailability) || !has(self.highAvailability.failover) || self.highAvailability.mode != 'Disabled'",
      message: 'highAvailability.failover needs highAvailability.mode SameZone or ZoneRedundant (a standby to fail over to)',
      fieldPath: '.highAvailability',
      check: (a) => a.highAvailability?.failover === undefined || (a.highAvailability.mode ?? 'Disabled') !== 'Disabled',
    },
    {
      rule: "!has(self.highAvailability) || !has(self.highAvailability.standbyAvailabilityZone) || self.highAvailability.mode == 'ZoneRedundant'",
      message: 'standbyAvailabilityZone applies to mode ZoneRedundant only',
      fieldPath: '.highAvailability',
      check: (a) => a.highAvailability?.standbyAvailabilityZone === undefined || a.highAvailability.mode === 'ZoneRedundant',
    },
    {
      rule: "!has(self.highAvailability) || !has(self.highAvailability.standbyAvailabilityZone) || !has(self.availabilityZone) || self.highAvailability.standbyAvailabilityZone != self.availabilityZone",
      message: 'standbyAvailabilityZone must differ from availabilityZone',
      fieldPath: '.highAvailability',
      check: (a) => a.highAvailability?.standbyAvailabilityZone === undefined || a.highAvailability.standbyAvailabilityZone !== a.availabilityZone,
    },
    {
      rule: "!has(self.readReplicas) || size(self.readReplicas) == 0 || self.sku.tier != 'Burstable'",
      message: 'read replicas are not available in the Burstable tier',
      fieldPath: '.readReplicas',
      check: (a) => (a.readReplicas ?? []).length === 0 || a.sku.tier !== 'Burstable',
    },
    {
      rule: '!has(self.readReplicas) || self.readReplicas.all(r, r.name != self.name)',
      message: 'a read replica cannot have the name of its primary',
      fieldPath: '.readReplicas',
      check: (a) => (a.readReplicas ?? []).every((r) => r.name !== a.name),
    },
    {
      rule: '!has(self.promotion) || (has(self.readReplicas) && self.readReplicas.exists(r, r.name == self.promotion.replica))',
      message: 'promotion.replica must name one of readReplicas (and stays in readReplicas while promoted)',
      fieldPath: '.promotion.replica',
      check: (a) => a.promotion === undefined || (a.readReplicas ?? []).some((r) => r.name === a.promotion!.replica),
    },
    {
      rule: '!has(self.virtualEndpoint) || (has(self.readReplicas) && size(self.readReplicas) > 0)',
      message: 'a virtual endpoint needs a read replica (readReplicas)',
      fieldPath: '.virtualEndpoint',
      check: (a) => a.virtualEndpoint === undefined || (a.readReplicas ?? []).length > 0,
    },
    // Transition rules on the parent catch removals, which a field's own `self == oldSelf` cannot see.
    {
      rule: '!has(oldSelf.promotion) || (has(self.promotion) && self.promotion.replica == oldSelf.promotion.replica)',
      message: 'a requested promotion cannot be removed or moved to another replica: the TenantDatabase follows the promoted server',
      fieldPath: '.promotion',
    },
    { rule: '!has(oldSelf.administratorLogin) || has(self.administratorLogin)', message: 'administratorLogin is immutable and cannot be removed', fieldPath: '.administratorLogin' },
    {
      rule: '!has(oldSelf.backup) || !oldSelf.backup.geoRedundant || (has(self.backup) && self.backup.geoRedundant)',
      message: 'backup.geoRedundant is immutable',
      fieldPath: '.backup',
    },
  ],
);

// ---------------------------------------------------------------------------------------------
// Existing server

export const externalServerSchema = withRules(
  z
    .object({
      host: z.string().min(1).max(253).regex(new RegExp(HOST_PATTERN)).describe('DNS name or IPv4 address of the PostgreSQL server.'),
      port: z.int().min(1).max(65535).default(5432).describe('TCP port of the server.'),
      sslMode: z
        .enum(['require', 'verify-ca', 'verify-full'])
        .default('verify-full')
        .describe('TLS verification: require (encrypt only), verify-ca (trusted CA) or verify-full (CA and host name).'),
      caSecretRef: secretKeyRef('Secret holding the CA certificate (PEM) the server certificate is checked against.', 'ca.crt').optional(),
      adminSecretRef: localObjectRef(
        'Secret with keys username and password of a role that may create databases and roles.',
        'Name of the Secret.',
      ),
    })
    .describe('An existing PostgreSQL server (Azure or not) the operator connects to; it never changes the server itself.'),
  [
    {
      rule: "self.sslMode != 'verify-ca' || has(self.caSecretRef)",
      message: 'sslMode verify-ca requires caSecretRef',
      fieldPath: '.caSecretRef',
      reason: 'FieldValueRequired',
      check: (e) => e.sslMode !== 'verify-ca' || e.caSecretRef !== undefined,
    },
  ],
);

export const serverSchema = withRules(
  z
    .object({
      azure: azureServerSchema.optional(),
      external: externalServerSchema.optional(),
    })
    .describe('Where the database lives: exactly one of azure or external.'),
  [
    {
      rule: 'has(self.azure) != has(self.external)',
      message: 'exactly one of spec.server.azure or spec.server.external must be set',
      check: (s) => (s.azure === undefined) !== (s.external === undefined),
    },
    { rule: 'has(self.azure) == has(oldSelf.azure)', message: 'a TenantDatabase cannot switch between azure and external servers' },
  ],
);

// ---------------------------------------------------------------------------------------------
// Database, roles, tenancy, partitioning

const databaseSchema = z
  .object({
    name: immutable(
      databaseName('Name of the PostgreSQL database (lower-case identifier, at most 63 bytes); immutable.'),
      'database.name',
    ),
    extensions: listSet(
      z
        .array(z.string().min(1).max(63).regex(new RegExp(EXTENSION_NAME_PATTERN)))
        .max(64)
        .describe('Extensions to create in the database (must be allow-listed on the server, e.g. azure.extensions).'),
    ).optional(),
    adopt: z
      .boolean()
      .optional()
      .describe(
        'Manage a database that exists and was not created by this object (owner, grants). Without it such a database is left untouched and the object is Stalled (DatabaseExists). An adopted database is never dropped, whatever deletionPolicy says.',
      ),
  })
  .describe('The database to create.');

const rolesSchema = withRules(
  z
    .object({
      owner: roleName('Role that owns the database and its schemas; migrations run as it (NOLOGIN).'),
      application: roleName('Login role of the application; subject to tenant row-level security.'),
      admin: roleName('Login role that bypasses tenant isolation (for operators and support).').optional(),
      analytics: roleName('Login role with read-only access across tenants.').optional(),
      adopt: listSet(
        z
          .array(z.enum(['owner', 'application', 'admin', 'analytics']))
          .max(4)
          .describe(
            'Roles (by kind) that may exist already and are taken over: attributes, password and grants managed, comment replaced by an adoption record. A role named here that exists without it is left untouched and the object is Stalled (RoleExists). An adopted role is never dropped.',
          ),
      ).optional(),
    })
    .describe('Role names the operator creates and grants.'),
  [
    {
      rule:
        'self.owner != self.application' +
        ' && (!has(self.admin) || (self.admin != self.owner && self.admin != self.application))' +
        ' && (!has(self.analytics) || (self.analytics != self.owner && self.analytics != self.application && (!has(self.admin) || self.analytics != self.admin)))',
      message: 'role names must be distinct',
      check: (r) => {
        const names = [r.owner, r.application, r.admin, r.analytics].filter((n) => n !== undefined);
        return new Set(names).size === names.length;
      },
    },
  ],
);

const tableRefSchema = z
  .object({
    schema: sqlIdentifier('Schema of the table.').default('public'),
    name: sqlIdentifier('Name of the table.'),
  })
  .describe('A table.');

const tenancySchema = z
  .object({
    tenantColumn: sqlIdentifier('Column that holds the tenant id in every tenant table.').default('tenant_id'),
    tenantSetting: z
      .string()
      .max(63)
      .regex(new RegExp(CUSTOM_GUC_NAME_PATTERN))
      .default('app.current_tenant_id')
      .describe('Qualified setting the application sets to the current tenant id; row-level security compares tenantColumn with it.'),
    tables: listMap(z.array(tableRefSchema).max(256).describe('Tables isolated per tenant with row-level security.'), ['schema', 'name']).optional(),
    schemas: listSet(z.array(sqlIdentifier('A schema.')).max(64).describe('Schemas whose tables all have tenant isolation.')).optional(),
  })
  .describe('Tenant isolation by row-level security.');

const entraPrincipalSchema = withRules(
  z
    .object({
      name: z
        .string()
        .min(1)
        .max(63)
        .regex(/^[A-Za-z0-9][-A-Za-z0-9@._ ]{0,61}[A-Za-z0-9]$/)
        .describe('PostgreSQL role of the principal (its user principal name, group or application name; at most 63 characters).'),
      objectId: uuid('Object ID of the Entra principal (user, group, service principal or managed identity).'),
      type: z.enum(['User', 'Group', 'ServicePrincipal']).describe('Kind of principal: User, Group or ServicePrincipal (also for managed identities).'),
      access: z
        .enum(['application', 'admin', 'analytics', 'migrations'])
        .default('application')
        .describe(
          "Whose grants it gets: the application, admin or analytics role (tenant isolation applies to it as to that role), or migrations: a member of the owner role only, the login that Migrations with runAs: owner use on a server that refuses passwords (the operator gets its token with credentialsSecretRef).",
        ),
      credentialsSecretRef: localObjectRef(
        'Secret with this service principal\'s own credentials (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET), for access: migrations only: the operator logs in as this principal with a token it gets with them, so migration steps run with the owner\'s rights, not the administrator\'s.',
        'Name of the Secret in this namespace.',
      ).optional(),
    })
    .describe('A Microsoft Entra principal that logs in to the database with a token (no password).'),
  [
    {
      rule: "self.access != 'migrations' || (self.type == 'ServicePrincipal' && has(self.credentialsSecretRef))",
      message: 'access: migrations needs type ServicePrincipal and credentialsSecretRef (the operator logs in as it with its own credentials)',
      fieldPath: '.credentialsSecretRef',
      reason: 'FieldValueRequired',
      check: (p) => p.access !== 'migrations' || (p.type === 'ServicePrincipal' && p.credentialsSecretRef !== undefined),
    },
    {
      rule: "!has(self.credentialsSecretRef) || self.access == 'migrations'",
      message: 'credentialsSecretRef is for access: migrations only (other principals get their own tokens; the operator never holds their credentials)',
      fieldPath: '.credentialsSecretRef',
      reason: 'FieldValueForbidden',
      check: (p) => p.credentialsSecretRef === undefined || p.access === 'migrations',
    },
  ],
);

const partitionRetentionSchema = z
  .object({
    keep: z.int().min(1).max(10000).describe('Number of past partitions to keep attached.'),
    action: z
      .enum(['detach', 'drop'])
      .default('detach')
      .describe('What happens to partitions past keep: detach (kept as plain tables) or drop (data deleted).'),
  })
  .describe('Retention of old partitions.');

const partitioningSchema = z
  .object({
    schema: sqlIdentifier('Schema of the partitioned table.').default('public'),
    table: sqlIdentifier('Partitioned table (PARTITION BY RANGE on column).'),
    column: sqlIdentifier('Time column the table is range-partitioned by.'),
    interval: z.enum(['daily', 'weekly', 'monthly', 'yearly']).describe('Width of each partition.'),
    premake: z.int().min(1).max(366).default(4).describe('Number of future partitions kept created ahead.'),
    retention: partitionRetentionSchema.optional(),
    defaultPartition: z.boolean().default(true).describe('Keep a DEFAULT partition for rows outside every range.'),
  })
  .describe('Time-based partition maintenance for one table.');

export const tenantDatabaseSpecSchema = z
  .object({
    server: serverSchema,
    database: databaseSchema,
    roles: rolesSchema,
    tenancy: tenancySchema.optional(),
    entraPrincipals: withRules(
      listMap(
        z.array(entraPrincipalSchema).max(64).describe('Microsoft Entra principals created as database roles (server with authentication.entraAuth); removed from the server when taken out of the list.'),
        ['name'],
      ),
      [
        {
          rule: "self.filter(p, p.access == 'migrations').size() <= 1",
          message: 'at most one principal with access: migrations',
          check: (list) => list.filter((p) => p.access === 'migrations').length <= 1,
        },
      ],
    ).optional(),
    partitioning: listMap(z.array(partitioningSchema).max(64).describe('Tables whose partitions the operator maintains.'), ['schema', 'table']).optional(),
    maintenance: maintenanceSpecSchema.optional(),
    connectionSecret: z
      .object({ name: k8sName('Name of the Secret; defaults to <metadata.name>-connection.') })
      .describe('Secret the operator writes with the application connection details (host, port, database, username, password, sslmode, uri).')
      .optional(),
    health: healthSpecSchema.optional(),
    deletionPolicy: z
      .enum(['Retain', 'Delete'])
      .default('Retain')
      .describe('On deletion of this object: Retain keeps server, database and roles; Delete removes what the operator created.'),
  })
  .describe('Desired state of a tenant database.');

export const tenantDatabaseStatusSchema = z
  .object({
    ...statusBaseShape,
    serverName: z.string().max(253).optional().describe('Name of the server in use.'),
    serverFQDN: z.string().max(253).optional().describe('Fully qualified host name clients connect to.'),
    serverState: z.string().max(64).optional().describe('State Azure reports for the server (Ready, Starting, Updating...), or Reachable for external servers.'),
    serverVersion: z.string().max(64).optional().describe('PostgreSQL version the server runs.'),
    azureResourceId: z.string().max(1024).optional().describe('ARM resource ID of the Flexible Server.'),
    connectionSecret: z.string().max(253).optional().describe('Name of the Secret with the connection details.'),
    // The orchestrator: parts whose cleanup finished during deletion, so a later pass (the server being
    // deleted, hence unreachable) does not ask them again.
    finalizedParts: z.array(z.string().max(32)).max(8).optional().describe('Parts whose cleanup is done while the object is being deleted.'),
    // The database part (issue 7): what the operator keeps in shape inside the server.
    database: z
      .object({
        name: z.string().max(63).optional().describe('Name of the PostgreSQL database.'),
        owner: z.string().max(63).optional().describe('Role that owns the database and its schemas.'),
        extensions: z.array(z.string().max(63)).max(64).optional().describe('Extensions of spec.database.extensions present in the database.'),
        connectionSecrets: z.array(z.string().max(253)).max(3).optional().describe('Connection Secrets, one per login role (application, admin, analytics).'),
        credentialsRotation: z.string().max(253).optional().describe('Value of the tenantdb.io/rotate-credentials annotation the current passwords were set for.'),
      })
      .optional()
      .describe('The database, its roles and connection Secrets as last synced.'),
    // The tenancy part (issue 8): row-level security, the isolation audit, partition maintenance.
    tenancy: z
      .object({
        tablesCovered: z.int().min(0).optional().describe('Tenant tables with row-level security and the operator policies in place.'),
        partitionsCovered: z.int().min(0).optional().describe('Partitions of tenant tables with their own row-level security in place.'),
        missingTables: z.array(z.string().max(130)).max(50).optional().describe('Listed tenant tables that do not exist (yet); covered as soon as a migration creates them.'),
        tablesWithoutTenantColumn: z.array(z.string().max(130)).max(50).optional().describe('Listed tables that lack tenantColumn: reported, not isolated.'),
        unmanaged: z.array(z.string().max(300)).max(50).optional().describe('Tenant tables the operator cannot change (owner it cannot act as, or a kind without row-level security).'),
        foreignPolicies: z
          .array(z.object({ table: z.string().max(130).describe('The table (schema.name).'), policy: z.string().max(63).describe('Name of the policy.') }).describe('A policy the operator did not make.'))
          .max(50)
          .optional()
          .describe('Policies on tenant tables the operator did not make (left alone; its own restrictive policy keeps them from widening the application).'),
        auditFindings: z
          .array(
            z
              .object({
                kind: z.string().max(64).describe('What kind of hole.'),
                object: z.string().max(300).describe('The object, as SQL names it.'),
                fix: z.string().max(600).describe('Why it leaks and how to fix it.'),
              })
              .describe('A way tenant data leaks around row-level security.'),
          )
          .max(50)
          .optional()
          .describe('Isolation audit: holes row-level security does not close by itself (the first 50).'),
        auditFindingsTotal: z.int().min(0).optional().describe('Number of audit findings.'),
      })
      .optional()
      .describe('Tenant isolation as last synced.'),
    partitions: listMap(
      z
        .array(
          z
            .object({
              schema: z.string().max(63).describe('Schema of the table.'),
              table: z.string().max(63).describe('The partitioned table.'),
              interval: z.string().max(16).optional().describe('Width of each partition.'),
              partitions: z.int().min(0).optional().describe('Attached range partitions.'),
              nextMaintenanceDue: timestampField('When the next maintenance is due (before the next interval boundary).').optional(),
              problem: z.string().max(1024).optional().describe('Why the table cannot be maintained, when it cannot.'),
              lastMaintenance: z
                .object({
                  time: timestampField('When maintenance last changed something.').optional(),
                  result: z.string().max(1024).optional().describe('What it did.'),
                })
                .optional()
                .describe('The last maintenance that changed something.'),
            })
            .describe('Partition maintenance of one table.'),
        )
        .max(64)
        .describe('Partition maintenance per spec.partitioning table.'),
      ['schema', 'table'],
    ).optional(),
    maintenance: maintenanceStatusSchema.optional(),
    pendingRestart: z.boolean().optional().describe('Server parameters changed that take effect only after a restart.'),
    parametersPendingRestart: z.array(z.string().max(63)).max(128).optional().describe('Names of the parameters waiting for a restart.'),
    replicas: listMap(
      z
        .array(
          z
            .object({
              name: z.string().max(63).describe('Name of the replica server.'),
              state: z.string().max(64).optional().describe('State Azure reports for the replica.'),
              fqdn: z.string().max(253).optional().describe('Host name of the replica.'),
            })
            .describe('A read replica.'),
        )
        .max(5)
        .describe('Observed read replicas.'),
      ['name'],
    ).optional(),
    // Issue 18: the last promotion request and what it measured.
    promotion: z
      .object({
        requestId: z.string().max(63).describe('spec.server.azure.promotion.requestId this record is about.'),
        replica: z.string().max(63).describe('The replica promoted (the primary after promotion).'),
        fromServer: z.string().max(63).optional().describe('The primary before promotion (left as it is with Standalone: see README, Promotion).'),
        mode: z.string().max(16).optional().describe('promoteMode sent.'),
        option: z.string().max(16).optional().describe('promoteOption sent.'),
        phase: z.enum(['Promoting', 'Promoted', 'AlreadyPrimary']).describe('Promoting: sent to Azure; Promoted: the replica is the primary and answered; AlreadyPrimary: nothing was sent.'),
        requestedAt: timestampField('When the operator took up the request.').optional(),
        promotedAt: timestampField('When Azure reported the replica promoted.').optional(),
        completedAt: timestampField('First successful connection to the new primary.').optional(),
        rtoSeconds: z.number().min(0).max(1e9).optional().describe('Recovery time measured: from requestedAt to the first successful connection to the new primary.'),
        replayLagBytes: z.number().min(0).optional().describe('WAL the replica had received but not replayed when the request was taken up.'),
        lostWindowBytes: z.number().min(0).optional().describe('Forced: WAL the primary had written that the replica had not received when the promotion was sent (lost; a lower bound while the primary kept writing).'),
        lastReplayedAt: timestampField('Commit time of the last transaction the replica had replayed when the promotion was sent.').optional(),
        message: z.string().max(1024).optional().describe('What happened, for a person.'),
      })
      .optional()
      .describe('The last promotion of a read replica (spec.server.azure.promotion).'),
    // The health part (issue 17): figures of spec.health.
    health: healthStatusSchema.optional(),
    lastReconcileTime: timestampField('When the operator last completed a reconcile.').optional(),
    // --- Azure server part (issue 12): what the operator needs to resume and to know what it made.
    azure: z
      .object({
        operation: z
          .object({
            kind: z.string().max(64).describe('What the operation does, e.g. servers.create, firewallRules.delete.'),
            target: z.string().max(256).describe('Name of the resource it acts on (server, rule, parameter...).'),
            startedAt: timestampField('When the operator started it.'),
            pollerState: z.string().max(16384).describe("The SDK's serialised poller state (operation URLs) to resume polling after a restart."),
          })
          .optional()
          .describe('Azure long-running operation in flight.'),
        origin: z.enum(['created', 'adopted']).optional().describe('Whether the operator created the server or adopted an existing one (Delete only removes created ones).'),
        passwordSecretVersion: z.string().max(64).optional().describe('resourceVersion of the administrator password Secret last applied to the server.'),
        backupRetentionOwner: z.string().max(253).optional().describe('BackupPolicy that owns backup retention of the server (this object then leaves it alone).'),
        backupRetentionIgnoredDays: z.int().min(0).max(100).optional().describe('spec backup.retentionDays last reported (Warning Event) as ignored because a BackupPolicy owns retention.'),
        virtualEndpoint: z
          .object({
            name: z.string().max(63).describe('Name of the virtual endpoint.'),
            server: z.string().max(63).describe('Server it was created under.'),
          })
          .optional()
          .describe('The virtual endpoint this object created (recorded when its create is sent; only it is ever deleted, and only while its servers are held by this object).'),
        restartDueAt: timestampField('When the restart for parameters pending a restart is due (restartPolicy MaintenanceWindow).').optional(),
        failover: z
          .object({
            requestId: z.string().max(63).describe('spec highAvailability.failover.requestId this record is about (a request is run once: the server tag tenantdb-failover says which one was handled).'),
            mode: z.enum(['Planned', 'Forced']).describe('Failover mode requested.'),
            phase: z
              .enum(['Requested', 'Running', 'Succeeded', 'Failed'])
              .describe('Where the failover is: Requested (the server is tagged with the request, the restart comes next), Running, Succeeded or Failed.'),
            startedAt: timestampField('When the operator tagged the server with the request, then when it asked Azure to fail over.'),
            completedAt: timestampField('When the failover operation ended.').optional(),
            writableAfterSeconds: z.number().min(0).max(1e6).optional().describe('Measured: seconds from the request until the database (through its host name) accepted a write again.'),
            message: z.string().max(1024).optional().describe('What happened, or why it failed.'),
            operation: armOperationSchema.optional().describe('The restart-with-failover operation in flight (resumed after an operator restart).'),
          })
          .optional()
          .describe('The last failover request handled (spec highAvailability.failover).'),
      })
      .optional()
      .describe('State of the Azure server part.'),
  })
  .describe('Observed state of the tenant database.');

export const tenantDatabaseSchema = kindObjectSchema('TenantDatabase', tenantDatabaseSpecSchema, tenantDatabaseStatusSchema);

export type TenantDatabaseSpec = z.infer<typeof tenantDatabaseSpecSchema>;
export type TenantDatabaseStatus = z.infer<typeof tenantDatabaseStatusSchema>;
export type TenantDatabase = z.infer<typeof tenantDatabaseSchema>;
/** Status blocks the parts own. */
export type DatabaseStatus = NonNullable<TenantDatabaseStatus['database']>;
export type TenancyStatus = NonNullable<TenantDatabaseStatus['tenancy']>;
export type PartitionStatus = NonNullable<TenantDatabaseStatus['partitions']>[number];
export type AzureStatus = NonNullable<TenantDatabaseStatus['azure']>;
/** One spec.partitioning item (a table whose partitions the operator maintains). */
export type PartitioningSpec = NonNullable<TenantDatabaseSpec['partitioning']>[number];
export type AzureServerSpec = z.infer<typeof azureServerSchema>;
export type ExternalServerSpec = z.infer<typeof externalServerSchema>;
export type FirewallRule = z.infer<typeof firewallRuleSchema>;

export function validateTenantDatabase(input: unknown) {
  return validateWith('TenantDatabase', tenantDatabaseSchema, input);
}

export const tenantDatabaseKind: KindDefinition = {
  info: KINDS.TenantDatabase,
  description: 'A multi-tenant PostgreSQL database with its roles, row-level tenant isolation and partitioning, on an Azure Flexible Server or an existing server.',
  spec: tenantDatabaseSpecSchema,
  status: tenantDatabaseStatusSchema,
  categories: ['tenantdb'],
  printerColumns: [
    ...READY_COLUMNS,
    { name: 'Database', type: 'string', jsonPath: '.spec.database.name', description: 'PostgreSQL database name.' },
    { name: 'Server', type: 'string', jsonPath: '.status.serverFQDN', description: 'Host name of the server.' },
    { name: 'State', type: 'string', jsonPath: '.status.serverState', description: 'State of the server.' },
    { name: 'Version', type: 'string', jsonPath: '.status.serverVersion', description: 'PostgreSQL version.', priority: 1 },
    AGE_COLUMN,
  ],
};
