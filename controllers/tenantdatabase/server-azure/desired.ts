// Pure functions from the TenantDatabase spec and what ARM reports to the writes that close the gap.
// Each returns the smallest change (or undefined when converged) so the part can apply one at a time
// and a converged object costs no write. Nothing here talks to Azure.
import { createHash } from 'node:crypto';
import type {
  AdministratorMicrosoftEntra,
  AdministratorMicrosoftEntraAdd,
  Configuration,
  FirewallRule as ArmFirewallRule,
  Server,
  ServerForPatch,
} from '@azure/arm-postgresql-flexible';
import type { AzureServerSpec, TenantDatabaseSpec } from '../../../src/api/tenantdatabase.js';

/** Tag naming the TenantDatabase that owns a server (`<namespace>/<name>`); ARM allows `/` in values only. */
export const OWNER_TAG = 'tenantdb-owner';
/** `created` when the operator created the server (Delete may remove it), `adopted` otherwise. */
export const ORIGIN_TAG = 'tenantdb-origin';
/**
 * Tag recording the HA failover request this server handled (failover.ts): `requested:<id>` once the
 * operator claimed it, `<id>` once the restart with failover ended. Run-once lives here, with the server,
 * not in status: a lost status or a TenantDatabase re-created from Git never fails over a second time.
 */
export const FAILOVER_TAG = 'tenantdb-failover';

/**
 * Tag recording which of the server's tags the operator set from spec.tags (names joined by ',', which no
 * tag name the spec allows contains): the ones it may remove when they leave the spec. It lives with the
 * server, written with the tags themselves: nothing read back from status decides what is removed.
 */
export const MANAGED_TAGS_TAG = 'tenantdb-tags';
/** Azure's limit on a tag value: names past it are not recorded, and so never removed. */
const TAG_VALUE_MAX = 256;

export type Ownership =
  | { kind: 'ours'; origin: 'created' | 'adopted' }
  | { kind: 'unowned' }
  | { kind: 'other'; owner: string };

export function ownerValue(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export function ownershipOf(tags: Record<string, string> | undefined, owner: string): Ownership {
  const found = tags?.[OWNER_TAG];
  if (found === undefined) return { kind: 'unowned' };
  if (found !== owner) return { kind: 'other', owner: found };
  return { kind: 'ours', origin: tags?.[ORIGIN_TAG] === 'created' ? 'created' : 'adopted' };
}

const enabled = (b: boolean): 'Enabled' | 'Disabled' => (b ? 'Enabled' : 'Disabled');

/** The names MANAGED_TAGS_TAG records. */
export function managedTagNames(tags: Record<string, string> | undefined): Set<string> {
  return new Set((tags?.[MANAGED_TAGS_TAG] ?? '').split(',').filter((k) => k !== ''));
}

/** The record of `names` (sorted), as many as fit in one tag value. */
function managedTagsRecord(names: Iterable<string>): string {
  let out = '';
  for (const k of [...names].sort()) {
    const next = out === '' ? k : `${out},${k}`;
    if (next.length <= TAG_VALUE_MAX) out = next;
  }
  return out;
}

/**
 * Tags the server should carry: the spec's, the ownership tags, and anything others put there (Azure
 * Policy, a person). A spec tag the server did not carry when the operator set it is recorded in
 * MANAGED_TAGS_TAG and removed when it leaves the spec. A tag that was there first (on an adopted
 * server, or on one tagged before the record existed) gets the spec's value but is never recorded, and
 * so never removed: what the operator created is recorded when it creates it, never inferred later.
 */
export function desiredTags(spec: AzureServerSpec, actual: Record<string, string> | undefined, owner: string, origin: 'created' | 'adopted'): Record<string, string> {
  const out: Record<string, string> = { ...(actual ?? {}) };
  const wanted = spec.tags ?? {};
  const recorded = managedTagNames(actual);
  for (const k of recorded) if (!(k in wanted)) delete out[k];
  const record = managedTagsRecord(Object.keys(wanted).filter((k) => recorded.has(k) || !(actual && k in actual)));
  Object.assign(out, wanted);
  out[OWNER_TAG] = owner;
  out[ORIGIN_TAG] = origin;
  if (record !== '') out[MANAGED_TAGS_TAG] = record;
  else delete out[MANAGED_TAGS_TAG];
  return out;
}

/** The create body of a new server. */
export function createBody(spec: AzureServerSpec, tags: Record<string, string>, adminPassword: string | undefined): Server {
  const auth = spec.authentication ?? { passwordAuth: true, entraAuth: false };
  const body: Server = {
    location: spec.location,
    tags,
    sku: { name: spec.sku.name, tier: spec.sku.tier },
    version: spec.version,
    createMode: 'Create',
    storage: { storageSizeGB: spec.storage?.sizeGB ?? 32, autoGrow: enabled(spec.storage?.autoGrow ?? false) },
    backup: { backupRetentionDays: spec.backup?.retentionDays ?? 7, geoRedundantBackup: enabled(spec.backup?.geoRedundant ?? false) },
    highAvailability: {
      mode: spec.highAvailability?.mode ?? 'Disabled',
      ...(spec.highAvailability?.standbyAvailabilityZone ? { standbyAvailabilityZone: spec.highAvailability.standbyAvailabilityZone } : {}),
    },
    network: { publicNetworkAccess: spec.network?.publicNetworkAccess ?? 'Enabled' },
    authConfig: {
      passwordAuth: enabled(auth.passwordAuth),
      activeDirectoryAuth: enabled(auth.entraAuth),
      ...(auth.tenantId ? { tenantId: auth.tenantId } : {}),
    },
  };
  if (spec.availabilityZone) body.availabilityZone = spec.availabilityZone;
  if (spec.maintenanceWindow) {
    body.maintenanceWindow = { customWindow: 'Enabled', dayOfWeek: spec.maintenanceWindow.dayOfWeek, startHour: spec.maintenanceWindow.startHour, startMinute: spec.maintenanceWindow.startMinute };
  }
  if (auth.passwordAuth && spec.administratorLogin) {
    body.administratorLogin = spec.administratorLogin;
    body.administratorLoginPassword = adminPassword;
  }
  return body;
}

export interface PatchOptions {
  /** A BackupPolicy owns retention: leave it alone. */
  skipBackupRetention?: boolean;
  tags: Record<string, string>;
  /** Set when the administrator password must be (re)applied. */
  adminPassword?: string;
}

function sameTags(a: Record<string, string> | undefined, b: Record<string, string>): boolean {
  const ak = Object.keys(a ?? {});
  return ak.length === Object.keys(b).length && ak.every((k) => a![k] === b[k]);
}

/**
 * The PATCH that brings `actual` to the spec, with the names of the changed properties for Events and
 * logs (never values of secrets); undefined when converged. Only properties Azure lets change are
 * compared (admission refuses the others); storage only grows and the version only goes up.
 */
export function serverPatch(spec: AzureServerSpec, actual: Server, opts: PatchOptions): { patch: ServerForPatch; changed: string[] } | undefined {
  const patch: ServerForPatch = {};
  const changed: string[] = [];
  if (actual.sku?.name !== spec.sku.name || actual.sku?.tier !== spec.sku.tier) {
    patch.sku = { name: spec.sku.name, tier: spec.sku.tier };
    changed.push('sku');
  }
  const wantSize = spec.storage?.sizeGB ?? 32;
  const wantGrow = enabled(spec.storage?.autoGrow ?? false);
  const sizeGrows = (actual.storage?.storageSizeGB ?? 0) < wantSize;
  if (sizeGrows || (actual.storage?.autoGrow ?? 'Disabled') !== wantGrow) {
    patch.storage = { ...(sizeGrows ? { storageSizeGB: wantSize } : {}), autoGrow: wantGrow };
    changed.push('storage');
  }
  if (actual.version !== undefined && Number(actual.version) < Number(spec.version)) {
    patch.version = spec.version;
    changed.push('version');
  }
  const haMode = spec.highAvailability?.mode ?? 'Disabled';
  const standby = spec.highAvailability?.standbyAvailabilityZone;
  // After a failover Azure swaps the zones (the primary runs where the standby was): the same pair.
  const swapped = standby !== undefined && actual.highAvailability?.standbyAvailabilityZone === spec.availabilityZone && actual.availabilityZone === standby;
  if ((actual.highAvailability?.mode ?? 'Disabled') !== haMode || (standby !== undefined && actual.highAvailability?.standbyAvailabilityZone !== standby && !swapped)) {
    patch.highAvailability = { mode: haMode, ...(standby ? { standbyAvailabilityZone: standby } : {}) };
    changed.push('highAvailability');
  }
  if (!opts.skipBackupRetention && spec.backup && actual.backup?.backupRetentionDays !== spec.backup.retentionDays) {
    patch.backup = { backupRetentionDays: spec.backup.retentionDays };
    changed.push('backup.retentionDays');
  }
  if (spec.network && actual.network?.publicNetworkAccess !== spec.network.publicNetworkAccess) {
    patch.network = { publicNetworkAccess: spec.network.publicNetworkAccess };
    changed.push('network.publicNetworkAccess');
  }
  const mw = spec.maintenanceWindow;
  if (
    mw &&
    (actual.maintenanceWindow?.customWindow !== 'Enabled' ||
      actual.maintenanceWindow.dayOfWeek !== mw.dayOfWeek ||
      actual.maintenanceWindow.startHour !== mw.startHour ||
      (actual.maintenanceWindow.startMinute ?? 0) !== mw.startMinute)
  ) {
    patch.maintenanceWindow = { customWindow: 'Enabled', dayOfWeek: mw.dayOfWeek, startHour: mw.startHour, startMinute: mw.startMinute };
    changed.push('maintenanceWindow');
  }
  const auth = spec.authentication;
  if (auth) {
    const a = actual.authConfig ?? {};
    if (
      a.passwordAuth !== enabled(auth.passwordAuth) ||
      a.activeDirectoryAuth !== enabled(auth.entraAuth) ||
      (auth.tenantId !== undefined && a.tenantId !== auth.tenantId)
    ) {
      patch.authConfig = { passwordAuth: enabled(auth.passwordAuth), activeDirectoryAuth: enabled(auth.entraAuth), ...(auth.tenantId ? { tenantId: auth.tenantId } : {}) };
      changed.push('authentication');
    }
  }
  if (!sameTags(actual.tags, opts.tags)) {
    patch.tags = opts.tags;
    changed.push('tags');
  }
  if (opts.adminPassword !== undefined) {
    patch.administratorLoginPassword = opts.adminPassword;
    changed.push('administratorLoginPassword');
  }
  return changed.length ? { patch, changed } : undefined;
}

// ---------------------------------------------------------------------------------------------
// Firewall rules: the spec's list is the whole set when present.

export type FirewallStep =
  | { op: 'put'; name: string; startIpAddress: string; endIpAddress: string }
  | { op: 'delete'; name: string };

export function firewallSteps(spec: AzureServerSpec, actual: readonly ArmFirewallRule[]): FirewallStep[] {
  const want = spec.network?.firewallRules;
  if (want === undefined) return [];
  const have = new Map(actual.map((r) => [(r.name ?? '').toLowerCase(), r]));
  const steps: FirewallStep[] = [];
  for (const r of want) {
    const cur = have.get(r.name.toLowerCase());
    if (!cur || cur.startIpAddress !== r.startIpAddress || cur.endIpAddress !== r.endIpAddress) {
      steps.push({ op: 'put', name: r.name, startIpAddress: r.startIpAddress, endIpAddress: r.endIpAddress });
    }
  }
  const names = new Set(want.map((r) => r.name.toLowerCase()));
  for (const r of actual) if (r.name && !names.has(r.name.toLowerCase())) steps.push({ op: 'delete', name: r.name });
  return steps;
}

// ---------------------------------------------------------------------------------------------
// Server parameters

const splitList = (v: string): string[] =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/**
 * Parameters the server should have: the spec's, with `azure.extensions` widened by the database's
 * extensions so that one list is enough (the user's spelling kept, additions appended).
 */
export function desiredParameters(spec: TenantDatabaseSpec): Record<string, string> {
  const out: Record<string, string> = { ...(spec.server.azure?.parameters ?? {}) };
  const dbExt = spec.database.extensions ?? [];
  if (dbExt.length) {
    const key = Object.keys(out).find((k) => k.toLowerCase() === 'azure.extensions') ?? 'azure.extensions';
    const list = splitList(out[key] ?? '');
    const have = new Set(list.map((e) => e.toLowerCase()));
    for (const e of dbExt) if (!have.has(e.toLowerCase())) list.push(e);
    out[key] = list.join(',');
  }
  return out;
}

/** Whether two parameter values mean the same to PostgreSQL (case, list order and spacing aside). */
export function sameParameterValue(name: string, want: string, have: string | undefined): boolean {
  if (have === undefined) return false;
  const norm = (v: string) => v.trim().toLowerCase();
  if (name.toLowerCase() === 'azure.extensions' || name.toLowerCase() === 'shared_preload_libraries') {
    const a = splitList(want).map(norm).sort();
    const b = splitList(have).map(norm).sort();
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }
  const bool: Record<string, string> = { on: 'on', true: 'on', yes: 'on', '1': 'on', off: 'off', false: 'off', no: 'off', '0': 'off' };
  const w = norm(want);
  const h = norm(have);
  return w === h || (bool[w] !== undefined && bool[w] === bool[h]);
}

export function parameterSteps(desired: Record<string, string>, actual: readonly Configuration[]): { name: string; value: string }[] {
  const have = new Map(actual.map((c) => [(c.name ?? '').toLowerCase(), c.value]));
  return Object.entries(desired)
    .filter(([name, value]) => !sameParameterValue(name, value, have.get(name.toLowerCase())))
    .map(([name, value]) => ({ name, value }));
}

export function pendingRestartParameters(actual: readonly Configuration[]): string[] {
  return actual
    .filter((c) => c.isConfigPendingRestart === true && c.name)
    .map((c) => c.name!)
    .sort();
}

// ---------------------------------------------------------------------------------------------
// Restarts under restartPolicy MaintenanceWindow

const WINDOW_MS = 60 * 60 * 1000;

/** Start of the maintenance window that contains `now`, else the next one. */
export function maintenanceWindowStart(mw: { dayOfWeek: number; startHour: number; startMinute: number }, now: Date): Date {
  const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), mw.startHour, mw.startMinute));
  start.setUTCDate(start.getUTCDate() + ((mw.dayOfWeek - start.getUTCDay() + 7) % 7));
  // This week's window already over: next week's.
  if (start.getTime() + WINDOW_MS <= now.getTime()) start.setUTCDate(start.getUTCDate() + 7);
  // A window that began last week and is still open (start just before midnight on the same day).
  const prev = new Date(start.getTime() - 7 * 24 * WINDOW_MS);
  if (prev.getTime() <= now.getTime() && now.getTime() < prev.getTime() + WINDOW_MS) return prev;
  return start;
}

export function inMaintenanceWindow(mw: { dayOfWeek: number; startHour: number; startMinute: number }, now: Date): boolean {
  const s = maintenanceWindowStart(mw, now).getTime();
  return s <= now.getTime() && now.getTime() < s + WINDOW_MS;
}

// ---------------------------------------------------------------------------------------------
// Microsoft Entra administrators: the spec's list is the whole set when present.

export type AdminStep = { op: 'put'; objectId: string; body: AdministratorMicrosoftEntraAdd } | { op: 'delete'; objectId: string };

export function adminSteps(spec: AzureServerSpec, actual: readonly AdministratorMicrosoftEntra[]): AdminStep[] {
  const want = spec.entraAdministrators;
  if (want === undefined) return [];
  const id = (a: AdministratorMicrosoftEntra) => (a.objectId ?? a.name ?? '').toLowerCase();
  const have = new Map(actual.map((a) => [id(a), a]));
  const steps: AdminStep[] = [];
  for (const w of want) {
    const cur = have.get(w.objectId.toLowerCase());
    if (!cur || cur.principalName !== w.principalName || cur.principalType !== w.principalType) {
      steps.push({
        op: 'put',
        objectId: w.objectId,
        body: { principalName: w.principalName, principalType: w.principalType, ...(spec.authentication?.tenantId ? { tenantId: spec.authentication.tenantId } : {}) },
      });
    }
  }
  const ids = new Set(want.map((w) => w.objectId.toLowerCase()));
  for (const a of actual) if (!ids.has(id(a))) steps.push({ op: 'delete', objectId: a.objectId ?? a.name! });
  return steps;
}

// ---------------------------------------------------------------------------------------------
// Read replicas

export function replicaCreateBody(spec: AzureServerSpec, replica: { name: string; location?: string | undefined }, sourceId: string, tags: Record<string, string>): Server {
  return {
    location: replica.location ?? spec.location,
    tags,
    createMode: 'Replica',
    sourceServerResourceId: sourceId,
  };
}

/** Replicas to delete: ours (created by this object) and no longer in the spec. */
export function replicasToDelete(spec: AzureServerSpec, actual: readonly Server[], owner: string): string[] {
  const want = new Set((spec.readReplicas ?? []).map((r) => r.name));
  return actual
    .filter((s) => s.name && !want.has(s.name))
    .filter((s) => {
      const o = ownershipOf(s.tags, owner);
      return o.kind === 'ours' && o.origin === 'created';
    })
    .map((s) => s.name!);
}

const CLAIMED = 'requested:';

/** A short fingerprint of the primary that answered (the write probe's address@postmaster start time). */
export const instanceFingerprint = (instance: string): string => createHash('sha256').update(instance).digest('hex').slice(0, 16);

/**
 * The failover marker tag's value for request `id`: handled (`<id>`), or claimed: `requested:<id>`, with
 * `;<fingerprint>` of the primary that answered when it was claimed (a restart since then shows as
 * another primary: failover.ts).
 */
export const failoverMark = (id: string, state: 'claimed' | 'handled', primary?: string): string =>
  state === 'claimed' ? `${CLAIMED}${id}${primary ? `;${instanceFingerprint(primary)}` : ''}` : id;

/** The marker read back: which request, claimed or handled, and the claimed primary's fingerprint. */
export function parseFailoverMark(value: string | undefined): { id: string; claimed: boolean; primary?: string } | undefined {
  if (!value) return undefined;
  if (!value.startsWith(CLAIMED)) return { id: value, claimed: false };
  const [id = '', primary] = value.slice(CLAIMED.length).split(';');
  return { id, claimed: true, ...(primary ? { primary } : {}) };
}

/**
 * What HA failover request `id` needs, from the server's tag (the decision) and this object's record of
 * it (which can only hold a restart back, never cause one the tag does not ask for):
 * - `handled`: nothing (the request ran, or was given up);
 * - `claim`: tag the server `requested:<id>` first (a write that says what comes next);
 * - `restart`: the server is claimed and the record says the restart was not sent yet: send it, unless
 *   another primary answers than at the claim (failover.ts: the restart may have been sent after all);
 * - `handle`: claimed, and the record says it ended: tag the server `<id>`;
 * - `unconfirmed`: claimed with no record of it (status lost between the claim and the end): whether the
 *   restart was sent is unknown, and a failover is never repeated on a guess; tag it handled and say so.
 */
export function failoverAction(tagValue: string | undefined, id: string, recordPhase: string | undefined): 'handled' | 'claim' | 'restart' | 'handle' | 'unconfirmed' {
  const tag = parseFailoverMark(tagValue);
  if (tag?.id !== id) return 'claim';
  if (!tag.claimed) return 'handled';
  if (recordPhase === 'Requested') return 'restart';
  return recordPhase === undefined ? 'unconfirmed' : 'handle';
}
