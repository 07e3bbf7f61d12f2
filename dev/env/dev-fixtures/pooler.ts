// After the examples are Ready: the compliance database's application Secret used through its pooler keys,
// as an application in the cluster would (host = the server's FQDN, port 6432, verify-full), to show that
// Azure's built-in PgBouncer (the emulator's real one) answers for the application role.
import fs from 'node:fs';
import pg from 'pg';
import type { DevFixtureContext } from './context.js';

const SECRET = 'compliance-db-app';

export async function showPooler(ctx: DevFixtureContext): Promise<void> {
  const arm = ctx.env.arm;
  if (!arm) return;
  const s = JSON.parse(await ctx.kubectl(['get', 'secret', SECRET, '-n', ctx.namespace, '-o', 'json'])) as { data?: Record<string, string> };
  const uri = s.data?.['pooler-uri'] ? Buffer.from(s.data['pooler-uri'], 'base64').toString('utf8') : undefined;
  if (!uri) {
    ctx.say(`Secret ${SECRET} has no pooler keys (pgbouncer.enabled is not set on its server)`);
    return;
  }
  const u = new URL(uri);
  // The FQDN does not resolve here; the emulator's host map gives its address (the port is the pooler's).
  const hosts = JSON.parse(fs.readFileSync(arm.hostsFile, 'utf8')) as Record<string, { host: string }>;
  const c = new pg.Client({
    host: hosts[u.hostname]?.host ?? u.hostname,
    port: Number(u.port),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database: u.pathname.slice(1),
    ssl: { ca: fs.readFileSync(arm.caFile, 'utf8'), servername: u.hostname, rejectUnauthorized: true },
    connectionTimeoutMillis: 10_000,
  });
  c.on('error', () => undefined);
  try {
    await c.connect();
    const r = await c.query<{ u: string; p: number }>('SELECT current_user AS u, inet_server_port() AS p');
    ctx.say(`pooler: ${SECRET} pooler-uri (${u.hostname}:${u.port}, verify-full) reaches PgBouncer as ${r.rows[0]!.u}, pooled onto PostgreSQL's port ${r.rows[0]!.p}`);
  } catch (err) {
    ctx.say(`pooler: ${SECRET} pooler-uri failed: ${(err as Error).message}`);
  } finally {
    await c.end().catch(() => undefined);
  }
}
