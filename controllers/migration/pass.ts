// What one Migration reconcile works with: the controller's long-lived parts (env), the Migration as
// the kit read it, the inputs read from its sources and annotations, and the per-database evaluation
// each step adds to. Types only, shared by the step files.
import type { MigrationSpec, MigrationStatus } from '../../src/api/migration.js';
import type { HistoryRow, PlanOptions, Resolve } from '../../src/migrations/plan.js';
import type { Repeatable, SourceFormat, Step } from '../../src/migrations/steps.js';
import type { ArtifactCache, ArtifactLimits } from '../../src/migrations/artifact/fetch.js';
import type { PostgresConnections } from '../../src/postgres/connections.js';
import type { LruMap } from '../../src/runtime/lru.js';
import type { Manager } from '../../src/runtime/manager.js';
import type { AzureSettings } from '../../src/settings.js';
import type { SpecContext } from '../../src/runtime/reconcile-kit.js';
import type { LintMemo } from './lint.js';
import type { TargetGates } from './ahead.js';
import type { MigrationRuns, Run } from './runs.js';
import type { DatabaseProgress } from './status.js';
import type { RunInput } from '../../src/postgres/migrations/runner.js';

export interface MigrationControllerOptions {
  /** How often a Migration with runs in progress is looked at to report their progress. */
  progressIntervalMs?: number;
  /** How often a run polls for the lock while another runner holds it. */
  lockPollMs?: number;
  /** Recorded as applied_by in the history. */
  identity?: string;
  /** Where Flux source artifacts may be fetched from, and the bounds of a fetch. */
  artifactLimits?: ArtifactLimits;
  /** How often a Migration reading a Flux source looks at it again for a new artifact. */
  sourcePollMs?: number;
}

/** The controller's parts every pass shares. */
export interface MigrationEnv {
  mgr: Manager;
  /** Where an Azure server's address is read (ARM), never from a TenantDatabase's status. */
  azure: AzureSettings;
  runs: MigrationRuns;
  conns: PostgresConnections;
  identity: string;
  opts: MigrationControllerOptions;
  /** What each database's pending steps last linted to (status.lint). */
  lint: LintMemo;
  /** Fetched Flux source artifacts by digest. */
  artifacts: ArtifactCache;
  /** Databases (historyPlace) where this process last found the history table: read in one round trip (plan.ts). */
  historySeen: LruMap<string, true>;
}

/** The plan options that come from the spec (the annotations add repair/resolve per database). */
export type PlanBase = Pick<PlanOptions, 'targetVersion' | 'allowDown' | 'baselineVersion' | 'outOfOrder'>;

/** What the pass works from, read from the spec, its sources and the annotations (sources.ts). */
export interface MigrationInputs {
  steps: Step[];
  /** Flyway's repeatable migrations, by description. */
  repeatables: Repeatable[];
  /** The format each ConfigMap was read in (status.sources). */
  formats: SourceFormat[];
  latestVersion: string | undefined;
  /** Fingerprint of everything a run's outcome depends on: a failure is sticky only while it holds. */
  fingerprint: string;
  base: PlanBase;
  retry: string | undefined;
  repair: string | undefined;
  resolveRaw: string | undefined;
  resolve: Resolve | undefined;
}

export interface MigrationPass {
  env: MigrationEnv;
  kit: SpecContext<MigrationSpec, MigrationStatus>;
  inputs: MigrationInputs;
  /** Per-database status as last written, by database name. */
  prevDbs: Map<string, DatabaseProgress>;
  /** Each database's gate, worked out once, some ahead of their evaluation (ahead.ts). */
  gates: TargetGates;
}

/**
 * The lint of steps the run is the first to meet: Block's verdict is waited for before the first action
 * (`gate`); Warn's findings are worked out once the first step runs and are in before the run ends
 * (`report`), as they hold nothing up.
 */
export interface RunLint {
  gate?: RunInput['gate'];
  report?: () => Promise<unknown>;
}

/** What a pass found for one database (plan.ts), and what the rollout may do about it (rollout.ts). */
export interface Evaluation {
  progress: DatabaseProgress;
  /** Work is pending and may start when the rollout allows (with the lint of steps new to it, lint.ts). */
  start?: (lint?: RunLint) => Run;
  /** A run's result taken into this status; forget the run once status is written. */
  consumed?: boolean;
  history?: HistoryRow[];
  retryable?: boolean;
  requeueAfterMs?: number;
  /** The up scripts `start` would run, for the lint (lint.ts). */
  lintable?: import('../../src/migrations/lint/index.js').LintStep[];
}
