// High availability of a flexible server (highAvailability.mode ZoneRedundant or SameZone): a real standby,
// a streaming replica of the primary in a folder of its own (<serverDir>/ha-<id>/), that the server's FQDN
// does not point at. `POST .../restart` with restartWithFailover (2025-08-01 RestartParameter) fails over:
// the standby is promoted and the FQDN (hosts map, Azure's DNS) points at it, same name and port; the old
// primary's data is dropped and a new standby is copied from the new primary. PlannedFailover stops the
// primary first (a fast shutdown streams its last WAL to the standby), waits until the standby replayed
// everything and so loses no committed transaction; ForcedFailover promotes without waiting.
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ArmError } from '../framework/errors.js';
import type { Json } from '../framework/store.js';
import { serverDirOf, type InstanceRecord } from './instances.js';
import { props, type PostgresProviderState, type ServerRuntime } from './model.js';
import { plannedTarget, promoteReplica } from './promotion.js';
import { archiveSettings } from './wal-archive.js';

export type FailoverMode = 'PlannedFailover' | 'ForcedFailover';

const standbyKey = (rt: ServerRuntime) => `${rt.id}#standby`;
const ha = (doc: Json) => (props(doc).highAvailability ??= {}) as Record<string, unknown>;

export function haEnabled(doc: Json): boolean {
  const mode = ha(doc).mode;
  return typeof mode === 'string' && mode !== 'Disabled';
}

/** The running standby of a server, if any. */
export function standbyOf(state: PostgresProviderState, rt: ServerRuntime): InstanceRecord | undefined {
  return state.instances.get(standbyKey(rt));
}

/** Creates the standby when HA is on and there is none, removes it when HA is off; sets highAvailability.state. */
export async function syncStandby(state: PostgresProviderState, rt: ServerRuntime, doc: Json): Promise<void> {
  const existing = standbyOf(state, rt);
  if (!haEnabled(doc)) {
    if (existing) await state.instances.destroy(existing.key, path.dirname(existing.dataDir));
    ha(doc).state = 'NotEnabled';
    return;
  }
  if (!existing && rt.instance && state.backed) {
    ha(doc).state = 'CreatingStandby';
    const dir = path.join(rt.dir, `ha-${randomBytes(4).toString('hex')}`);
    // Archive settings of the server's folder: after a failover the promoted standby archives where the
    // backups are (a standby itself does not archive with archive_mode on).
    await state.instances.createFromSource({
      key: standbyKey(rt),
      fqdn: rt.fqdn,
      dir,
      source: rt.instance,
      settings: { ...state.settingsFor(rt), ...archiveSettings(serverDirOf(rt.instance)) },
      replica: true,
      standby: true,
      serverDir: serverDirOf(rt.instance),
    });
  }
  ha(doc).state = 'Healthy';
}

/** Checks a restart body asking for a failover; returns the mode, or undefined for a plain restart. */
export function failoverOf(body: Record<string, unknown>, doc: Json, serverName: string): FailoverMode | undefined {
  if (body.restartWithFailover !== true) return undefined;
  if (!haEnabled(doc)) {
    throw new ArmError(400, 'HANotEnabled', `Restart with failover is only supported for servers with high availability enabled; server '${serverName}' has highAvailability.mode Disabled.`, 'restartWithFailover');
  }
  const mode = body.failoverMode ?? 'PlannedFailover';
  if (mode !== 'PlannedFailover' && mode !== 'ForcedFailover') {
    throw new ArmError(400, 'InvalidParameterValue', `failoverMode must be PlannedFailover or ForcedFailover, got '${String(mode)}'.`, 'failoverMode');
  }
  return mode;
}

/** Planned: the position the standby must replay before it is promoted (the primary must be up). */
export async function failoverTarget(state: PostgresProviderState, rt: ServerRuntime, mode: FailoverMode): Promise<string | undefined> {
  const standby = standbyOf(state, rt);
  if (!standby) throw new ArmError(409, 'StandbyNotReady', `Server '${rt.name}' has no healthy standby to fail over to.`);
  return mode === 'PlannedFailover' ? plannedTarget(state.instances, standby) : undefined;
}

/** Runs the failover: standby promoted behind the server's FQDN, old primary dropped, a new standby made. */
export async function failOver(state: PostgresProviderState, rt: ServerRuntime, doc: Json, target: string | undefined): Promise<void> {
  const standby = standbyOf(state, rt);
  const primary = rt.instance;
  if (!standby || !primary) throw new ArmError(409, 'StandbyNotReady', `Server '${rt.name}' has no healthy standby to fail over to.`);
  ha(doc).state = 'FailingOver';
  await state.poolers.stop(rt.id);
  // Clients are cut off here: from now until the standby is promoted the server accepts no connection.
  await primary.server.stop();
  await promoteReplica(state.instances, standby, target);
  const oldDir = primary.dataDir === path.join(rt.dir, 'data') ? primary.dataDir : path.dirname(primary.dataDir);
  await state.instances.destroy(primary.key, oldDir);
  state.instances.takeOver(standby, rt.id);
  rt.instance = standby;
  state.markStarted(rt);
  // A base backup on the new timeline: restores to a point after the failover start from it.
  const backup = (props(doc).backup ?? {}) as Record<string, unknown>;
  await state.instances.baseBackup(standby, Number(backup.backupRetentionDays ?? 7));
  await state.syncPooler(rt, true);
  // Azure swaps the zones: the new primary runs where the standby was.
  const p = props(doc);
  const zone = p.availabilityZone;
  if (ha(doc).standbyAvailabilityZone !== undefined) {
    p.availabilityZone = ha(doc).standbyAvailabilityZone;
    ha(doc).standbyAvailabilityZone = zone;
  }
  ha(doc).state = 'ReplicatingData';
  await syncStandby(state, rt, doc);
}
