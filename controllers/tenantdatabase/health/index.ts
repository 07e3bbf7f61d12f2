// The health part (spec.health): every period it reads the server's and the database's figures
// (src/postgres/health, one or two catalog queries on the administrator's connection to the database)
// and, on Azure, the provisioned storage and backups (ARM, shared read path), reports them in
// status.health and as Prometheus gauges, and sets the Healthy condition. Informational: Healthy=False
// neither makes the object not Ready nor stops the parts after it.
//
// Writes stay bounded: figures are quantised (evaluate.ts) and status.health is written only when one
// changed; the figures are read at most once per period (a pass brought early by a watch event, our own
// status write among them, reports the last result), so at most one status write per period.
import { classifyFailure } from '../../../src/postgres/classify.js';
import { postgresConnections, type DbTarget, type PostgresConnections } from '../../../src/postgres/connections.js';
import { readHealthFigures, type ServerFigures } from '../../../src/postgres/health/figures.js';
import type { HealthStatus } from '../../../src/api/tenantdatabase-health.js';
import { HEALTH_PERIOD_DEFAULT_SECONDS, HEALTH_TOP_STATEMENTS_DEFAULT } from '../../../src/api/tenantdatabase-health.js';
import type { DatabasePart, PartCondition, PartOutcome, ServerConnection, TenantDatabaseContext } from '../context.js';
import { tokenOf } from '../context.js';
import { azureFigures } from './azure.js';
import { CONDITION, healthCondition, healthFigures, healthPatch, thresholdsOf, type AzureFigures } from './evaluate.js';
import { forgetHealthMetrics, recordHealthMetrics } from './metrics.js';

/** application_name of the operator's sessions (the connection layer's default), left out of "connections in use". */
export const OPERATOR_APPLICATION_NAME = 'tenantdb-operator';

const FAILED_RETRY_MS = 60_000;

/** When each object's figures were last read (and for which generation), in this process. */
const lastRead = new Map<string, { at: number; generation: number | undefined }>();

function target(conn: ServerConnection, database: string): DbTarget {
  return { host: conn.host, port: conn.port, sslMode: conn.sslMode, ...(conn.caPem !== undefined ? { caPem: conn.caPem } : {}), user: conn.adminUser, password: conn.adminPassword, ...tokenOf(conn), database };
}

function periodMsOf(ctx: TenantDatabaseContext): number {
  return (ctx.spec.health?.periodSeconds ?? HEALTH_PERIOD_DEFAULT_SECONDS) * 1000;
}

/** The Healthy condition as status has it, when the figures were read less than a period ago. */
function notDueYet(ctx: TenantDatabaseContext, key: string, now: number): PartOutcome | undefined {
  const last = lastRead.get(key);
  const prev = ctx.status.conditions?.find((c) => c.type === CONDITION);
  if (!last || !prev || last.generation !== ctx.generation) return undefined;
  const wait = last.at + periodMsOf(ctx) - now;
  if (wait <= 0) return undefined;
  const condition: PartCondition = { type: CONDITION, ok: prev.status === 'True', reason: prev.reason, message: prev.message, informational: true };
  return { condition, requeueAfterMs: wait };
}

/**
 * Storage used per server (and administrator: privileges decide what it may size), shared by the
 * TenantDatabases on one server: the sum stats every file of every database, so it is read at most once
 * per period per server, not once per database (bench/health.ts). Bounded like the pools.
 */
const storageByServer = new Map<string, { at: number; bytes: number }>();
const STORAGE_CACHE_MAX = 4096;

function storageKey(conn: ServerConnection): string {
  return `${conn.host.toLowerCase()}:${conn.port}:${conn.adminUser}`;
}

/** The figures of one database and its server, the storage sum shared per server for a period. */
export async function collectFigures(conns: PostgresConnections, conn: ServerConnection, database: string, opts: { topStatements: number; periodMs: number; now: number }): Promise<ServerFigures> {
  const sk = storageKey(conn);
  const known = storageByServer.get(sk);
  const fresh = known && opts.now - known.at < opts.periodMs ? known : undefined;
  const figures = await conns.withClient(target(conn, database), (client) =>
    readHealthFigures(client, { topStatements: opts.topStatements, ownApplicationName: OPERATOR_APPLICATION_NAME, storage: !fresh }),
  );
  if (figures.usedBytes !== undefined) {
    if (storageByServer.size >= STORAGE_CACHE_MAX) storageByServer.clear();
    storageByServer.set(sk, { at: opts.now, bytes: figures.usedBytes });
  } else if (fresh) figures.usedBytes = fresh.bytes;
  return figures;
}

async function readFigures(ctx: TenantDatabaseContext, conn: ServerConnection, now: number): Promise<HealthStatus> {
  const topStatements = ctx.spec.health?.topStatements ?? HEALTH_TOP_STATEMENTS_DEFAULT;
  const az = ctx.spec.server.azure;
  const periodMs = periodMsOf(ctx);
  const azure: Promise<AzureFigures | undefined> = az && conn.kind === 'azure' ? azureFigures(ctx, az, periodMs) : Promise.resolve(undefined);
  const figures = await collectFigures(postgresConnections(ctx.settings.postgres), conn, ctx.spec.database.name, { topStatements, periodMs, now });
  return healthFigures(figures, await azure, topStatements);
}

async function reconcile(ctx: TenantDatabaseContext, conn: ServerConnection): Promise<PartOutcome> {
  const key = `${ctx.namespace}/${ctx.name}`;
  const started = Date.now();
  const early = notDueYet(ctx, key, started);
  if (early) return early;
  const periodMs = periodMsOf(ctx);
  const thresholds = thresholdsOf(ctx.spec.health);
  const prev = ctx.status.health;
  let next: HealthStatus;
  let condition: PartCondition;
  try {
    next = await readFigures(ctx, conn, started);
    condition = healthCondition(next, thresholds);
  } catch (err) {
    // The figures before stay (they were true when read); the failure is said once, not per attempt.
    const f = classifyFailure(err);
    const { checkedAt: _c, problem: _p, ...before } = prev ?? {};
    next = { ...before, problem: `reading the figures failed: ${f.message}`.slice(0, 1024) };
    condition = { type: CONDITION, ok: false, reason: f.kind === 'privilege' ? 'InsufficientPrivilege' : 'HealthCheckFailed', message: next.problem!, informational: true };
  }
  // A failed read is tried again within a minute (a short outage need not wait a whole period).
  const wait = next.problem?.startsWith('reading the figures failed') ? Math.min(periodMs, FAILED_RETRY_MS) : periodMs;
  lastRead.set(key, { at: started - periodMs + wait, generation: ctx.generation });
  recordHealthMetrics(ctx.namespace, ctx.name, next, condition.ok);
  await eventOnChange(ctx, condition);
  const patch = healthPatch(next, prev, new Date(started));
  return { condition, ...(patch ? { status: { health: patch } } : {}), requeueAfterMs: wait };
}

/** One Event per change of Healthy (status or reason), not per refresh. */
async function eventOnChange(ctx: TenantDatabaseContext, c: PartCondition): Promise<void> {
  const before = ctx.status.conditions?.find((x) => x.type === CONDITION);
  if (before && before.reason === c.reason && (before.status === 'True') === c.ok) return;
  await ctx.event(c.ok ? 'Normal' : 'Warning', c.reason, c.message.slice(0, 1024));
}

export const healthPart: DatabasePart = {
  name: 'health',
  applies: (spec) => spec.health !== undefined,
  reconcile,
  report: { condition: CONDITION, status: 'health' },
  retire: async (ctx) => {
    lastRead.delete(`${ctx.namespace}/${ctx.name}`);
    forgetHealthMetrics(ctx.namespace, ctx.name);
  },
  finalize: async (ctx) => {
    lastRead.delete(`${ctx.namespace}/${ctx.name}`);
    forgetHealthMetrics(ctx.namespace, ctx.name);
    return { done: true };
  },
};
