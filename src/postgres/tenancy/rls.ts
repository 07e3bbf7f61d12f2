// Row-level-security sync: read the tenant relations in one catalog query, diff them against the desired
// policy set (pure), and apply only the differences as the table owner, in batches with a short
// lock_timeout. A converged database issues no DDL at all.
import type { ClientBase } from 'pg';
import { ident, qualified } from '../ident.js';
import { missingRoles, readTenantRelations, type TableRef, type TenancyScope, type TenantRelation } from './catalog.js';
import {
  ACTUAL_POLICY_HASH_SQL,
  BYPASS_PRIVILEGES,
  POLICY_PREFIX,
  commentPolicySql,
  createPolicySql,
  desiredPolicies,
  dropPolicySql,
  parsePolicyComment,
  type DesiredPolicy,
  type TenancyRules,
} from './policies.js';

export interface TenancyInput extends TenancyRules {
  tables: TableRef[];
  schemas: string[];
}

/** What one relation needs; empty lists mean it is in shape. */
export interface RelationChange {
  schema: string;
  name: string;
  owner: string;
  /** ALTER TABLE / REVOKE statements, in order. */
  statements: string[];
  /** Policies to (re)create; their comments are written once the catalog has them. */
  create: DesiredPolicy[];
}

export interface ForeignPolicy {
  table: string;
  policy: string;
  roles: string[];
  permissive: boolean;
}

export interface TenancyPlan {
  changes: RelationChange[];
  /** oids of the tenant relations in scope (for the audit). */
  oids: number[];
  /** Tenant relations (tables and partitions) in scope with the tenant column. */
  covered: number;
  coveredTables: string[];
  missingTables: string[];
  withoutTenantColumn: string[];
  /** Relations the connecting role cannot act as the owner of, or of a kind RLS does not apply to. */
  unmanageable: string[];
  foreignPolicies: ForeignPolicy[];
  /** Tenant tables owned by the application or analytics role (owners can switch RLS off). */
  ownedByRestricted: string[];
}

const show = (schema: string, name: string) => `${schema}.${name}`;

/** Pure: the differences between the tenant relations as read and the desired policy set. */
export function planTenancy(rels: TenantRelation[], rules: TenancyRules): TenancyPlan {
  const plan: TenancyPlan = { changes: [], oids: [], covered: 0, coveredTables: [], missingTables: [], withoutTenantColumn: [], unmanageable: [], foreignPolicies: [], ownedByRestricted: [] };
  const restricted = new Set([rules.roles.application, ...(rules.roles.analytics ? [rules.roles.analytics] : [])]);
  for (const rel of rels) {
    const label = show(rel.schema, rel.name);
    if (rel.oid === null) {
      plan.missingTables.push(label);
      continue;
    }
    if (rel.columnType === null) {
      plan.withoutTenantColumn.push(label);
      continue;
    }
    if (rel.relkind !== 'r' && rel.relkind !== 'p') {
      plan.unmanageable.push(`${label} (relkind ${rel.relkind}: row-level security does not apply)`);
      continue;
    }
    plan.covered++;
    plan.oids.push(rel.oid);
    if (!rel.isPartition) plan.coveredTables.push(label);
    if (rel.owner && restricted.has(rel.owner)) plan.ownedByRestricted.push(label);
    const change = diffRelation(rel, rules);
    for (const p of rel.policies) {
      if (!p.name.startsWith(POLICY_PREFIX)) plan.foreignPolicies.push({ table: label, policy: p.name, roles: p.roles, permissive: p.permissive });
    }
    if (change.statements.length === 0 && change.create.length === 0) continue;
    if (!rel.canManage) {
      plan.unmanageable.push(`${label} (owned by ${rel.owner}, which the operator's login cannot act as)`);
      continue;
    }
    plan.changes.push(change);
  }
  return plan;
}

export function diffRelation(rel: TenantRelation, rules: TenancyRules): RelationChange {
  const q = qualified(rel.schema, rel.name);
  const statements: string[] = [];
  const flags = [...(rel.rls ? [] : ['ENABLE ROW LEVEL SECURITY']), ...(rel.force ? [] : ['FORCE ROW LEVEL SECURITY'])];
  if (flags.length) statements.push(`ALTER TABLE ${q} ${flags.join(', ')}`);
  const desired = desiredPolicies(rules, rel.columnType ?? 'text');
  const wanted = new Map(desired.map((p) => [p.name, p]));
  const create: DesiredPolicy[] = [];
  for (const p of rel.policies) {
    if (!p.name.startsWith(POLICY_PREFIX)) continue;
    const want = wanted.get(p.name);
    const c = parsePolicyComment(p.comment);
    if (want && c && c.desired === want.hash && c.actual === p.actual) {
      wanted.delete(p.name); // in shape
      continue;
    }
    statements.push(dropPolicySql(rel.schema, rel.name, p.name));
  }
  for (const p of wanted.values()) {
    statements.push(createPolicySql(rel.schema, rel.name, p));
    create.push(p);
  }
  const byGrantee = new Map<string, Set<string>>();
  for (const g of rel.bypassGrants) {
    if (!byGrantee.has(g.grantee)) byGrantee.set(g.grantee, new Set());
    byGrantee.get(g.grantee)!.add(g.privilege);
  }
  for (const [grantee, privs] of byGrantee) {
    const list = BYPASS_PRIVILEGES.filter((p) => privs.has(p));
    statements.push(`REVOKE ${list.join(', ')} ON ${q} FROM ${grantee === 'PUBLIC' ? 'PUBLIC' : ident(grantee)}`);
  }
  return { schema: rel.schema, name: rel.name, owner: rel.owner ?? '', statements, create };
}

export interface ApplyOptions {
  lockTimeoutMs?: number;
  /** Attempts per batch when a lock cannot be had in time. */
  attempts?: number;
  /** Relations per transaction. */
  batchSize?: number;
}

export interface ApplyResult {
  /** DDL statements issued (0 when converged). */
  ddl: number;
  /** Relations changed. */
  changed: string[];
  /** Batches that could not get their locks in time (left for the next sync). */
  busy: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function isLockTimeout(err: unknown): boolean {
  return (err as { code?: string } | undefined)?.code === '55P03';
}

/**
 * Runs the changes as the tables' owners. Each batch is one transaction: the DDL of its relations, then
 * the fingerprint comments of the policies it created (read back from pg_policy inside the transaction).
 * `client` must be a dedicated connection (not a pool).
 */
export async function applyTenancy(client: ClientBase, changes: RelationChange[], opts: ApplyOptions = {}): Promise<ApplyResult> {
  const lockTimeoutMs = opts.lockTimeoutMs ?? 2000;
  const attempts = opts.attempts ?? 3;
  const batchSize = opts.batchSize ?? 250;
  const result: ApplyResult = { ddl: 0, changed: [], busy: [] };
  const run = async (batch: RelationChange[], tries: number): Promise<boolean> => {
    for (let attempt = 1; ; attempt++) {
      try {
        await client.query(`BEGIN; SET LOCAL lock_timeout = ${Math.max(1, Math.floor(lockTimeoutMs))}`);
        const ddl = await applyBatch(client, batch);
        await client.query('COMMIT');
        result.ddl += ddl;
        result.changed.push(...batch.map((c) => show(c.schema, c.name)));
        return true;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        if (!isLockTimeout(err)) throw err;
        if (attempt >= tries) return false;
        await sleep(Math.min(200 * 2 ** attempt, 3000));
      }
    }
  };
  for (let i = 0; i < changes.length; i += batchSize) {
    const batch = changes.slice(i, i + batchSize);
    if (await run(batch, attempts)) continue;
    // One busy table must not hold back the others: go through the batch one relation at a time.
    for (const c of batch) if (!(await run([c], 1))) result.busy.push(show(c.schema, c.name));
  }
  return result;
}

/** The DDL of some relations inside the caller's transaction; returns the number of statements. */
export async function applyBatch(client: ClientBase, batch: RelationChange[]): Promise<number> {
  let ddl = 0;
  const byOwner = new Map<string, RelationChange[]>();
  for (const c of batch) {
    if (!byOwner.has(c.owner)) byOwner.set(c.owner, []);
    byOwner.get(c.owner)!.push(c);
  }
  for (const [owner, list] of byOwner) {
    const stmts = list.flatMap((c) => c.statements);
    if (stmts.length === 0) continue;
    // One simple-protocol round trip per owner: SET LOCAL ROLE, then the statements.
    await client.query([`SET LOCAL ROLE ${ident(owner)}`, ...stmts].join(';\n'));
    ddl += stmts.length;
  }
  const created = batch.flatMap((c) => c.create.map((p) => ({ c, p })));
  if (created.length > 0) {
    // Read the fingerprints back as the session user, as the catalog query later does (same search_path,
    // so pg_get_expr deparses the same way).
    await client.query('RESET ROLE');
    const res = await client.query<{ schema: string; name: string; polname: string; actual: string }>(
      `SELECT n.nspname AS schema, c.relname AS name, p.polname, ${ACTUAL_POLICY_HASH_SQL} AS actual
         FROM unnest($1::text[], $2::text[], $3::text[]) AS w(schema, name, polname)
         JOIN pg_namespace n ON n.nspname = w.schema
         JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = w.name
         JOIN pg_policy p ON p.polrelid = c.oid AND p.polname = w.polname`,
      [created.map((x) => x.c.schema), created.map((x) => x.c.name), created.map((x) => x.p.name)],
    );
    const actual = new Map(res.rows.map((r) => [`${r.schema}\u0000${r.name}\u0000${r.polname}`, r.actual]));
    for (const [owner, list] of byOwner) {
      const stmts: string[] = [];
      for (const c of list) {
        for (const p of c.create) {
          const a = actual.get(`${c.schema}\u0000${c.name}\u0000${p.name}`);
          if (a) stmts.push(commentPolicySql(c.schema, c.name, p.name, p.hash, a));
        }
      }
      if (stmts.length === 0) continue;
      await client.query([`SET LOCAL ROLE ${ident(owner)}`, ...stmts].join(';\n'));
      ddl += stmts.length;
    }
  }
  await client.query('RESET ROLE');
  return ddl;
}

export interface TenancySyncResult {
  plan: TenancyPlan;
  apply: ApplyResult;
  missingRoles: string[];
}

/** Scope of the catalog query for a tenancy input. */
export function scopeOf(input: TenancyInput): TenancyScope {
  return {
    tables: input.tables,
    schemas: input.schemas,
    tenantColumn: input.tenantColumn,
    restrictedRoles: [input.roles.application, ...(input.roles.analytics ? [input.roles.analytics] : [])],
  };
}

/** Read, diff, apply: the whole RLS sync of one database. */
export async function syncTenancy(client: ClientBase, input: TenancyInput, opts: ApplyOptions = {}): Promise<TenancySyncResult> {
  const roles = [input.roles.owner, input.roles.application, input.roles.admin, input.roles.analytics].filter((r): r is string => r !== undefined);
  const missing = await missingRoles(client, roles);
  const rels = await readTenantRelations(client, scopeOf(input));
  const plan = planTenancy(rels, input);
  if (missing.length > 0) return { plan, apply: { ddl: 0, changed: [], busy: [] }, missingRoles: missing };
  const apply = await applyTenancy(client, plan.changes, opts);
  return { plan, apply, missingRoles: [] };
}

/**
 * The RLS sync inside the caller's transaction, for a caller that creates tenant tables (a migration run)
 * and wants them isolated in the same commit that makes them visible. Lock waits are the caller's (its
 * lock_timeout applies); returns what was done. Ends with RESET ROLE: a caller acting as the owner sets
 * its role again.
 */
export async function syncTenancyInTransaction(client: ClientBase, input: TenancyInput): Promise<TenancySyncResult> {
  const roles = [input.roles.owner, input.roles.application, input.roles.admin, input.roles.analytics].filter((r): r is string => r !== undefined);
  const missing = await missingRoles(client, roles);
  const rels = await readTenantRelations(client, scopeOf(input));
  const plan = planTenancy(rels, input);
  if (missing.length > 0) return { plan, apply: { ddl: 0, changed: [], busy: [] }, missingRoles: missing };
  const ddl = plan.changes.length ? await applyBatch(client, plan.changes) : 0;
  return { plan, apply: { ddl, changed: plan.changes.map((c) => show(c.schema, c.name)), busy: [] }, missingRoles: [] };
}
