// SQL run by the emulator's internal superuser on a new instance so it behaves like Azure's: the
// administrator from the create body is NOT a superuser but a member of azure_pg_admin with CREATEDB and
// CREATEROLE; CREATE EXTENSION is refused unless the extension is in `azure.extensions`. Identifiers and
// literals go through node-postgres' escaping, never raw concatenation.
import pg from 'pg';
import { PGAADAUTH_SQL } from './pgaadauth.js';

export const INTERNAL_SCHEMA = 'azure_emulator';

/**
 * Event triggers that make CREATE EXTENSION behave as on Azure:
 * - ddl_command_end refuses extensions outside the allow-list. The list is read from the server's
 *   configuration files (pg_file_settings, superuser-only, hence SECURITY DEFINER), not from the session's
 *   GUC, which any user could SET.
 * - Azure lets azure_pg_admin create allow-listed extensions that PostgreSQL marks untrusted (e.g.
 *   pg_stat_statements). ddl_command_start grants the creating login SUPERUSER for that one command and
 *   ddl_command_end takes it back; if the command fails, the transaction's rollback takes it back.
 */
const EXTENSION_TRIGGERS_SQL = `
CREATE SCHEMA IF NOT EXISTS ${INTERNAL_SCHEMA};
REVOKE ALL ON SCHEMA ${INTERNAL_SCHEMA} FROM PUBLIC;
CREATE OR REPLACE FUNCTION ${INTERNAL_SCHEMA}.allowed_extensions() RETURNS text[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $fn$
  SELECT coalesce(string_to_array(lower(replace((
    SELECT setting FROM pg_catalog.pg_file_settings
    WHERE name = 'azure.extensions' AND error IS NULL ORDER BY seqno DESC LIMIT 1), ' ', '')), ','), '{}')
$fn$;
CREATE OR REPLACE FUNCTION ${INTERNAL_SCHEMA}.before_create_extension() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $fn$
DECLARE
  m text[];
  ext text;
BEGIN
  m := regexp_match(current_query(), 'create\\s+extension\\s+(?:if\\s+not\\s+exists\\s+)?(?:"([^"]+)"|([a-z0-9_-]+))', 'i');
  IF m IS NULL THEN RETURN; END IF;
  ext := lower(coalesce(m[1], m[2]));
  IF (SELECT rolsuper FROM pg_roles WHERE rolname = session_user)
     OR EXISTS (SELECT 1 FROM pg_extension WHERE extname = ext)
     OR NOT (ext = ANY (${INTERNAL_SCHEMA}.allowed_extensions()))
     OR coalesce((SELECT bool_and(trusted) FROM pg_available_extension_versions WHERE name = ext), true) THEN
    RETURN;
  END IF;
  EXECUTE format('ALTER ROLE %I SUPERUSER', session_user);
  PERFORM set_config('azure_emulator.elevated', session_user, true);
END
$fn$;
CREATE OR REPLACE FUNCTION ${INTERNAL_SCHEMA}.check_extension_allowlist() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $fn$
DECLARE
  cmd record;
  ext text;
  elevated text := current_setting('azure_emulator.elevated', true);
BEGIN
  IF coalesce(elevated, '') <> '' THEN
    EXECUTE format('ALTER ROLE %I NOSUPERUSER', elevated);
    PERFORM set_config('azure_emulator.elevated', '', true);
  END IF;
  FOR cmd IN SELECT * FROM pg_catalog.pg_event_trigger_ddl_commands() WHERE object_type = 'extension' LOOP
    ext := lower(btrim(cmd.object_identity, '"'));
    IF ext <> 'plpgsql' AND NOT (ext = ANY (${INTERNAL_SCHEMA}.allowed_extensions())) THEN
      RAISE EXCEPTION 'extension "%" is not allow-listed for "azure_pg_admin" users in Azure Database for PostgreSQL', ext
        USING ERRCODE = '0A000',
              HINT = 'to learn how to allow an extension or see the list of allowed extensions, please refer to https://go.microsoft.com/fwlink/?linkid=2301063';
    END IF;
  END LOOP;
END
$fn$;
DROP EVENT TRIGGER IF EXISTS azure_extension_elevate;
CREATE EVENT TRIGGER azure_extension_elevate ON ddl_command_start WHEN TAG IN ('CREATE EXTENSION')
  EXECUTE FUNCTION ${INTERNAL_SCHEMA}.before_create_extension();
DROP EVENT TRIGGER IF EXISTS azure_extension_allowlist;
CREATE EVENT TRIGGER azure_extension_allowlist ON ddl_command_end WHEN TAG IN ('CREATE EXTENSION')
  EXECUTE FUNCTION ${INTERNAL_SCHEMA}.check_extension_allowlist();
`;

export interface BootstrapOptions {
  /** Absent for a server created with password authentication disabled (Microsoft Entra only). */
  adminLogin?: string;
  adminPassword?: string;
  replicationUser: string;
  replicationPassword: string;
}

/** `connect(db)` returns a connected superuser client for database `db`. */
export async function bootstrapInstance(connect: (db: string) => Promise<pg.Client>, o: BootstrapOptions): Promise<void> {
  const c = await connect('postgres');
  try {
    // Role passwords must not reach the server log whatever log_statement says.
    await c.query("SET log_statement = 'none'");
    await c.query('CREATE ROLE azure_pg_admin NOLOGIN');
    // pg_create_subscription exists from PostgreSQL 16 (servers with Entra authentication run on 15).
    const predefined = await c.query<{ rolname: string }>(
      "SELECT rolname FROM pg_roles WHERE rolname IN ('pg_monitor', 'pg_signal_backend', 'pg_read_all_settings', 'pg_create_subscription') ORDER BY rolname",
    );
    await c.query(`GRANT ${predefined.rows.map((r) => c.escapeIdentifier(r.rolname)).join(', ')} TO azure_pg_admin WITH ADMIN OPTION`);
    if (o.adminLogin) {
      const admin = c.escapeIdentifier(o.adminLogin);
      await c.query(`CREATE ROLE ${admin} LOGIN CREATEDB CREATEROLE PASSWORD ${c.escapeLiteral(o.adminPassword ?? '')} IN ROLE azure_pg_admin`);
    }
    await c.query(`CREATE ROLE ${c.escapeIdentifier(o.replicationUser)} LOGIN REPLICATION PASSWORD ${c.escapeLiteral(o.replicationPassword)}`);
    // As on Azure, the administrator can create objects in the public schema of the default databases.
    await c.query('GRANT ALL ON SCHEMA public TO azure_pg_admin');
    // Trusted extensions need CREATE on the database; Azure's administrator has it on `postgres`.
    await c.query('GRANT CREATE ON DATABASE postgres TO azure_pg_admin');
    await c.query(EXTENSION_TRIGGERS_SQL);
    await c.query(PGAADAUTH_SQL);
  } finally {
    await c.end();
  }
  // New databases are copies of template1, so they inherit the trigger and the grant.
  const t = await connect('template1');
  try {
    await t.query('GRANT ALL ON SCHEMA public TO azure_pg_admin');
    await t.query(EXTENSION_TRIGGERS_SQL);
    await t.query(PGAADAUTH_SQL);
  } finally {
    await t.end();
  }
}
