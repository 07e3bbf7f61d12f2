// Where the local environment keeps its files. `.local/` (git-ignored) holds the state of a running
// environment; the Go-built binaries live in a cache outside the checkout so that fresh clones (and CI)
// reuse them instead of compiling Kubernetes again.
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** State of the environment started from this checkout (certificates, data dirs, logs, env.json). */
export function localDir(): string {
  return process.env.TENANTDB_LOCAL_DIR ?? path.join(repoRoot, '.local');
}

/**
 * Cache of binaries built from the Go module proxy, keyed by version. TENANTDB_CACHE_DIR overrides it;
 * otherwise $XDG_CACHE_HOME/tenantdb-operator or ~/.cache/tenantdb-operator.
 */
export function cacheDir(): string {
  if (process.env.TENANTDB_CACHE_DIR) return path.resolve(process.env.TENANTDB_CACHE_DIR);
  const base = process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache');
  return path.join(base, 'tenantdb-operator');
}
