// Row-level security for what a migration step creates, before anyone else sees it. A transactional step
// runs the tenancy sync (policies, ENABLE/FORCE ROW LEVEL SECURITY) in its own transaction, right after
// its statements, so a tenant table becomes visible to other sessions already isolated; a
// non-transactional step gets the same right after its last statement. The application's grants on
// tenant tables come here too, with the policies: the owner's default privileges no longer give the
// application anything on new tables (src/postgres/database/privileges.ts, desiredDefaultFor), so
// between a non-transactional CREATE TABLE and this sync the application cannot read the table at all.
import type pg from 'pg';
import { ROLE_PRIVILEGES } from '../database/privileges.js';
import { ident } from '../ident.js';
import { syncTenancyInTransaction, type TenancyInput } from '../tenancy/rls.js';

/** What the isolation did, for logs and tests. */
export interface IsolationResult {
  /** Relations whose row-level security or policies were set. */
  changed: string[];
  /** Tables opened to the application (policies on). */
  granted: string[];
}

// Tenant tables (no partitions: the application goes through the parent) of the owner, with row-level
// security enabled and forced, that the application does not yet hold all of its privileges on.
const UNGRANTED_SQL = `
SELECT format('%I.%I', n.nspname, c.relname) AS t
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.oid = ANY($1::oid[]) AND c.relkind IN ('r', 'p') AND NOT c.relispartition
   AND c.relrowsecurity AND c.relforcerowsecurity
   AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = $2)
   AND NOT (SELECT bool_and(has_table_privilege($3, c.oid, p)) FROM unnest($4::text[]) AS p)
 ORDER BY 1`;

/**
 * Inside the caller's transaction, acting as the owner: the tenancy sync, then the application's grants
 * on the tenant tables that now have their policies. `home` puts the session's role back afterwards
 * (the sync ends with RESET ROLE).
 */
export async function isolateInTransaction(client: pg.ClientBase, tenancy: TenancyInput, home: string): Promise<IsolationResult> {
  const r = await syncTenancyInTransaction(client, tenancy);
  await client.query(home);
  if (r.missingRoles.length) return { changed: [], granted: [] };
  const app = tenancy.roles.application;
  const privileges = ROLE_PRIVILEGES.application.TABLE;
  const rows = await client.query<{ t: string }>(UNGRANTED_SQL, [r.plan.oids, tenancy.roles.owner, app, privileges]);
  const tables = rows.rows.map((x) => x.t);
  // Granted as the owner (the session's role), so the owner is the grantor, as the database part grants.
  if (tables.length) await client.query(`GRANT ${privileges.join(', ')} ON TABLE ${tables.join(', ')} TO ${ident(app)}`);
  return { changed: r.apply.changed, granted: tables };
}
