// The operator's API: the four kinds' zod schemas (the single source of the TypeScript types, the
// runtime validation and the CRDs in crds/), and the lists and field types they are built from.
import { alertRuleSetKind } from './alertruleset.js';
import { backupPolicyKind } from './backuppolicy.js';
import { migrationKind } from './migration.js';
import type { KindDefinition } from './object.js';
import { tenantDatabaseKind } from './tenantdatabase.js';

export * from './kinds.js';
export * from './metrics.js';
export * from './status.js';
export * from './object.js';
export * from './tenantdatabase.js';
export * from './migration.js';
export * from './backuppolicy.js';
export * from './alertruleset.js';

/** Every kind, in the order the generator writes them. */
export const KIND_DEFINITIONS: readonly KindDefinition[] = [tenantDatabaseKind, migrationKind, backupPolicyKind, alertRuleSetKind];
