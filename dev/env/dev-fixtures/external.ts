// Dev fixture for crds/examples/tenantdatabase-external.yaml: what a user would bring along for an existing
// server, made from the local environment's PostgreSQL. The example names pg-primary.databases.svc.cluster.local
// with Secrets pg-primary-ca and pg-primary-admin: the server's certificate carries that name
// (dev/env/localenv.ts), a hosts file maps it to the server (the operator reads it through
// --postgres-hosts-file, see ../operator.ts), and the admin Secret holds a CREATEDB CREATEROLE role that is
// not superuser, as a managed server's administrator is.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { scramVerifier } from '../../../src/postgres/database/scram.js';
import type { EnvInfo } from '../localenv.js';
import type { DevFixtureContext } from './context.js';

export const EXTERNAL_HOST = 'pg-primary.databases.svc.cluster.local';
// Names starting with pg_ are reserved by PostgreSQL.
const ADMIN_ROLE = 'primary_admin';

/** The hosts file of this fixture (merged with the emulator's by localOperatorFlags). */
export function externalHostsFile(env: Pick<EnvInfo, 'dir'>): string {
  return path.join(env.dir, 'postgres', 'external-hosts.json');
}

export async function prepare(ctx: DevFixtureContext): Promise<void> {
  const env = ctx.env;
  const file = externalHostsFile(env);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify({ [EXTERNAL_HOST]: { host: env.postgres.host, port: env.postgres.port } }, null, 2) + '\n');

  // The admin password is kept beside the environment, so a second `npm run dev` reuses the same role.
  const pwFile = path.join(env.dir, 'postgres', 'pg-primary-admin.password');
  if (!fs.existsSync(pwFile)) fs.writeFileSync(pwFile, randomBytes(24).toString('base64url'), { mode: 0o600 });
  const password = fs.readFileSync(pwFile, 'utf8').trim();
  const ca = fs.readFileSync(env.postgres.caFile, 'utf8');
  const su = new pg.Client({ connectionString: env.postgres.url.replace(/\?.*$/, ''), ssl: { ca, rejectUnauthorized: true } });
  await su.connect();
  try {
    const exists = (await su.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [ADMIN_ROLE])).rowCount;
    // ADMIN_ROLE is a constant; the password's SCRAM verifier travels as a bind parameter, %L quotes it.
    const verb = exists ? 'ALTER' : 'CREATE';
    await su.query(`SELECT set_config('tenantdb.fixture_pw', $1, false)`, [scramVerifier(password)]);
    await su.query(`DO $$ BEGIN EXECUTE format('${verb} ROLE ${ADMIN_ROLE} LOGIN CREATEDB CREATEROLE NOSUPERUSER PASSWORD %L', current_setting('tenantdb.fixture_pw')); END $$`);
    // As azure_pg_admin may: end other roles' sessions (DROP DATABASE on deletionPolicy Delete).
    await su.query(`GRANT pg_signal_backend TO ${ADMIN_ROLE}`);
  } finally {
    await su.end();
  }
  await ctx.apply({
    apiVersion: 'v1',
    kind: 'List',
    items: [
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'pg-primary-admin', namespace: ctx.namespace }, stringData: { username: ADMIN_ROLE, password } },
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'pg-primary-ca', namespace: ctx.namespace }, stringData: { 'ca.crt': ca } },
    ],
  });
  ctx.say(`external server: ${EXTERNAL_HOST} -> ${env.postgres.host}:${env.postgres.port}, admin role ${ADMIN_ROLE} (CREATEDB CREATEROLE, not superuser)`);
}
