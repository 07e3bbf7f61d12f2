// Which format a ConfigMap is written in, when its source does not say: from the keys first (atlas.sum,
// Flyway's V/U/R prefixes, golang-migrate's .up.sql/.down.sql), then from the annotations inside plain
// `<version>_<name>.sql` files (`-- +goose`, `-- migrate:up`). The operator's own form uses
// golang-migrate's keys and is a strict subset of it, so such keys read as golang-migrate.
import type { MigrationFormat } from '../../api/migration.js';
import { ATLAS_SUM } from './atlas.js';

export type Detection = { ok: true; format: MigrationFormat } | { ok: false; message: string };

export function detectFormat(data: Readonly<Record<string, string>>, ref: string): Detection {
  const keys = Object.keys(data);
  if (keys.includes(ATLAS_SUM)) return { ok: true, format: 'atlas' };
  if (keys.some((k) => /^([VU][0-9][0-9._]*|R)__.+\.sql(\.conf)?$/.test(k))) return { ok: true, format: 'flyway' };
  if (keys.some((k) => /\.(up|down)\.sql$/.test(k))) return { ok: true, format: 'golang-migrate' };
  const texts = keys.filter((k) => k.endsWith('.sql')).map((k) => data[k] as string);
  if (texts.some((t) => /^--\s\+goose\s+up\b/im.test(t))) return { ok: true, format: 'goose' };
  if (texts.some((t) => /^--\s*migrate:up\b/m.test(t))) return { ok: true, format: 'dbmate' };
  return {
    ok: false,
    message: `ConfigMap ${ref}: cannot tell its format from the keys (${keys.slice(0, 3).join(', ') || 'none'}); set spec.sources[].format (tenantdb, golang-migrate, flyway, goose, dbmate or atlas)`,
  };
}
