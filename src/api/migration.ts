// Migration: versioned SQL applied to one TenantDatabase, or rolled out over every TenantDatabase a
// label selector picks.
import { z } from 'zod';
import { listMap, withRules } from './cel.js';
import { KINDS } from './kinds.js';
import { LABEL_KEY_PATTERN, LABEL_VALUE_PATTERN, databaseRef, k8sName, pgDuration, stringMap } from './fields.js';
import { AGE_COLUMN, READY_COLUMNS, kindObjectSchema, validateWith, type KindDefinition } from './object.js';
import { statusBaseShape, timestampField } from './status.js';

/**
 * Versions are digit strings compared as numbers (`001` < `2` < `20240101120000`), so both sequence
 * numbers and timestamps work; 18 digits keeps each part inside a signed 64-bit integer. Flyway's dotted
 * versions (`1.2.3`) compare part by part, left-aligned, a missing part counting as 0 and leading zeros
 * ignored (Flyway's rule: `1.2.10` > `1.2.9.4`, `1.0` = `1`).
 */
export const MIGRATION_VERSION_PATTERN = '^[0-9]{1,18}([.][0-9]{1,18}){0,7}$';
export const MIGRATION_VERSION_MAX = 64;
/** The formats a source may be written in (see src/migrations/formats). */
export const MIGRATION_FORMATS = ['tenantdb', 'golang-migrate', 'flyway', 'goose', 'dbmate', 'atlas'] as const;
export type MigrationFormat = (typeof MIGRATION_FORMATS)[number];
/** The tools whose history table a Migration can adopt. */
export const ADOPTABLE_TOOLS = ['golang-migrate', 'flyway', 'goose', 'dbmate', 'atlas'] as const;
export type AdoptableTool = (typeof ADOPTABLE_TOOLS)[number];
/** The lint rules (src/migrations/lint/rules.ts), named as squawk names them. */
export const LINT_RULES = [
  'require-concurrent-index-creation',
  'require-concurrent-index-deletion',
  'adding-required-field',
  'adding-not-nullable-field',
  'adding-field-with-default',
  'changing-column-type',
  'constraint-missing-not-valid',
  'adding-foreign-key-constraint',
  'disallowed-unique-constraint',
  'adding-serial-primary-key-field',
  'renaming-column',
  'renaming-table',
  'ban-drop-column',
  'ban-drop-table',
] as const;
export type LintRule = (typeof LINT_RULES)[number];
/** What lint findings do to a run: nothing, a Warning Event and status, or no run until fixed or waived. */
export const LINT_MODES = ['Off', 'Warn', 'Block'] as const;
export const MIGRATION_NAME_PATTERN = '^[a-z0-9][a-z0-9_-]{0,62}$';
/** Each script's size limit; etcd caps the whole object at 1.5 MiB, so large sets go in ConfigMaps. */
export const MIGRATION_SQL_MAX = 262144;

const version = (description: string) => z.string().min(1).max(MIGRATION_VERSION_MAX).regex(new RegExp(MIGRATION_VERSION_PATTERN)).describe(description);

// Versions are compared as strings of digits, not parsed: the planner compares every step's version on
// every pass, and a fleet's Migrations run to hundreds of steps. A part that is not plain digits (never
// one the schema admits) is parsed as before, so it compares, or fails, as BigInt says.
const DIGITS = /^[0-9]+$/;

/** A part without its leading zeros (`007` -> `7`, `000` -> `0`). */
function digitsOf(p: string): string {
  let i = 0;
  while (i < p.length - 1 && p.charCodeAt(i) === 48) i++;
  return i === 0 ? p : p.slice(i);
}

function comparePart(p: string, q: string): number {
  if (!DIGITS.test(p) || !DIGITS.test(q)) {
    const x = BigInt(p);
    const y = BigInt(q);
    return x === y ? 0 : x < y ? -1 : 1;
  }
  const x = digitsOf(p);
  const y = digitsOf(q);
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  return x === y ? 0 : x < y ? -1 : 1;
}

export function compareVersions(a: string, b: string): number {
  const x = a.split('.');
  const y = b.split('.');
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const c = comparePart(x[i] ?? '0', y[i] ?? '0');
    if (c !== 0) return c;
  }
  return 0;
}

/** The one spelling of a version: `001` -> `1`, `1.0` -> `1`, `1.02.0` -> `1.2` (equal versions, one key). */
export function normalizeVersion(v: string): string {
  const parts = v.split('.').map((p) => (DIGITS.test(p) ? digitsOf(p) : BigInt(p).toString()));
  while (parts.length > 1 && parts[parts.length - 1] === '0') parts.pop();
  return parts.join('.');
}

export const migrationStepSchema = z
  .object({
    version: version('Version of this step (digits, compared numerically); unique within the Migration.'),
    name: z.string().min(1).max(63).regex(new RegExp(MIGRATION_NAME_PATTERN)).describe('Short name of the step (lower-case letters, digits, _ and -).'),
    up: z.string().min(1).max(MIGRATION_SQL_MAX).describe('SQL that applies the step.'),
    down: z.string().min(1).max(MIGRATION_SQL_MAX).optional().describe('SQL that reverts the step; needed to migrate down past it.'),
    transactional: z
      .boolean()
      .default(true)
      .describe('Run the step in one transaction with its bookkeeping; false for statements like CREATE INDEX CONCURRENTLY.'),
  })
  .describe('One versioned migration step.');

/** The Flux source kinds a Migration can read an artifact of (source.toolkit.fluxcd.io/v1). */
export const FLUX_SOURCE_KINDS = ['GitRepository', 'OCIRepository', 'Bucket'] as const;
export type FluxSourceKind = (typeof FLUX_SOURCE_KINDS)[number];
/** A relative directory inside an artifact: segments of letters, digits, . _ -; `..` is refused by a rule. */
export const ARTIFACT_PATH_PATTERN = '^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$';

const sourceSchema = withRules(
  z
    .object({
      configMapRef: z
        .object({ name: k8sName('Name of the ConfigMap.') })
        .describe('ConfigMap whose keys are the files of a migration directory (see format).')
        .optional(),
      sourceRef: z
        .object({
          kind: z.enum(FLUX_SOURCE_KINDS).describe('Kind of the Flux source (source.toolkit.fluxcd.io/v1).'),
          name: k8sName('Name of the Flux source, in the Migration\'s namespace (another namespace cannot be named).'),
        })
        .describe("A Flux source whose artifact (status.artifact: a tar.gz served by source-controller, verified by its sha256 digest) holds the migration directory at path.")
        .optional(),
      path: z
        .string()
        .min(1)
        .max(512)
        .regex(new RegExp(ARTIFACT_PATH_PATTERN))
        .optional()
        .describe('Directory inside the artifact whose files (not its subdirectories) are the migration directory; the artifact root when absent. Relative, no `..`.'),
      format: z
        .enum(MIGRATION_FORMATS)
        .optional()
        .describe(
          'How the ConfigMap is written: tenantdb (<version>_<name>.up.sql/.down.sql, strict names), golang-migrate ({version}_{title}.up.sql/.down.sql), flyway (V<version>__<description>.sql, U..., R__..., .sql.conf), goose (-- +goose Up/Down in one file), dbmate (-- migrate:up/down in one file), atlas (<version>_<name>.sql with atlas.sum). Detected from the keys when absent; status.sources says which.',
        ),
    })
    .describe('A source of further migration steps: a ConfigMap or a Flux source artifact.'),
  [
    {
      rule: 'has(self.configMapRef) != has(self.sourceRef)',
      message: 'exactly one of configMapRef or sourceRef must be set',
      check: (s) => (s.configMapRef === undefined) !== (s.sourceRef === undefined),
    },
    {
      rule: '!has(self.path) || has(self.sourceRef)',
      message: 'path applies to sourceRef only',
      fieldPath: '.path',
      check: (s) => s.path === undefined || s.sourceRef !== undefined,
    },
    {
      rule: "!has(self.path) || !self.path.matches('(^|/)[.][.]?(/|$)')",
      message: 'path must not contain . or .. segments',
      fieldPath: '.path',
      check: (s) => s.path === undefined || !/(^|\/)\.\.?(\/|$)/.test(s.path),
    },
  ],
);

const adoptSchema = z
  .object({
    tool: z.enum(ADOPTABLE_TOOLS).describe('The tool whose history table the database has: its applied versions count as applied here, nothing is re-run.'),
    schema: z
      .string()
      .min(1)
      .max(63)
      .regex(/^[a-z_][a-z0-9_$]{0,62}$/)
      .optional()
      .describe("Schema of the tool's table; the tool's default when absent (public; atlas_schema_revisions for Atlas)."),
    table: z
      .string()
      .min(1)
      .max(63)
      .regex(/^[a-z_][a-z0-9_$]{0,62}$/)
      .optional()
      .describe("Name of the tool's table; the tool's default when absent (schema_migrations, flyway_schema_history, goose_db_version, atlas_schema_revisions)."),
  })
  .describe("Take over from the tool that migrated the database before: read (never altered) once, when this Migration has no history in the database yet.");

/** Per-step waivers: the rules that do not apply to a step (the step's version). */
const lintSchema = z
  .object({
    mode: z.enum(LINT_MODES).default('Warn').describe('Off: no lint. Warn: findings on pending steps are reported (Warning Event, status.lint) and the steps run. Block: the Migration is Stalled (LintFailed) naming the rule and statement, and nothing runs until the step changes or the rule is waived.'),
    largeTableBytes: z
      .int()
      .min(0)
      .max(Number.MAX_SAFE_INTEGER)
      .default(1048576)
      .describe('Rules about a lock held while a table is scanned, rewritten or indexed apply only to existing tables larger than this (pg_relation_size); tables the pending steps create are never large.'),
    waive: z
      .array(
        z
          .object({
            version: version('Version of the step the waiver is for.'),
            rules: z.array(z.enum(LINT_RULES)).min(1).max(LINT_RULES.length).describe('Rules waived for this step.'),
          })
          .describe('Lint rules waived for one step.'),
      )
      .max(256)
      .optional()
      .describe('Rules waived per step; a script can also waive for its own step with a line `-- tenantdb:lint-ignore rule-a,rule-b`.'),
  })
  .describe('Lint of pending steps before they run (rules named as squawk names them).');

const rolloutSchema = z
  .object({
    maxParallel: z.int().min(1).max(100).default(1).describe('How many databases migrate at the same time.'),
    stopOnFailure: z.boolean().default(true).describe('Stop starting new databases after one fails.'),
  })
  .describe('How a selector-wide migration proceeds.');

export const migrationSpecSchema = withRules(
  z
    .object({
      databaseRef: databaseRef().optional(),
      databaseSelector: z
        .object({
          matchLabels: stringMap({
            description: 'Labels a TenantDatabase must carry to be migrated.',
            keyPattern: LABEL_KEY_PATTERN,
            keyMax: 316,
            valuePattern: LABEL_VALUE_PATTERN,
            valueMax: 63,
            maxProperties: 16,
            what: 'label key',
          }),
        })
        .describe('Selects the TenantDatabases (in this namespace) to migrate.')
        .optional(),
      rollout: rolloutSchema.optional(),
      migrations: listMap(z.array(migrationStepSchema).max(256).describe('Steps carried inline.'), ['version']).optional(),
      sources: z.array(sourceSchema).max(16).describe('ConfigMaps or Flux source artifacts carrying further steps.').optional(),
      targetVersion: version('Version to migrate to; the highest known version when absent.').optional(),
      allowDown: z.boolean().default(false).describe('Allow migrating down (running down scripts) when targetVersion is below the applied version.'),
      adopt: adoptSchema.optional(),
      baselineVersion: version(
        'Treat a database without migration history as already at this version (for adopting existing databases).',
      ).optional(),
      outOfOrder: z.boolean().default(false).describe('Apply steps older than the applied version that were never applied, instead of failing.'),
      runAs: z.enum(['owner', 'admin']).default('owner').describe('Role the steps run as: the database owner role or the server administrator.'),
      lockTimeout: pgDuration('lock_timeout for each step, PostgreSQL syntax (e.g. 10s, 500ms, 1min).').default('10s'),
      statementTimeout: pgDuration('statement_timeout for each step, PostgreSQL syntax (e.g. 15min); none when absent.').optional(),
      lint: lintSchema.optional(),
    })
    .describe('Desired state of a migration.'),
  [
    {
      rule: 'has(self.databaseRef) != has(self.databaseSelector)',
      message: 'exactly one of spec.databaseRef or spec.databaseSelector must be set',
      check: (s) => (s.databaseRef === undefined) !== (s.databaseSelector === undefined),
    },
    {
      rule: '!has(self.rollout) || has(self.databaseSelector)',
      message: 'rollout applies to databaseSelector only',
      fieldPath: '.rollout',
      check: (s) => s.rollout === undefined || s.databaseSelector !== undefined,
    },
    {
      rule: '(has(self.migrations) && size(self.migrations) > 0) || (has(self.sources) && size(self.sources) > 0)',
      message: 'at least one of spec.migrations or spec.sources must be given',
      fieldPath: '.migrations',
      reason: 'FieldValueRequired',
      check: (s) => (s.migrations ?? []).length > 0 || (s.sources ?? []).length > 0,
    },
  ],
);

const appliedStepSchema = z
  .object({
    version: z.string().max(MIGRATION_VERSION_MAX).describe('Version of the applied step.'),
    name: z.string().max(63).optional().describe('Name of the step.'),
    checksum: z.string().max(64).optional().describe('SHA-256 (hex) of the up script as applied.'),
    appliedAt: timestampField('When the step was applied.').optional(),
    executionTimeMs: z.int().min(0).max(Number.MAX_SAFE_INTEGER).optional().describe('How long the step took, in milliseconds.'),
  })
  .describe('A step recorded in the database history.');

/** The last failed step on a database: sticky until the inputs change or tenantdb.io/retry gets a new value. */
const stepFailureSchema = z
  .object({
    version: z.string().max(MIGRATION_VERSION_MAX).describe('Version of the step that failed.'),
    name: z.string().max(63).optional().describe('Name of the step.'),
    direction: z.enum(['up', 'down']).optional().describe('Whether the up or the down script failed.'),
    dirty: z.boolean().optional().describe('A non-transactional step stopped part-way and is recorded dirty in the history.'),
    code: z.string().max(16).optional().describe('SQLSTATE of the PostgreSQL error.'),
    message: z.string().max(4096).describe('The error message.'),
    detail: z.string().max(4096).optional().describe('The error detail, if PostgreSQL gave one.'),
    hint: z.string().max(4096).optional().describe('The error hint, if PostgreSQL gave one.'),
    statement: z.string().max(1024).optional().describe('The statement that failed (truncated).'),
    line: z.int().min(1).max(Number.MAX_SAFE_INTEGER).optional().describe('Line of the script the failed statement starts on.'),
    inputs: z.string().max(64).optional().describe('Fingerprint of the steps and options the failed run used; a change retries.'),
    retry: z.string().max(253).optional().describe('Value of the tenantdb.io/retry annotation when the step failed; a new value retries.'),
    transient: z.boolean().optional().describe('The error is one a retry may not meet (deadlock, serialization, lock or concurrent catalog update, lost connection); retried with backoff.'),
    attempts: z.int().min(1).max(1000).optional().describe('Runs that failed at this step with these inputs.'),
    time: timestampField('When the step failed.').optional(),
  })
  .describe('A failed migration step.');

const databaseProgressSchema = z
  .object({
    name: z.string().max(253).describe('Name of the TenantDatabase.'),
    appliedVersion: z.string().max(MIGRATION_VERSION_MAX).optional().describe('Highest version applied to it.'),
    adopted: z
      .object({
        tool: z.enum(ADOPTABLE_TOOLS).describe('The tool whose history was adopted.'),
        version: z.string().max(MIGRATION_VERSION_MAX).optional().describe('Highest version adopted from it.'),
      })
      .optional()
      .describe("The history this database's steps were adopted from."),
    phase: z.enum(['Pending', 'Running', 'Succeeded', 'Failed']).optional().describe('Progress on this database.'),
    message: z.string().max(4096).optional().describe('Details, e.g. the error of a failed step.'),
    reason: z.string().max(64).optional().describe('Why the database is in this phase (WaitingForDatabase, WaitingForLock, StepFailed, ChecksumMismatch, Dirty...).'),
    pending: z.array(z.string().max(MIGRATION_VERSION_MAX)).max(1024).optional().describe('Versions still to apply (or revert), in run order.'),
    failure: stepFailureSchema.optional(),
    repair: z.string().max(253).optional().describe('Value of the tenantdb.io/repair annotation already acted on for this database.'),
    resolve: z.string().max(253).optional().describe('Value of the tenantdb.io/resolve annotation already acted on for this database.'),
  })
  .describe('Progress on one selected database.');

export const migrationStatusSchema = z
  .object({
    ...statusBaseShape,
    appliedVersion: z.string().max(MIGRATION_VERSION_MAX).optional().describe('Highest version applied (for databaseRef; lowest across databases for a selector).'),
    latestVersion: z.string().max(MIGRATION_VERSION_MAX).optional().describe('Highest version this Migration knows.'),
    sources: z
      .array(
        z
          .object({
            name: z.string().max(253).describe('Name of the ConfigMap, or <kind>/<name> of a Flux source.'),
            format: z.enum(MIGRATION_FORMATS).describe('The format its keys are read in.'),
            revision: z.string().max(512).optional().describe("The Flux source artifact's revision the steps were read from."),
            digest: z.string().max(128).optional().describe("The artifact's digest (sha256:<hex>), verified before it was read."),
            detected: z.boolean().optional().describe('The format was detected from the keys (spec.sources[].format is absent).'),
          })
          .describe('How a source was read.'),
      )
      .max(16)
      .optional()
      .describe('How each source was read: its format and, for a Flux source, the artifact revision and digest.'),
    applied: listMap(z.array(appliedStepSchema).max(1024).describe('Steps applied, oldest first.'), ['version']).optional(),
    pending: z.array(z.string().max(MIGRATION_VERSION_MAX)).max(1024).optional().describe('Versions still to apply or revert (for databaseRef; for a selector see databases).'),
    lint: z
      .object({
        mode: z.enum(LINT_MODES).describe('The mode the findings were acted on in.'),
        findings: z
          .array(
            z
              .object({
                version: z.string().max(MIGRATION_VERSION_MAX + 64).describe('Version of the step (R__<description> for a repeatable).'),
                rule: z.enum(LINT_RULES).describe('The rule.'),
                line: z.int().min(1).max(Number.MAX_SAFE_INTEGER).optional().describe('Line of the script the statement starts on.'),
                statement: z.string().max(256).describe('The statement (truncated).'),
                message: z.string().max(1024).describe('What it does and what to do instead.'),
              })
              .describe('A lint finding.'),
          )
          .max(100)
          .describe('Findings on the steps last linted (pending when linted), unwaived, at most 100.'),
      })
      .optional()
      .describe('Lint findings on the pending steps (spec.lint).'),
    databases: listMap(z.array(databaseProgressSchema).max(1024).describe('Progress per selected database.'), ['name']).optional(),
  })
  .describe('Observed state of the migration.');

export const migrationSchema = kindObjectSchema('Migration', migrationSpecSchema, migrationStatusSchema);

export type MigrationSpec = z.infer<typeof migrationSpecSchema>;
export type MigrationStep = z.infer<typeof migrationStepSchema>;
export type MigrationStatus = z.infer<typeof migrationStatusSchema>;
export type Migration = z.infer<typeof migrationSchema>;

export function validateMigration(input: unknown) {
  return validateWith('Migration', migrationSchema, input);
}

export const migrationKind: KindDefinition = {
  info: KINDS.Migration,
  description: 'Versioned SQL migrations applied to a TenantDatabase, or rolled out over the TenantDatabases a selector picks.',
  spec: migrationSpecSchema,
  status: migrationStatusSchema,
  categories: ['tenantdb'],
  printerColumns: [
    ...READY_COLUMNS,
    { name: 'Database', type: 'string', jsonPath: '.spec.databaseRef.name', description: 'Target TenantDatabase.' },
    { name: 'Applied', type: 'string', jsonPath: '.status.appliedVersion', description: 'Highest applied version.' },
    { name: 'Latest', type: 'string', jsonPath: '.status.latestVersion', description: 'Highest known version.' },
    { name: 'Target', type: 'string', jsonPath: '.spec.targetVersion', description: 'Requested version.', priority: 1 },
    AGE_COLUMN,
  ],
};
