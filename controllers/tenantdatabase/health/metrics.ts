// Prometheus gauges of the health figures, one series per TenantDatabase (and per replica for the
// replication figures), set at each refresh and removed when the object goes or a replica leaves. No
// statement text here: it is unbounded in cardinality, so top statements live in status only.
import { Gauge } from 'prom-client';
import type { HealthStatus } from '../../../src/api/tenantdatabase-health.js';
import { metricsRegistry } from '../../../src/runtime/metrics.js';

const labelNames = ['namespace', 'name'] as const;
const replicaLabels = ['namespace', 'name', 'replica'] as const;
const MiB = 1024 * 1024;

const gauge = (name: string, help: string) => new Gauge({ name, help, labelNames, registers: [metricsRegistry] });

export const healthGauges = {
  healthy: gauge('tenantdb_health_healthy', '1 when every health figure of the TenantDatabase is within its threshold, 0 otherwise'),
  storageUsed: gauge('tenantdb_health_storage_used_bytes', 'Sum of the sizes of the databases of the server (pg_database_size)'),
  storageProvisioned: gauge('tenantdb_health_storage_provisioned_bytes', 'Storage provisioned for the server (Azure storageSizeGB)'),
  storagePercent: gauge('tenantdb_health_storage_used_percent', 'Used storage in percent of the provisioned storage'),
  connectionsInUse: gauge('tenantdb_health_connections_in_use', "Client connections to the server, not counting the operator's own"),
  connectionsMax: gauge('tenantdb_health_connections_max', 'max_connections of the server'),
  oldestTransaction: gauge('tenantdb_health_oldest_transaction_age_seconds', 'Age of the oldest open transaction on the server (0: none open)'),
  wraparoundHeadroom: gauge('tenantdb_health_wraparound_headroom_xids', 'Transaction ids left before wraparound in the database of the server closest to it'),
  backups: gauge('tenantdb_health_backups_available', 'Backups Azure lists for the server'),
  earliestRestore: gauge('tenantdb_health_earliest_restore_timestamp_seconds', 'Earliest point in time the server can be restored to (Unix time)'),
  statementsTotalTime: gauge('tenantdb_health_top_statements_total_time_seconds', 'Total execution time of the reported top statements of the database'),
};
const replicaLag = new Gauge({ name: 'tenantdb_health_replication_lag_seconds', help: 'Replay lag of a replica as the primary measures it', labelNames: replicaLabels, registers: [metricsRegistry] });
const replicaLagBytes = new Gauge({ name: 'tenantdb_health_replication_lag_bytes', help: 'WAL a replica has not replayed yet (retained by its slot when not streaming)', labelNames: replicaLabels, registers: [metricsRegistry] });
const replicaStreaming = new Gauge({ name: 'tenantdb_health_replica_streaming', help: '1 when the replica is connected and streaming', labelNames: replicaLabels, registers: [metricsRegistry] });

/** Replicas with series, per object, so a replica that leaves loses its series. */
const replicasSeen = new Map<string, Set<string>>();

function setOrRemove(g: Gauge<'namespace' | 'name'>, labels: { namespace: string; name: string }, v: number | undefined): void {
  if (v === undefined) g.remove(labels);
  else g.set(labels, v);
}

export function recordHealthMetrics(namespace: string, name: string, h: HealthStatus, healthy: boolean): void {
  const l = { namespace, name };
  const g = healthGauges;
  g.healthy.set(l, healthy ? 1 : 0);
  setOrRemove(g.storageUsed, l, h.storage ? h.storage.usedMiB * MiB : undefined);
  setOrRemove(g.storageProvisioned, l, h.storage?.provisionedMiB !== undefined ? h.storage.provisionedMiB * MiB : undefined);
  setOrRemove(g.storagePercent, l, h.storage?.percentUsed);
  setOrRemove(g.connectionsInUse, l, h.connections?.inUse);
  setOrRemove(g.connectionsMax, l, h.connections?.max);
  setOrRemove(g.oldestTransaction, l, h.connections ? (h.oldestTransactionAgeSeconds ?? 0) : undefined);
  setOrRemove(g.wraparoundHeadroom, l, h.wraparoundHeadroomXids);
  setOrRemove(g.backups, l, h.backups?.count);
  setOrRemove(g.earliestRestore, l, h.backups?.earliestRestorePoint ? Date.parse(h.backups.earliestRestorePoint) / 1000 : undefined);
  setOrRemove(g.statementsTotalTime, l, h.topStatements ? h.topStatements.reduce((s, x) => s + x.totalTimeMs, 0) / 1000 : undefined);
  const key = `${namespace}/${name}`;
  const before = replicasSeen.get(key) ?? new Set<string>();
  const now = new Set<string>();
  for (const r of h.replicas ?? []) {
    const rl = { namespace, name, replica: r.name };
    now.add(r.name);
    replicaStreaming.set(rl, r.streaming ? 1 : 0);
    if (r.lagSeconds !== undefined) replicaLag.set(rl, r.lagSeconds);
    else replicaLag.remove(rl);
    if (r.lagMiB !== undefined) replicaLagBytes.set(rl, r.lagMiB * MiB);
    else replicaLagBytes.remove(rl);
  }
  for (const gone of before) if (!now.has(gone)) for (const m of [replicaLag, replicaLagBytes, replicaStreaming]) m.remove({ namespace, name, replica: gone });
  replicasSeen.set(key, now);
}

/** Every series of the object (it is deleted, or no longer asks for health). */
export function forgetHealthMetrics(namespace: string, name: string): void {
  const l = { namespace, name };
  for (const g of Object.values(healthGauges)) g.remove(l);
  for (const r of replicasSeen.get(`${namespace}/${name}`) ?? []) for (const m of [replicaLag, replicaLagBytes, replicaStreaming]) m.remove({ ...l, replica: r });
  replicasSeen.delete(`${namespace}/${name}`);
}
