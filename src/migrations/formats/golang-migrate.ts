// golang-migrate's form (its MIGRATIONS.md): `{version}_{title}.up.{extension}` and
// `{version}_{title}.down.{extension}`, version an unsigned integer, the title "unused, and only for
// readability": any text the tool's pattern `^([0-9]+)_(.*)\.(down|up)\.(.*)$` accepts, dots included
// (`12_upgrade_channels_v6.0.up.sql`). An empty file is a step that does nothing (the tool runs it and
// records the version). A missing down script matters only when going down past it. The PostgreSQL
// driver sends a file as one query, which PostgreSQL runs as one implicit transaction unless the file
// has its own BEGIN/COMMIT (or a statement that cannot run in one, which then has to be alone): so a
// step is transactional unless its statements say otherwise (Step.auto). Our own directive
// `-- tenantdb:transactional false` is honoured on either script too.
import type { FormatParser, Step } from './types.js';
import { checkSize, checkVersion, fail, parsing, sha256 } from './types.js';
import { TENANTDB_NO_TRANSACTION } from './tenantdb.js';

export const GOLANG_MIGRATE_KEY = /^([0-9]+)_(.*)\.(up|down)\.sql$/;

export const parseGolangMigrate: FormatParser = (data, ref) =>
  parsing(() => {
    const ups = new Map<string, Step>();
    const downs = new Map<string, { key: string; sql: string }>();
    for (const key of Object.keys(data).sort()) {
      const sql = data[key] as string;
      const m = GOLANG_MIGRATE_KEY.exec(key);
      if (!m) fail(ref, key, 'not a step; golang-migrate keys are {version}_{title}.up.sql or {version}_{title}.down.sql');
      const [, version, title, dir] = m as unknown as [string, string, string, 'up' | 'down'];
      checkVersion(ref, key, version);
      checkSize(ref, key, sql);
      const k = BigInt(version).toString();
      if (dir === 'down') {
        if (downs.has(k)) fail(ref, key, `a second down script for version ${version} (also ${(downs.get(k) as { key: string }).key})`);
        downs.set(k, { key, sql });
        continue;
      }
      if (ups.has(k)) fail(ref, key, `version ${version} is defined twice (also in ConfigMap ${ref} key ${(ups.get(k) as Step).key})`);
      const declaredNone = TENANTDB_NO_TRANSACTION.test(sql);
      ups.set(k, {
        key,
        version,
        name: title.length > 0 ? title : `version_${version}`,
        up: sql,
        transactional: !declaredNone,
        downTransactional: true,
        auto: { up: !declaredNone, down: true },
        checksum: sha256(sql),
        source: `configmap/${ref}`,
      });
    }
    for (const [k, d] of downs) {
      const up = ups.get(k);
      if (!up) fail(ref, d.key, `a down script without ${d.key.replace(/\.down\.sql$/, '.up.sql')} (no up script of its version in the same ConfigMap)`);
      up.down = d.sql;
      const declaredNone = TENANTDB_NO_TRANSACTION.test(d.sql);
      up.downTransactional = !declaredNone;
      up.auto = { up: up.auto?.up ?? false, down: !declaredNone };
    }
    return { steps: [...ups.values()], repeatables: [] };
  });
