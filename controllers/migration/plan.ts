// Step 3 of a Migration pass, per target database: what is true there (waiting for the database,
// running, failed, done) and, where work is pending, a way to start it. Reads the caches, the run
// tracker and the database's migration history (one read); writes nothing.
import type { MigrationSpec } from '../../src/api/migration.js';
import { appliedVersionOf, planMigration, type AdoptedHistory, type HistoryRow, type PlanOptions } from '../../src/migrations/plan.js';
import { readAdoptedHistory } from '../../src/postgres/migrations/adopt.js';
import { describePgError } from '../../src/postgres/connections.js';
import { readHistoryOf } from '../../src/postgres/migrations/history.js';
import { metaTime } from '../../src/runtime/conditions.js';
import type { KubeObject } from '../../src/runtime/kubeclient.js';
import type { Manager } from '../../src/runtime/manager.js';
import { selectorMatches } from '../../src/runtime/selectors.js';
import { resourceOf } from '../../src/api/resources.js';
import { adminSecrets, adminTargetOf, migrationsPrincipal, migrationsPrincipalSecret, tenantDatabaseSpecOf, tenantDatabaseStatusOf, type AdminTargetResult } from '../../src/tenantdatabase/index.js';
import { entraPrincipalLogin } from '../../src/tenantdatabase/entra-login.js';
import { azureClientsFor } from '../../src/azure/provider.js';
import { decodeSecret } from '../../src/runtime/secret-cache.js';
import type { DbTarget } from '../../src/postgres/connections.js';
import type { Evaluation, MigrationPass } from './pass.js';
import { lintGate, lintableOf } from './lint.js';
import { runningMessage, runStarter } from './run.js';
import { describeFailure, type DatabaseFailure, type DatabaseProgress } from './status.js';

const TENANT_DATABASES = resourceOf('TenantDatabase');

/** The administrator's target, and for runAs: owner on a server that refuses passwords, the owner's token login. */
export type AdminTarget = Extract<AdminTargetResult, { ok: true }> & { ownerLogin?: DbTarget };

/** Runs a step failing with a transient error gets (then the failure is sticky like any other). */
export const TRANSIENT_ATTEMPTS = 3;
const TRANSIENT_BACKOFF_MS = 5_000;
const RUN_ERROR_BACKOFF_MS = 1_000;
const RUN_ERROR_BACKOFF_MAX_MS = 60_000;

/** Errors of the moment rather than of the script: serialization, deadlock, lock wait, concurrent catalog update, lost connection, shutdown. */
export function isTransientStepError(f: { code?: string | undefined; message: string }): boolean {
  const code = f.code ?? '';
  if (/^(40001|40P01|55P03|08...|53...|57P0[1-3])$/.test(code)) return true;
  return code === 'XX000' && /tuple concurrently (updated|deleted)/.test(f.message);
}

/** The databases a Migration targets: its databaseRef, or the TenantDatabases its selector matches (sorted). */
export function targetNames(mgr: Manager, namespace: string, spec: MigrationSpec): string[] {
  if (spec.databaseRef) return [spec.databaseRef.name];
  const sel = spec.databaseSelector ?? {};
  return mgr
    .listCached(TENANT_DATABASES, namespace)
    .filter((td) => selectorMatches(sel, td.metadata.labels ?? {}))
    .map((td) => td.metadata.name)
    .sort();
}

/** Ready for migrations: Ready=True for the current generation. */
export function databaseReadiness(td: KubeObject): { ready: true } | { ready: false; message: string } {
  const status = tenantDatabaseStatusOf(td);
  const ready = status.conditions?.find((c) => c.type === 'Ready');
  const gen = td.metadata.generation;
  if (!ready || ready.status !== 'True') return { ready: false, message: `TenantDatabase ${td.metadata.name} is not Ready yet${ready ? ` (${ready.reason}: ${ready.message})` : ''}` };
  if (gen !== undefined && (status.observedGeneration !== gen || (ready.observedGeneration !== undefined && ready.observedGeneration !== gen))) {
    return { ready: false, message: `TenantDatabase ${td.metadata.name} has changes the operator has not finished yet (generation ${gen})` };
  }
  return { ready: true };
}

/** The Secrets the administrator's connections to these databases read (read once per pass, by name). */
export function adminSecretsOf(env: MigrationPass['env'], kit: MigrationPass['kit'], names: readonly string[]): string[] {
  const asOwner = kit.spec.runAs === 'owner';
  return names.flatMap((name) => {
    const td = env.mgr.getCached(TENANT_DATABASES, kit.namespace, name);
    if (!td) return [];
    const spec = tenantDatabaseSpecOf(td);
    // The migrations principal's credentials only when steps run as the owner on a server without passwords.
    const principal = asOwner && spec?.server.azure?.authentication?.passwordAuth === false ? migrationsPrincipalSecret(spec) : undefined;
    return [...adminSecrets(spec), ...(principal ? [principal] : [])];
  });
}

/** What the last runs left for a database: the failure and annotation values acted on. */
interface Memo {
  failure: DatabaseFailure | undefined;
  handledRepair: string | undefined;
  handledResolve: string | undefined;
  consumed: boolean;
  runError?: string;
  runErrors?: { count: number; at: number; message: string; inputs: string; retry: string | undefined } | undefined;
}

export type GateResult = { target: AdminTarget } | { wait: Evaluation };

/** The progress a database keeps while it waits: what status last said of it. */
export function keepOf(prev: DatabaseProgress | undefined): Partial<DatabaseProgress> {
  return { ...(prev?.appliedVersion !== undefined ? { appliedVersion: prev.appliedVersion } : {}), ...(prev?.pending ? { pending: prev.pending } : {}) };
}

/**
 * The database is there, Ready, and reachable as its administrator; otherwise why it waits. An Azure
 * server goes through lookupAzureServer (held by its TenantDatabase, the address from ARM). Worked out
 * once per pass, through pass.gates (ahead.ts).
 */
export async function gate(pass: Pick<MigrationPass, 'env' | 'kit'>, name: string, keep: Partial<DatabaseProgress>): Promise<GateResult> {
  const td = pass.env.mgr.getCached(TENANT_DATABASES, pass.kit.namespace, name);
  if (!td) return { wait: { progress: { name, ...keep, phase: 'Pending', reason: 'WaitingForDatabase', message: `TenantDatabase ${name} not found` } } };
  const readiness = databaseReadiness(td);
  if (!readiness.ready) return { wait: { progress: { name, ...keep, phase: 'Pending', reason: 'WaitingForDatabase', message: readiness.message } } };
  const t = await adminTargetOf(td, pass.kit.secretValue, { mgr: pass.env.mgr, azure: pass.env.azure, kind: 'Migration' });
  if (!t.ok) return { wait: { progress: { name, ...keep, phase: 'Pending', reason: t.reason, message: t.message }, retryable: true } };
  // runAs: owner logs in through the owner's migration login with a one-time password (least authority:
  // the administrator's session could RESET ROLE); a server that refuses passwords cannot take that login,
  // and its steps log in as the Entra migrations principal instead, a member of the owner only.
  if (pass.kit.spec.runAs === 'owner' && t.passwordLoginsRefused) return ownerTokenLogin(pass, td, name, t, keep);
  return { target: t };
}

/** runAs: owner on a server that refuses passwords: the token login of the TenantDatabase's migrations principal. */
async function ownerTokenLogin(pass: Pick<MigrationPass, 'env' | 'kit'>, td: KubeObject, name: string, t: AdminTarget, keep: Partial<DatabaseProgress>): Promise<{ target: AdminTarget } | { wait: Evaluation }> {
  const spec = tenantDatabaseSpecOf(td);
  const principal = migrationsPrincipal(spec);
  const failed = (reason: string, message: string, retryable = false) => ({ wait: { progress: { name, ...keep, phase: 'Failed' as const, reason, message }, ...(retryable ? { retryable } : {}) } });
  if (!spec?.server.azure || !principal?.credentialsSecretRef) {
    const message = `runAs: owner runs steps as a login with the rights of ${t.ownerRole} only, and the server of TenantDatabase ${name} refuses password logins (spec.server.azure.authentication.passwordAuth false): declare that login in its spec.entraPrincipals (a service principal with access: migrations and its credentialsSecretRef), or set spec.runAs: admin to run the steps as the operator's Entra administrator`;
    return failed('OwnerLoginUnavailable', message);
  }
  const secretName = principal.credentialsSecretRef.name;
  const secret = pass.kit.secret(secretName);
  if (!secret) return failed('SecretNotFound', `Secret ${secretName} (credentials of entra principal ${principal.name}, TenantDatabase ${name}) not found`, true);
  let credential;
  try {
    credential = azureClientsFor(pass.env.azure, { subscriptionId: spec.server.azure.subscriptionId, credentialsSecretData: decodeSecret(secret) }).credential;
  } catch (err) {
    return failed('InvalidCredentials', `Secret ${secretName}: ${(err as Error).message}`);
  }
  const login = await entraPrincipalLogin(principal, credential, t.target.host);
  if (!login.ok) return failed(login.reason, login.message, login.transient);
  return { target: { ...t, ownerLogin: { ...t.target, user: login.user, password: '', token: login.token } } };
}

/** Takes the result of a finished run into the memo (once); a run still going is reported as Running. */
function takeRun(pass: MigrationPass, name: string, prev: DatabaseProgress | undefined, keep: Partial<DatabaseProgress>): Memo | { running: Evaluation } {
  const { runs } = pass.env;
  const key = pass.kit.key;
  const mem = runs.remembered(key, name);
  const memo: Memo = {
    failure: 'failure' in mem ? mem.failure : prev?.failure,
    handledRepair: 'repair' in mem ? mem.repair : prev?.repair,
    handledResolve: 'resolve' in mem ? mem.resolve : prev?.resolve,
    runErrors: mem.runErrors,
    consumed: false,
  };
  const run = runs.get(key, name);
  if (run && !run.result) return { running: { progress: { name, ...keep, phase: 'Running', ...runningMessage(run) } } };
  if (!run?.result) return memo;
  memo.consumed = true;
  const r = run.result;
  if (r.outcome !== 'error' && r.outcome !== 'stalled') {
    memo.handledRepair = run.started.repair;
    memo.handledResolve = run.started.resolve;
  }
  if (r.outcome === 'failed') {
    const f = memo.failure;
    const again = f && f.version === r.failure.version && f.inputs === run.started.inputs && f.retry === run.started.retry;
    const transient = !r.failure.dirty && isTransientStepError(r.failure);
    memo.failure = {
      ...r.failure,
      inputs: run.started.inputs,
      ...(run.started.retry !== undefined ? { retry: run.started.retry } : {}),
      ...(transient ? { transient } : {}),
      attempts: (again ? (f?.attempts ?? 1) : 0) + 1,
      time: metaTime(),
    };
  } else if (r.outcome === 'succeeded') memo.failure = undefined;
  else if (r.outcome === 'error') memo.runError = r.message;
  memo.runErrors = r.outcome === 'error' ? { count: (memo.runErrors?.count ?? 0) + 1, at: Date.now(), message: r.message, inputs: run.started.inputs, retry: run.started.retry } : undefined;
  runs.remember(key, name, { failure: memo.failure, repair: memo.handledRepair, resolve: memo.handledResolve, runErrors: memo.runErrors });
  return memo;
}

/**
 * How long the next run still waits after runs that ended with an error before any step result (the
 * migration login cannot be made, the connection drops): 1 s, doubling to 60 s. Without it such an error
 * restarted the run at once, several times a second, and status never showed the error.
 */
function runErrorWait(errors: Memo['runErrors']): number {
  if (!errors) return 0;
  return Math.max(0, errors.at + Math.min(RUN_ERROR_BACKOFF_MAX_MS, RUN_ERROR_BACKOFF_MS * 2 ** (errors.count - 1)) - Date.now());
}

/** How long a transient failure still waits before its next attempt (0: due now; undefined: not transient or out of attempts). */
function transientWait(failure: DatabaseFailure): number | undefined {
  if (!failure.transient || (failure.attempts ?? 1) >= TRANSIENT_ATTEMPTS) return undefined;
  // A deadlock or a concurrent catalog update is not the script's fault: a few runs with backoff.
  const due = Date.parse(failure.time ?? '') + TRANSIENT_BACKOFF_MS * 2 ** ((failure.attempts ?? 1) - 1);
  return Math.max(0, due - Date.now());
}

/** Which tool's history this database's steps were adopted from, and up to which version (from our history). */
function adoptedOf(history: readonly HistoryRow[]): DatabaseProgress['adopted'] {
  const rows = history.filter((r) => r.appliedBy.startsWith('adopted from ') && r.type !== 'repeatable');
  const tool = /^adopted from (\S+)/.exec(rows[0]?.appliedBy ?? '')?.[1];
  if (!tool) return undefined;
  const version = appliedVersionOf(rows);
  return { tool: tool as NonNullable<DatabaseProgress['adopted']>['tool'], ...(version !== undefined ? { version } : {}) };
}

/** A GRANT or the old tool's own fix (migrate force, flyway repair) reaches no watch: looked at again this often. */
const ADOPTION_RECHECK_MS = 30_000;

/** From the history and the memo: done, failed (sticky until something changes), or queued to run. */
function decide(pass: MigrationPass, name: string, t: AdminTarget, history: HistoryRow[], memo: Memo, adopted?: AdoptedHistory): Evaluation {
  const { steps, repeatables, base, fingerprint, retry, repair, resolveRaw, resolve } = pass.inputs;
  const { failure, handledRepair, handledResolve, consumed } = memo;
  const repairPending = repair !== undefined && repair !== handledRepair;
  const resolvePending = resolveRaw !== undefined && resolveRaw !== handledResolve;
  const planOpts: PlanOptions = { ...base, repair: repairPending, resolve: resolvePending ? resolve : undefined, repeatables };
  const plan = planMigration(history, steps, { ...planOpts, adopted });
  const appliedVersion = appliedVersionOf(history) ?? (plan.ok ? undefined : plan.appliedVersion);
  const adoptedFrom = adoptedOf(history);
  const common = { name, ...(appliedVersion !== undefined ? { appliedVersion } : {}), ...(adoptedFrom ? { adopted: adoptedFrom } : {}), ...(handledRepair !== undefined ? { repair: handledRepair } : {}), ...(handledResolve !== undefined ? { resolve: handledResolve } : {}) };
  if (!plan.ok) {
    const recheck = plan.reason === 'AdoptedHistoryDirty' ? { requeueAfterMs: ADOPTION_RECHECK_MS } : {};
    return { progress: { ...common, phase: 'Failed', reason: plan.reason, message: plan.message, ...(failure ? { failure } : {}) }, consumed, history, ...recheck };
  }
  if (plan.actions.length === 0) {
    // Nothing to do: annotation values seen now are settled (a later repair needs a new value).
    if (repair !== undefined || resolveRaw !== undefined || failure) pass.env.runs.remember(pass.kit.key, name, { failure: undefined, repair, resolve: resolveRaw });
    const settled = { ...(repair !== undefined ? { repair } : {}), ...(resolveRaw !== undefined ? { resolve: resolveRaw } : {}) };
    return { progress: { ...common, ...settled, phase: 'Succeeded', message: `at version ${appliedVersion ?? 'none'}` }, consumed, history };
  }
  const pending = plan.pending.slice(0, 1024).map((v) => v.slice(0, 64));
  const withPending = { ...common, ...(pending.length > 0 ? { pending } : {}) };
  const sticky = failure !== undefined && failure.inputs === fingerprint && failure.retry === retry && !repairPending && !resolvePending;
  if (sticky) {
    const wait = transientWait(failure);
    if (wait !== undefined && wait > 0) {
      const message = `${describeFailure(failure)}; retrying in ${Math.ceil(wait / 1000)} s (attempt ${(failure.attempts ?? 1) + 1} of ${TRANSIENT_ATTEMPTS})`;
      return { progress: { ...withPending, phase: 'Pending', reason: 'RetryingAfterTransientError', message, failure }, consumed, history, requeueAfterMs: wait };
    }
    if (wait === undefined) return { progress: { ...withPending, phase: 'Failed', reason: failure.dirty ? 'Dirty' : 'StepFailed', message: describeFailure(failure), failure }, consumed, history };
  }
  // New inputs or a new retry annotation value start at once, as after a failed step.
  const errorWait = memo.runErrors?.inputs === fingerprint && memo.runErrors.retry === retry ? runErrorWait(memo.runErrors) : 0;
  if (errorWait > 0) {
    const message = `the last run ended with an error (${memo.runErrors?.message ?? ''}); trying again in ${Math.ceil(errorWait / 1000)} s`;
    return { progress: { ...withPending, phase: 'Pending', reason: 'RetryingAfterRunError', message: message.slice(0, 4096) }, consumed, history, requeueAfterMs: errorWait };
  }
  const started = { inputs: fingerprint, retry, repair: repairPending ? repair : handledRepair, resolve: resolvePending ? resolveRaw : handledResolve };
  const start = runStarter(pass, name, t, plan.pending.length, planOpts, started);
  const msg = memo.runError ? `the last run ended with an error (${memo.runError}); trying again` : `${plan.pending.length} step${plan.pending.length === 1 ? '' : 's'} pending`;
  return { progress: { ...withPending, phase: 'Pending', reason: 'Queued', message: msg }, start, consumed, history, lintable: lintableOf(plan.actions) };
}

/** Where a history table is: server and database. */
function historyPlace(t: DbTarget): string {
  return `${t.host}:${t.port}/${t.database}`;
}

/** The evaluation of one target database. */
export async function evaluate(pass: MigrationPass, name: string): Promise<Evaluation> {
  const prev = pass.prevDbs.get(name);
  const keep = keepOf(prev);
  const g = await pass.gates.get(name);
  if ('wait' in g) return g.wait;
  const memo = takeRun(pass, name, prev, keep);
  if ('running' in memo) return memo.running;
  let history: HistoryRow[];
  let adopted: Awaited<ReturnType<typeof readAdoptedHistory>>;
  const adopt = pass.kit.spec.adopt;
  const reader = pass.kit.spec.runAs === 'owner' ? g.target.ownerRole : g.target.target.user;
  try {
    const place = historyPlace(g.target.target);
    const seen = pass.env.historySeen;
    ({ history, adopted } = await pass.env.conns.withClient(g.target.target, async (c) => {
      const read = await readHistoryOf(c, pass.kit.key, { seen: seen.get(place) === true });
      if (read.exists) seen.set(place, true);
      else seen.delete(place);
      const h = read.rows;
      // The old tool's table, only while this Migration has no history here; the run reads it again under the lock.
      const a = h.length === 0 && adopt ? await readAdoptedHistory(c, { ...adopt, readerRole: reader, checkReader: true }) : undefined;
      return { history: h, adopted: a };
    }));
  } catch (err) {
    const e = describePgError(err);
    const message = `cannot read the migration history: ${e.code ? `${e.code} ` : ''}${e.message}`;
    return { progress: { name, ...keep, phase: 'Pending', reason: 'DatabaseUnreachable', message }, consumed: memo.consumed, retryable: true };
  }
  if (adopted && 'unreadable' in adopted) {
    return { progress: { name, ...keep, phase: 'Failed', reason: 'AdoptionUnreadable', message: adopted.unreadable }, consumed: memo.consumed, history, requeueAfterMs: ADOPTION_RECHECK_MS };
  }
  const e = decide(pass, name, g.target, history, memo, adopted?.history);
  return e.lintable ? lintGate(pass, name, g.target, e, e.lintable) : e;
}
