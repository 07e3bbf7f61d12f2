// Shared by the formats-*.test.ts files: a suite in a tool's format (a ConfigMap's data) read by the
// operator's parser and run by the real runner against the environment's PostgreSQL as the owner's
// migration login, with the tool's history table written beforehand as that tool would have (by another
// role, as on a real database the tool migrated), so adoption is exercised for real.
import type { MigrationFormat } from '../../src/api/migration.js';
import type { PlanOptions } from '../../src/migrations/plan.js';
import { gatherSteps } from '../../src/migrations/steps.js';
import type { AdoptSource } from '../../src/postgres/migrations/adopt.js';
import { runMigration, type RunResult } from '../../src/postgres/migrations/runner.js';
import { closeConnections, connections, createTestDatabase, type TestDatabase } from './pg.js';

const dbs: TestDatabase[] = [];

export async function freshDatabase(prefix: string): Promise<TestDatabase> {
  const db = await createTestDatabase(prefix);
  dbs.push(db);
  return db;
}

export async function cleanUp(): Promise<void> {
  await closeConnections();
  for (const db of dbs) await db.drop().catch(() => undefined);
}

/** Reads `data` in `format` and runs it on `db` as the owner; the plan options and adoption as given. */
export async function runSuite(db: TestDatabase, format: MigrationFormat, data: Record<string, string>, plan: Partial<PlanOptions> = {}, adopt?: Omit<AdoptSource, 'readerRole'>): Promise<RunResult> {
  const g = gatherSteps([], [{ name: 'suite', format }], new Map([['suite', { metadata: { name: 'suite' }, data }]]));
  if (!g.ok) throw new Error(g.problem.message);
  return runMigration(connections(), db.target, {
    migration: 'ns/suite',
    steps: g.steps,
    plan: { allowDown: false, outOfOrder: false, repair: false, repeatables: g.repeatables, ...plan },
    ...(adopt ? { adopt: { ...adopt, readerRole: db.owner } } : {}),
    runAsRole: db.owner,
    lockTimeout: '5s',
    appliedBy: 'test',
    lockPollMs: 50,
  });
}

export async function history(db: TestDatabase): Promise<Array<{ version: string; name: string; type: string; state: string; applied_by: string }>> {
  const rows = await db.sql<{ version: string; name: string; type: string; state: string; applied_by: string }>(`SELECT version, name, type, state, applied_by FROM tenantdb.schema_migrations WHERE migration = 'ns/suite'`);
  return rows.sort((a, b) => (a.version.startsWith('R__') ? 1 : 0) - (b.version.startsWith('R__') ? 1 : 0) || a.version.localeCompare(b.version, 'en', { numeric: true }));
}

export const tables = async (db: TestDatabase) => (await db.sql<{ t: string }>(`SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`)).map((r) => r.t);
export const indexes = async (db: TestDatabase) => (await db.sql<{ i: string }>(`SELECT indexname AS i FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1`)).map((r) => r.i);

/** The rows of the old tool's table with their row versions: adoption must leave them exactly as they were. */
export const snapshot = (db: TestDatabase, table: string) => db.sql(`SELECT xmin::text AS xmin, * FROM ${table}`);

export const versions = (r: RunResult) => r.steps.map((s) => `${s.direction}:${s.version}`);
