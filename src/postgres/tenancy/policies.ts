// The desired row-level-security policy set of one tenant table (or partition), as pure data, and the
// SQL that creates it. Policies carry a fixed name prefix so the operator only ever touches its own,
// and a COMMENT that fingerprints both what was asked (the desired hash) and what the catalog held right
// after creation (the actual hash of the deparsed policy): a later ALTER POLICY changes the actual hash,
// a spec change the desired one, and either makes the sync recreate the policy. Comparing fingerprints
// avoids predicting how PostgreSQL deparses an expression (which varies with column type and version).
import { createHash } from 'node:crypto';
import { ident, literal, qualified } from '../ident.js';

/** Every policy the operator makes starts with this; others are "foreign" and only reported. */
export const POLICY_PREFIX = 'tenantdb_';
/** First word of the COMMENT on the operator's policies. */
export const POLICY_COMMENT_TAG = 'tenantdb-operator';

export interface TenancyRoles {
  owner: string;
  application: string;
  admin?: string | undefined;
  analytics?: string | undefined;
}

export interface TenancyRules {
  roles: TenancyRoles;
  tenantColumn: string;
  tenantSetting: string;
}

export interface DesiredPolicy {
  name: string;
  permissive: boolean;
  command: 'ALL' | 'SELECT';
  role: string;
  using: string;
  check?: string;
  /** Fingerprint of the above: changes when the spec asks for something else. */
  hash: string;
}

/** Column types compared with the setting as text; anything else gets an explicit cast. */
const TEXT_TYPES = /^(text|character varying(\(\d+\))?|varchar(\(\d+\))?|character(\(\d+\))?|name|citext)$/;

/**
 * The tenant predicate. NULLIF(current_setting(s, true), '') is NULL when the setting is unset (missing_ok),
 * set to NULL (RESET / set_config(s, NULL)) or set to '' — and `col = NULL` matches no row, so every way of
 * not naming a tenant fails closed. A non-text column is compared with the setting cast to its type (index
 * usable); a value that does not cast raises an error, which also fails closed.
 * `columnType` is format_type() output from the catalog (already quoted by PostgreSQL), never user input.
 */
export function tenantPredicate(column: string, setting: string, columnType: string): string {
  const value = `NULLIF(current_setting(${literal(setting)}, true), '')`;
  return TEXT_TYPES.test(columnType) ? `(${ident(column)} = ${value})` : `(${ident(column)} = (${value})::${columnType})`;
}

function fingerprint(p: Omit<DesiredPolicy, 'hash'>): string {
  return createHash('sha256').update(JSON.stringify([p.name, p.permissive, p.command, p.role, p.using, p.check ?? null])).digest('hex').slice(0, 16);
}

/** The operator's policies for one table whose tenant column has type `columnType`. */
export function desiredPolicies(rules: TenancyRules, columnType: string): DesiredPolicy[] {
  const pred = tenantPredicate(rules.tenantColumn, rules.tenantSetting, columnType);
  const list: Array<Omit<DesiredPolicy, 'hash'>> = [
    // The application: its tenant's rows only, for reading and for writing.
    { name: `${POLICY_PREFIX}application`, permissive: true, command: 'ALL', role: rules.roles.application, using: pred, check: pred },
    // The same predicate as RESTRICTIVE: a permissive policy someone else adds for the application (or
    // PUBLIC) is OR-ed with ours and could widen it; a restrictive one is AND-ed, so it cannot.
    { name: `${POLICY_PREFIX}application_guard`, permissive: false, command: 'ALL', role: rules.roles.application, using: pred, check: pred },
    // FORCE ROW LEVEL SECURITY subjects the owner too; migrations (run as the owner) backfill all rows.
    { name: `${POLICY_PREFIX}owner`, permissive: true, command: 'ALL', role: rules.roles.owner, using: 'true', check: 'true' },
  ];
  if (rules.roles.admin) list.push({ name: `${POLICY_PREFIX}admin`, permissive: true, command: 'ALL', role: rules.roles.admin, using: 'true', check: 'true' });
  if (rules.roles.analytics) list.push({ name: `${POLICY_PREFIX}analytics`, permissive: true, command: 'SELECT', role: rules.roles.analytics, using: 'true' });
  return list.map((p) => ({ ...p, hash: fingerprint(p) }));
}

export function createPolicySql(schema: string, table: string, p: DesiredPolicy): string {
  return (
    `CREATE POLICY ${ident(p.name)} ON ${qualified(schema, table)} AS ${p.permissive ? 'PERMISSIVE' : 'RESTRICTIVE'} FOR ${p.command} TO ${ident(p.role)}` +
    ` USING ${p.using.startsWith('(') ? p.using : `(${p.using})`}` +
    (p.check !== undefined ? ` WITH CHECK ${p.check.startsWith('(') ? p.check : `(${p.check})`}` : '')
  );
}

export function dropPolicySql(schema: string, table: string, name: string): string {
  return `DROP POLICY IF EXISTS ${ident(name)} ON ${qualified(schema, table)}`;
}

/** The comment that records a policy's fingerprints; hashes are hex, so the literal is inert. */
export function policyComment(desiredHash: string, actualHash: string): string {
  return `${POLICY_COMMENT_TAG} d=${desiredHash} a=${actualHash}`;
}

export function commentPolicySql(schema: string, table: string, name: string, desiredHash: string, actualHash: string): string {
  return `COMMENT ON POLICY ${ident(name)} ON ${qualified(schema, table)} IS ${literal(policyComment(desiredHash, actualHash))}`;
}

export function parsePolicyComment(comment: string | null | undefined): { desired: string; actual: string } | undefined {
  const m = /^tenantdb-operator d=([0-9a-f]+) a=([0-9a-f]+)$/.exec(comment ?? '');
  return m ? { desired: m[1]!, actual: m[2]! } : undefined;
}

/**
 * SQL expression (over pg_policy aliased `p`) that fingerprints a policy as the catalog holds it. The same
 * expression computes the hash stored at creation and the one compared later.
 */
export const ACTUAL_POLICY_HASH_SQL = `md5(concat_ws('|', p.polname, p.polcmd::text, p.polpermissive::text, array_to_string(p.polroles, ','), coalesce(pg_get_expr(p.polqual, p.polrelid), ''), coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '')))`;

/** Privileges that let a role go around row-level security (or run code as other roles), never held by the application or analytics roles. */
export const BYPASS_PRIVILEGES = ['TRUNCATE', 'REFERENCES', 'TRIGGER'] as const;
