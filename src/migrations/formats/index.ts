// Migration directory formats: one pure parser per tool, all producing the one step model (types.ts).
import type { MigrationFormat } from '../../api/migration.js';
import { parseAtlas } from './atlas.js';
import { parseDbmate } from './dbmate.js';
import { parseFlyway } from './flyway.js';
import { parseGolangMigrate } from './golang-migrate.js';
import { parseGoose } from './goose.js';
import { parseTenantdb } from './tenantdb.js';
import type { FormatParser } from './types.js';

export const PARSERS: Readonly<Record<MigrationFormat, FormatParser>> = {
  tenantdb: parseTenantdb,
  'golang-migrate': parseGolangMigrate,
  flyway: parseFlyway,
  goose: parseGoose,
  dbmate: parseDbmate,
  atlas: parseAtlas,
};

export { detectFormat } from './detect.js';
export { flywayChecksum } from './flyway.js';
export { atlasHashes } from './atlas.js';
export * from './types.js';
