// Field types shared by the four kinds. Every pattern here must mean the same in JavaScript (zod at
// runtime) and in Go's RE2 (the apiserver's OpenAPI validation), so no look-around or back-references.
import { z } from 'zod';
import { celString, withRules } from './cel.js';

// ---------------------------------------------------------------------------------------------
// SQL identifiers

/**
 * An unquoted-style PostgreSQL identifier: lower-case ASCII letter or underscore first, then letters,
 * digits, `_` or `$`; at most 63 bytes (NAMEDATALEN-1, and ASCII means bytes == characters).
 * Lower case only because the operator quotes every identifier: a name with capitals would become
 * case-sensitive and every hand-written migration would have to quote it too. The character class
 * alone excludes quotes, semicolons, `--`, whitespace and anything else an injection needs.
 */
export const SQL_IDENTIFIER_PATTERN = '^[a-z_][a-z0-9_$]{0,62}$';
export const SQL_IDENTIFIER_MAX = 63;

export function sqlIdentifier(description: string) {
  return z.string().min(1).max(SQL_IDENTIFIER_MAX).regex(new RegExp(SQL_IDENTIFIER_PATTERN)).describe(description);
}

// Names PostgreSQL itself gives meaning to in role position (GRANT ... TO public, SET ROLE none, ...).
const RESERVED_ROLE_NAMES = ['public', 'none', 'current_user', 'current_role', 'session_user', 'user'] as const;

/** A role name: an identifier that is not in PostgreSQL's reserved `pg_` namespace nor a role keyword. */
export function roleName(description: string) {
  return withRules(sqlIdentifier(description), [
    {
      rule: "!self.startsWith('pg_')",
      message: 'role names starting with pg_ are reserved by PostgreSQL',
      check: (v) => !v.startsWith('pg_'),
    },
    {
      rule: `!(self in [${RESERVED_ROLE_NAMES.map(celString).join(', ')}])`,
      message: `role name must not be one of ${RESERVED_ROLE_NAMES.join(', ')}`,
      check: (v) => !(RESERVED_ROLE_NAMES as readonly string[]).includes(v),
    },
  ]);
}

// Databases the operator must never create, own or drop.
export const SYSTEM_DATABASES = ['postgres', 'template0', 'template1', 'azure_maintenance', 'azure_sys'] as const;

export function databaseName(description: string) {
  return withRules(sqlIdentifier(description), [
    {
      rule: `!(self in [${SYSTEM_DATABASES.map(celString).join(', ')}])`,
      message: `database name must not be a system database (${SYSTEM_DATABASES.join(', ')})`,
      check: (v) => !(SYSTEM_DATABASES as readonly string[]).includes(v),
    },
  ]);
}

/** Extension names: like identifiers, plus `-` (uuid-ossp). They are quoted when used. */
export const EXTENSION_NAME_PATTERN = '^[a-z_][a-z0-9_-]{0,62}$';

/**
 * A configuration parameter (GUC) name: an identifier, optionally qualified by one prefix
 * (`app.current_tenant_id`, `azure.extensions`, `pg_qs.query_capture_mode`). Mixed case is allowed
 * because PostgreSQL folds GUC names case-insensitively and Azure lists some in mixed case.
 */
export const GUC_NAME_PATTERN = '^[A-Za-z_][A-Za-z0-9_]*([.][A-Za-z_][A-Za-z0-9_]*)?$';
export const GUC_NAME_MAX = 63;
/** A custom GUC must be qualified, or PostgreSQL refuses to set it. */
export const CUSTOM_GUC_NAME_PATTERN = '^[A-Za-z_][A-Za-z0-9_]*[.][A-Za-z_][A-Za-z0-9_]*$';

// ---------------------------------------------------------------------------------------------
// Kubernetes names and references

/** RFC 1123 subdomain: the name of a Secret, ConfigMap or custom object. */
export const K8S_NAME_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';

export function k8sName(description: string) {
  return z.string().min(1).max(253).regex(new RegExp(K8S_NAME_PATTERN)).describe(description);
}

/** A key inside a Secret or ConfigMap. */
export const SECRET_KEY_PATTERN = '^[-._a-zA-Z0-9]+$';

export function secretKeyRef(description: string, defaultKey?: string) {
  const key = z.string().min(1).max(253).regex(new RegExp(SECRET_KEY_PATTERN));
  return z
    .object({
      name: k8sName('Name of the Secret, in the namespace of this object.'),
      key: defaultKey
        ? key.default(defaultKey).describe(`Key inside the Secret (default ${defaultKey}).`)
        : key.describe('Key inside the Secret.'),
    })
    .describe(description);
}

export function localObjectRef(description: string, nameDescription: string) {
  return z.object({ name: k8sName(nameDescription) }).describe(description);
}

/** Reference to the TenantDatabase (same namespace) another kind acts on. */
export function databaseRef() {
  return localObjectRef(
    'The TenantDatabase this object applies to, in the same namespace.',
    'Name of the TenantDatabase.',
  );
}

// Label keys/values as Kubernetes defines them (optional DNS prefix, 63-character name).
export const LABEL_KEY_PATTERN = '^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$';
export const LABEL_VALUE_PATTERN = '^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$';

/**
 * A string-to-string map whose keys are checked by a pattern. zod checks keys natively; OpenAPI in a
 * CRD cannot (no propertyNames), so the same pattern becomes a CEL rule over the keys.
 */
export function stringMap(opts: { description: string; keyPattern: string; keyMax: number; valuePattern?: string; valueMax: number; maxProperties: number; what: string }) {
  const value = opts.valuePattern ? z.string().max(opts.valueMax).regex(new RegExp(opts.valuePattern)) : z.string().max(opts.valueMax);
  const keyRe = new RegExp(opts.keyPattern);
  const schema = z
    .record(z.string().max(opts.keyMax), value)
    .meta({ maxProperties: opts.maxProperties })
    .describe(opts.description);
  return withRules(schema, [
    {
      rule: `self.all(k, size(k) <= ${opts.keyMax} && k.matches(${celString(opts.keyPattern)}))`,
      message: `every ${opts.what} must match ${opts.keyPattern} and be at most ${opts.keyMax} characters`,
      check: (m) => Object.keys(m).every((k) => k.length <= opts.keyMax && keyRe.test(k)),
    },
    {
      rule: `size(self) <= ${opts.maxProperties}`,
      message: `at most ${opts.maxProperties} entries`,
      check: (m) => Object.keys(m).length <= opts.maxProperties,
    },
  ]);
}

// ---------------------------------------------------------------------------------------------
// Network, identity and time formats

const OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
/** Dotted-quad IPv4 without leading zeros (Azure firewall rules are IPv4 only). */
export const IPV4_PATTERN = `^${OCTET}([.]${OCTET}){3}$`;

export function ipv4Address(description: string) {
  return z.string().max(15).regex(new RegExp(IPV4_PATTERN)).describe(description);
}

export function ipv4ToNumber(ip: string): number {
  return ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}

/** DNS host name (RFC 1123) or IPv4 address. */
export const HOST_PATTERN = '^[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?([.][A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*$';

export const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

export function uuid(description: string) {
  return z.string().length(36).regex(new RegExp(UUID_PATTERN)).describe(description);
}

// Five-field cron (minute hour day-of-month month day-of-week), each field a list of `*`, values or
// ranges with an optional step, and each value within its field's range; or one of the @ macros.
function cronField(value: string): string {
  const item = `(\\*|${value}(-${value})?)(/[0-9]{1,2})?`;
  return `${item}(,${item})*`;
}
const CRON_FIELDS = [
  '([0-5]?[0-9])', // minute 0-59
  '([01]?[0-9]|2[0-3])', // hour 0-23
  '(0?[1-9]|[12][0-9]|3[01])', // day of month 1-31
  '(0?[1-9]|1[0-2])', // month 1-12
  '([0-7])', // day of week 0-7 (0 and 7 are Sunday)
];
export const CRON_PATTERN = `^(@(yearly|annually|monthly|weekly|daily|hourly)|${CRON_FIELDS.map(cronField).join(' ')})$`;

export function cronSchedule(description: string) {
  return z.string().min(1).max(100).regex(new RegExp(CRON_PATTERN)).describe(description);
}

/**
 * ISO-8601 duration with days and/or a time part (`PT5M`, `PT1H30M`, `P1D`); years and months are
 * left out on purpose because their length varies.
 */
export const ISO_DURATION_PATTERN = '^P(?:([0-9]{1,4})D)?(?:T(?:([0-9]{1,4})H)?(?:([0-9]{1,5})M)?(?:([0-9]{1,6})S)?)?$';

export function isoDurationSeconds(s: string): number | undefined {
  const m = new RegExp(ISO_DURATION_PATTERN).exec(s);
  if (!m || s === 'P' || s.endsWith('T')) return undefined;
  const [, d, h, min, sec] = m;
  return Number(d ?? 0) * 86400 + Number(h ?? 0) * 3600 + Number(min ?? 0) * 60 + Number(sec ?? 0);
}

export function isoDuration(description: string) {
  return withRules(z.string().min(3).max(32).regex(new RegExp(ISO_DURATION_PATTERN)).describe(description), [
    {
      // The pattern alone admits "P" and "PT"; a duration must name at least one amount.
      rule: "self != 'P' && !self.endsWith('T')",
      message: 'must be an ISO-8601 duration such as PT5M, PT1H or P1D',
      check: (v) => isoDurationSeconds(v) !== undefined,
    },
  ]);
}

/**
 * A PostgreSQL time setting as `SET lock_timeout` takes it: a number and a unit (us, ms, s, min, h, d).
 * The unit is required so `10` cannot silently mean 10 ms.
 */
export const PG_DURATION_PATTERN = '^[0-9]{1,9}(us|ms|s|min|h|d)$';

export function pgDuration(description: string) {
  return z.string().max(12).regex(new RegExp(PG_DURATION_PATTERN)).describe(description);
}
