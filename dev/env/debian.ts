// Debian packages the environment uses beside its own builds (PgBouncer for the emulated servers' built-in
// pooler), installed with apt-get when missing, as root (or through sudo when that works without a
// password). An install that cannot happen is reported, not fatal: only the feature that needs the
// package is unavailable, and says so.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

export interface DebianTool {
  /** The Debian package. */
  pkg: string;
  /** The binary it installs. */
  binary: string;
}

export const PGBOUNCER: DebianTool = { pkg: 'pgbouncer', binary: '/usr/sbin/pgbouncer' };
/**
 * Debian's PostgreSQL 15 (bookworm), built with LDAP (and PAM): the engine of emulated servers with
 * Microsoft Entra authentication, whose token logins PostgreSQL checks through LDAP (dev/arm-emulator/README.md).
 */
export const POSTGRES_DEBIAN: DebianTool = { pkg: 'postgresql-15', binary: '/usr/lib/postgresql/15/bin/postgres' };

const APT_TIMEOUT_MS = 10 * 60_000;

function apt(args: string[]): { ok: boolean; out: string } {
  const root = process.getuid?.() === 0;
  const cmd = root ? 'apt-get' : 'sudo';
  const argv = root ? args : ['-n', 'apt-get', ...args];
  const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: APT_TIMEOUT_MS, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

/** The binary's path once the package is installed; an Error saying why when it cannot be. */
export function ensureDebianTool(tool: DebianTool, log: (m: string) => void = () => {}): string {
  if (fs.existsSync(tool.binary)) return tool.binary;
  log(`installing Debian's ${tool.pkg} (first run on this machine)...`);
  let r = apt(['install', '-y', '--no-install-recommends', tool.pkg]);
  // A fresh machine may have no package lists yet.
  if (!r.ok) {
    apt(['update']);
    r = apt(['install', '-y', '--no-install-recommends', tool.pkg]);
  }
  if (!r.ok || !fs.existsSync(tool.binary)) throw new Error(`could not install Debian's ${tool.pkg}: ${r.out.trim().split('\n').slice(-3).join(' / ')}`);
  return tool.binary;
}
