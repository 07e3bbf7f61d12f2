// The operator's own form: `<version>_<name>.up.sql` / `.down.sql`, names in lower case, no empty
// scripts; a script's first comment lines may say `-- tenantdb:transactional false` (or `true`), the
// up and the down script each for itself; a down script that says nothing runs as its up script does.
import type { FormatParser, Step } from './types.js';
import { checkSize, fail, parsing, sha256 } from './types.js';

export const TENANTDB_KEY = /^([0-9]{1,18})_([a-z0-9][a-z0-9_-]{0,62})\.(up|down)\.sql$/;

/** `-- tenantdb:transactional false` on the script's leading comment lines. */
export const TENANTDB_NO_TRANSACTION = /^(?:\s*--[^\n]*\n)*?\s*--\s*tenantdb:transactional\s*[:=]?\s*false\b/;
const TENANTDB_TRANSACTION = /^(?:\s*--[^\n]*\n)*?\s*--\s*tenantdb:transactional\s*[:=]?\s*true\b/;

/** The script's own directive: false, true, or undefined when it has none. */
export function tenantdbDirective(sql: string): boolean | undefined {
  if (TENANTDB_NO_TRANSACTION.test(sql)) return false;
  return TENANTDB_TRANSACTION.test(sql) ? true : undefined;
}

export const parseTenantdb: FormatParser = (data, ref) =>
  parsing(() => {
    const ups = new Map<string, Step>();
    const downs: Array<{ key: string; version: string; name: string; sql: string }> = [];
    for (const key of Object.keys(data).sort()) {
      const sql = data[key] as string;
      const m = TENANTDB_KEY.exec(key);
      if (!m) fail(ref, key, 'not a step; keys must be <version>_<name>.up.sql or <version>_<name>.down.sql (version: 1-18 digits; name: a-z, 0-9, _ and -)');
      const [, version, name, dir] = m as unknown as [string, string, string, 'up' | 'down'];
      if (sql.trim().length === 0) fail(ref, key, 'the script is empty');
      checkSize(ref, key, sql);
      const k = BigInt(version).toString();
      if (dir === 'down') {
        downs.push({ key, version: k, name, sql });
        continue;
      }
      if (ups.has(k)) fail(ref, key, `version ${version} is defined twice (also in ConfigMap ${ref} key ${(ups.get(k) as Step).version}_${(ups.get(k) as Step).name}.up.sql)`);
      const transactional = !TENANTDB_NO_TRANSACTION.test(sql);
      ups.set(k, { key, version, name, up: sql, transactional, downTransactional: true, checksum: sha256(sql), source: `configmap/${ref}` });
    }
    for (const d of downs) {
      const up = ups.get(d.version);
      if (!up) fail(ref, d.key, `a down script without ${d.key.replace(/\.down\.sql$/, '.up.sql')} in the same ConfigMap`);
      if (up.name !== d.name) fail(ref, d.key, `the name differs from the up script's (${up.name})`);
      up.down = d.sql;
      up.downTransactional = tenantdbDirective(d.sql) ?? up.transactional;
    }
    return { steps: [...ups.values()], repeatables: [] };
  });
