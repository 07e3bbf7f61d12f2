// Microsoft.DBforPostgreSQL/flexibleServers: create (Create, PointInTimeRestore, GeoRestore, Replica), update (PUT on an
// existing server, PATCH), get, list, delete, restart/start/stop and the replicas list. Every write is a
// long-running operation that drives the server's real PostgreSQL instance.
import path from 'node:path';
import { ArmError, armErrors } from '../framework/errors.js';
import type { Json } from '../framework/store.js';
import type { ArmRequest, ArmResponse } from '../framework/types.js';
import type { InstanceRecord } from './instances.js';
import { earliestRestorePoint } from './base-backups.js';
import { checkGeoRestore } from './geo-restore.js';
import { failOver, failoverOf, failoverTarget, standbyOf, syncStandby } from './ha.js';
import { plannedTarget, promoteReplica, promotionOf, switchover } from './promotion.js';
import { assertAuthConfig, authConfigOf, binDirForNewServer } from './entra-auth.js';
import { API_VERSIONS, NAMESPACE, SERVER_PATH, SERVER_TYPE, props, serverId, spec, type PostgresProviderState, type ServerRuntime } from './model.js';

const SERVER_NAME = /^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$/;
const RESERVED_LOGINS = new Set(['azure_superuser', 'azure_pg_admin', 'admin', 'administrator', 'root', 'guest', 'public', 'azuresu', 'replication', 'postgres']);
const VERSIONS = ['11', '12', '13', '14', '15', '16', '17', '18'];
const PARSED_ID = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.DBforPostgreSQL\/flexibleServers\/([^/]+)$/i;

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === 'object' ? (v as Obj) : {});

const engine = (binDir: string | undefined) => (binDir ? { binDir } : {});

function immutable(target: string, what: string): ArmError {
  return new ArmError(400, 'PropertyChangeNotAllowed', `Changing property '${what}' is not allowed after the server is created.`, target);
}

/** The running instance of a server that restart or stop may act on; Azure's 409 otherwise. */
function startedInstance(doc: Json, rt: ServerRuntime): InstanceRecord {
  const inst = rt.instance;
  if (props(doc).state !== 'Ready' || !inst) {
    throw new ArmError(409, 'ServerIsNotReady', `Restart or Stop Server can only be performed on Started servers. Sever Name = ${rt.name}, Current Server State = ${String(props(doc).state)}`);
  }
  return inst;
}

/** Server document as GET returns it; the administrator password is never echoed back. */
function view(state: PostgresProviderState, doc: Json): Json {
  const out = structuredClone(doc);
  const p = props(out);
  const rt = state.runtime(String(doc.id));
  const backup = obj(p.backup);
  if (rt && p.state !== 'Provisioning') {
    const retention = Number(backup.backupRetentionDays ?? 7);
    // The end of the oldest base backup kept (base-backups.ts); servers without one (replicas) as before.
    const kept = earliestRestorePoint(rt.dir);
    const earliest = kept ? kept.getTime() : Math.max(rt.createdAt.getTime(), Date.now() - retention * 86_400_000);
    p.backup = { ...backup, earliestRestoreDate: new Date(earliest).toISOString() };
  }
  return out;
}

function newServerDoc(req: ArmRequest, rt: ServerRuntime, body: Obj, source?: Json): Json {
  const p = obj(body.properties);
  const sp = source ? props(source) : {};
  const sku = obj(body.sku ?? source?.sku);
  const storage = { storageSizeGB: 128, autoGrow: 'Disabled', tier: 'P10', iops: 500, type: 'Premium_LRS', ...obj(sp.storage), ...obj(p.storage) };
  const backup = { backupRetentionDays: 7, geoRedundantBackup: 'Disabled', ...obj(sp.backup), ...obj(p.backup) };
  delete (backup as Obj).earliestRestoreDate;
  const ha = obj(p.highAvailability);
  const doc: Json = {
    id: rt.id,
    name: rt.name,
    type: SERVER_TYPE,
    location: String(body.location).replace(/\s+/g, '').toLowerCase(),
    sku: { name: String(sku.name ?? 'Standard_D2ds_v5'), tier: String(sku.tier ?? 'GeneralPurpose') },
    properties: {
      administratorLogin: p.administratorLogin ?? sp.administratorLogin,
      version: String(p.version ?? sp.version ?? '17'),
      minorVersion: '0',
      state: 'Provisioning',
      fullyQualifiedDomainName: rt.fqdn,
      storage,
      authConfig: { activeDirectoryAuth: 'Disabled', passwordAuth: 'Enabled', ...obj(sp.authConfig), ...obj(p.authConfig) },
      dataEncryption: { type: 'SystemManaged', ...obj(p.dataEncryption) },
      backup,
      network: { publicNetworkAccess: 'Enabled', ...obj(p.network) },
      highAvailability: { mode: String(ha.mode ?? 'Disabled'), state: ha.mode && ha.mode !== 'Disabled' ? 'Healthy' : 'NotEnabled', ...(ha.standbyAvailabilityZone ? { standbyAvailabilityZone: ha.standbyAvailabilityZone } : {}) },
      maintenanceWindow: { customWindow: 'Disabled', dayOfWeek: 0, startHour: 0, startMinute: 0, ...obj(p.maintenanceWindow) },
      availabilityZone: String(p.availabilityZone ?? '1'),
      replicationRole: 'Primary',
      replicaCapacity: 5,
      replica: { role: 'Primary', capacity: 5 },
    },
  };
  if (body.tags) doc.tags = body.tags;
  if (body.identity) doc.identity = body.identity;
  if (typeof p.sourceServerResourceId === 'string') props(doc).sourceServerResourceId = p.sourceServerResourceId;
  if (req.method === 'PUT' && (doc.properties as Obj).administratorLogin === undefined) delete (doc.properties as Obj).administratorLogin;
  return doc;
}

/** Checks an update (PUT on an existing server or PATCH) against what Azure refuses to change. */
function checkUpdate(current: Json, body: Obj, isPut: boolean): void {
  const cp = props(current);
  const p = obj(body.properties);
  if (isPut && body.location && String(body.location).replace(/\s+/g, '').toLowerCase() !== String(current.location)) {
    throw new ArmError(
      400,
      'InvalidResourceLocation',
      `The resource '${String(current.name)}' already exists in location '${String(current.location)}' in resource group. A resource with the same name cannot be created in location '${String(body.location)}'. Please select a new resource name.`,
    );
  }
  if (p.administratorLogin !== undefined && p.administratorLogin !== cp.administratorLogin) throw immutable('properties.administratorLogin', 'administratorLogin');
  const geo = obj(p.backup).geoRedundantBackup;
  if (geo !== undefined && geo !== obj(cp.backup).geoRedundantBackup) throw immutable('properties.backup.geoRedundantBackup', 'backup.geoRedundantBackup');
  if (p.version !== undefined && Number(p.version) < Number(cp.version)) {
    throw new ArmError(400, 'PropertyChangeNotAllowed', `Downgrading the major version from '${String(cp.version)}' to '${String(p.version)}' is not supported.`, 'properties.version');
  }
  const size = obj(p.storage).storageSizeGB;
  if (size !== undefined && Number(size) < Number(obj(cp.storage).storageSizeGB)) {
    throw new ArmError(400, 'PropertyChangeNotAllowed', `Decreasing the storage size from ${String(obj(cp.storage).storageSizeGB)} GB to ${String(size)} GB is not supported.`, 'properties.storage.storageSizeGB');
  }
  // A declarative client re-PUTs the body it created the server with: the same createMode and source are an
  // update, not a new restore or replica.
  const mode = p.createMode === undefined ? undefined : String(p.createMode);
  const sameSource = typeof p.sourceServerResourceId === 'string' && p.sourceServerResourceId.toLowerCase() === String(cp.sourceServerResourceId ?? '').toLowerCase();
  if (mode !== undefined && !['Update', 'Default', 'Create'].includes(mode) && !(['PointInTimeRestore', 'GeoRestore', 'Replica'].includes(mode) && sameSource)) {
    throw new ArmError(400, 'InvalidParameterValue', `createMode '${mode}' is not valid for an existing server.`, 'properties.createMode');
  }
  if (p.sourceServerResourceId !== undefined && !sameSource) throw immutable('properties.sourceServerResourceId', 'sourceServerResourceId');
  const retention = obj(p.backup).backupRetentionDays;
  if (retention !== undefined && (Number(retention) < 7 || Number(retention) > 35)) {
    throw new ArmError(400, 'InvalidParameterValue', `backupRetentionDays must be between 7 and 35, got ${String(retention)}.`, 'properties.backup.backupRetentionDays');
  }
}

/** Applies an accepted update to the stored document (what Azure shows once the update finished). */
function applyUpdate(doc: Json, body: Obj): void {
  const p = obj(body.properties);
  const dp = props(doc);
  if (body.sku) doc.sku = { ...obj(doc.sku), ...obj(body.sku) };
  if (body.tags) doc.tags = body.tags;
  if (body.identity) doc.identity = body.identity;
  if (p.version !== undefined) dp.version = String(p.version);
  for (const k of ['storage', 'authConfig', 'network', 'maintenanceWindow', 'dataEncryption'] as const) {
    if (p[k] !== undefined) dp[k] = { ...obj(dp[k]), ...obj(p[k]) };
  }
  if (p.backup !== undefined) {
    const b = { ...obj(p.backup) };
    delete b.earliestRestoreDate;
    dp.backup = { ...obj(dp.backup), ...b };
  }
  if (p.highAvailability !== undefined) {
    const ha = { ...obj(dp.highAvailability), ...obj(p.highAvailability) };
    ha.state = ha.mode && ha.mode !== 'Disabled' ? 'Healthy' : 'NotEnabled';
    dp.highAvailability = ha;
  }
  if (p.availabilityZone !== undefined) dp.availabilityZone = p.availabilityZone;
}

export function registerServers(state: PostgresProviderState): void {
  const { ctx } = state;
  const route = (method: 'GET' | 'PUT' | 'PATCH' | 'POST' | 'DELETE', path: string, handler: (req: ArmRequest) => Promise<ArmResponse> | ArmResponse, requestSchema?: ReturnType<typeof spec>) =>
    ctx.router.add({ method, path, apiVersions: API_VERSIONS, resourceType: SERVER_TYPE, handler, ...(requestSchema ? { requestSchema } : {}) });

  route('GET', SERVER_PATH, (req) => ({ status: 200, body: view(state, state.serverDoc(req).doc) }));

  route('GET', '/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.DBforPostgreSQL/flexibleServers', (req) => {
    const { subscriptionId, resourceGroupName } = req.params as Record<string, string>;
    ctx.requireResourceGroup(subscriptionId!, resourceGroupName!);
    const prefix = `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroupName}/providers/${NAMESPACE}`;
    return { status: 200, body: { value: ctx.store.list(prefix, 'flexibleServers').map((d) => view(state, d)) } };
  });

  route('GET', '/subscriptions/{subscriptionId}/providers/Microsoft.DBforPostgreSQL/flexibleServers', (req) => {
    const sub = req.params.subscriptionId!.toLowerCase().replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const docs = ctx.store.find(new RegExp(`^/subscriptions/${sub}/resourcegroups/[^/]+/providers/microsoft\\.dbforpostgresql/flexibleservers/[^/]+$`));
    return { status: 200, body: { value: docs.map((d) => view(state, d)) } };
  });

  route('GET', `${SERVER_PATH}/replicas`, (req) => {
    const { rt } = state.serverDoc(req);
    const docs = ctx.store
      .find(/\/providers\/microsoft\.dbforpostgresql\/flexibleservers\/[^/]+$/)
      .filter((d) => String(props(d).sourceServerResourceId ?? '').toLowerCase() === rt.id.toLowerCase() && props(d).replicationRole === 'AsyncReplica');
    return { status: 200, body: { value: docs.map((d) => view(state, d)) } };
  });

  route('PUT', SERVER_PATH, (req) => putServer(state, req), spec('Servers.json', 'Server'));
  route('PATCH', SERVER_PATH, (req) => updateServer(state, req, false), spec('Servers.json', 'ServerForPatch'));

  route('DELETE', SERVER_PATH, (req) => {
    const { subscriptionId, resourceGroupName, serverName } = req.params as Record<string, string>;
    ctx.requireResourceGroup(subscriptionId!, resourceGroupName!);
    const id = serverId(subscriptionId!, resourceGroupName!, serverName!);
    const doc = ctx.store.get(id);
    const rt = state.runtime(id);
    if (!doc || !rt) return { status: 204 };
    state.assertNotBusy(rt);
    const before = props(doc).state;
    props(doc).state = 'Dropping';
    return state.startOp(
      req,
      rt,
      doc,
      'servers.delete',
      async () => {
        await state.poolers.stop(rt.id);
        const standby = standbyOf(state, rt);
        if (standby) await state.instances.destroy(standby.key, path.dirname(standby.dataDir));
        await state.instances.destroy(rt.id, rt.dir);
        rt.instance = undefined;
        ctx.store.deleteTree(rt.id);
        state.runtimes.delete(rt.id.toLowerCase());
        // Its virtual endpoints went with it (or now point elsewhere in their set).
        await state.instances.refreshAliases();
      },
      () => {
        props(doc).state = before;
      },
    );
  });

  route('POST', `${SERVER_PATH}/restart`, async (req) => {
    const { doc, rt } = state.serverDoc(req);
    state.assertNotBusy(rt);
    const inst = startedInstance(doc, rt);
    // restartWithFailover (HA servers, ha.ts): Planned fixes now what the standby must replay before promotion.
    const failover = failoverOf(obj(req.body), doc, rt.name);
    const target = failover ? await failoverTarget(state, rt, failover) : undefined;
    props(doc).state = 'Restarting';
    return state.startOp(
      req,
      rt,
      doc,
      'servers.restart',
      async () => {
        if (failover) await failOver(state, rt, doc, target);
        else await inst.server.restart();
        state.markStarted(rt);
        props(doc).state = 'Ready';
      },
      () => {
        props(doc).state = 'Ready';
      },
    );
  }, spec('Servers.json', 'RestartParameter'));

  route('POST', `${SERVER_PATH}/stop`, (req) => {
    const { doc, rt } = state.serverDoc(req);
    state.assertNotBusy(rt);
    const inst = startedInstance(doc, rt);
    props(doc).state = 'Stopping';
    return state.startOp(
      req,
      rt,
      doc,
      'servers.stop',
      async () => {
        await state.poolers.stop(rt.id);
        await standbyOf(state, rt)?.server.stop();
        await inst.server.stop();
        props(doc).state = 'Stopped';
      },
      () => {
        props(doc).state = 'Ready';
      },
    );
  });

  route('POST', `${SERVER_PATH}/start`, (req) => {
    const { doc, rt } = state.serverDoc(req);
    state.assertNotBusy(rt);
    const inst = rt.instance;
    if (props(doc).state !== 'Stopped' || !inst) {
      throw new ArmError(409, 'ServerIsNotStopped', `Start Server can only be performed on Stopped servers. Sever Name = ${rt.name}, Current Server State = ${String(props(doc).state)}`);
    }
    props(doc).state = 'Starting';
    return state.startOp(
      req,
      rt,
      doc,
      'servers.start',
      async () => {
        await inst.server.start();
        await standbyOf(state, rt)?.server.start();
        state.markStarted(rt);
        props(doc).state = 'Ready';
        await state.syncPooler(rt, true);
      },
      () => {
        props(doc).state = 'Stopped';
      },
    );
  });
}

async function putServer(state: PostgresProviderState, req: ArmRequest): Promise<ArmResponse> {
  const { ctx } = state;
  const { subscriptionId, resourceGroupName, serverName } = req.params as Record<string, string>;
  ctx.requireResourceGroup(subscriptionId!, resourceGroupName!);
  const id = serverId(subscriptionId!, resourceGroupName!, serverName!);
  if (ctx.store.get(id)) return updateServer(state, req, true);

  const body = obj(req.body);
  const p = obj(body.properties);
  if (!SERVER_NAME.test(serverName!)) {
    throw new ArmError(400, 'InvalidParameterValue', `Server name '${serverName}' is invalid: use 3 to 63 lowercase letters, digits and hyphens, not starting or ending with a hyphen.`, 'serverName');
  }
  const taken = ctx.store.find(new RegExp(`/providers/microsoft\\.dbforpostgresql/flexibleservers/${serverName!.toLowerCase()}$`));
  if (taken.length > 0) throw new ArmError(409, 'ServerNameAlreadyExists', `Specified server name '${serverName}' is already used. Please use a different name and try again.`, 'serverName');

  const mode = String(p.createMode ?? 'Create');
  if (p.version !== undefined && !VERSIONS.includes(String(p.version))) {
    throw armErrors.invalidParameter('properties.version', `The version '${String(p.version)}' is not supported.`);
  }
  let source: { doc: Json; rt: ServerRuntime } | undefined;
  // Azure: a server with password authentication disabled (Microsoft Entra only) needs no administrator login.
  const entraOnly = obj(p.authConfig).passwordAuth === 'Disabled' && p.administratorLogin === undefined && p.administratorLoginPassword === undefined;
  if ((mode === 'Create' || mode === 'Default') && !entraOnly) {
    const login = p.administratorLogin;
    const password = p.administratorLoginPassword;
    if (typeof login !== 'string' || !login) throw armErrors.invalidParameter('properties.administratorLogin', "The property 'administratorLogin' is required to create a server.");
    if (typeof password !== 'string' || !password) {
      throw armErrors.invalidParameter('properties.administratorLoginPassword', "The property 'administratorLoginPassword' is required to create a server.");
    }
    if (!/^[a-zA-Z_][a-zA-Z0-9_]{0,62}$/.test(login) || RESERVED_LOGINS.has(login.toLowerCase()) || login.toLowerCase().startsWith('pg_')) {
      throw armErrors.invalidParameter('properties.administratorLogin', `The administrator login '${login}' is not valid or is reserved.`);
    }
    if (password.length < 8 || password.length > 128) {
      throw armErrors.invalidParameter('properties.administratorLoginPassword', 'The password must be between 8 and 128 characters long.');
    }
  } else if (mode === 'Create' || mode === 'Default') {
    // Entra only: checked with the rest of the auth config below.
  } else if (mode === 'PointInTimeRestore' || mode === 'GeoRestore' || mode === 'Replica') {
    const sourceId = p.sourceServerResourceId;
    if (typeof sourceId !== 'string' || !PARSED_ID.test(sourceId)) {
      throw armErrors.invalidParameter('properties.sourceServerResourceId', `createMode '${mode}' needs 'sourceServerResourceId' naming an existing flexible server.`);
    }
    const m = PARSED_ID.exec(sourceId)!;
    const srcId = serverId(m[1]!, m[2]!, m[3]!);
    const sdoc = ctx.store.get(srcId);
    const srt = state.runtime(srcId);
    if (!sdoc || !srt) throw new ArmError(404, 'SourceServerNotFound', `The source server '${m[3]}' could not be found.`, 'properties.sourceServerResourceId');
    if (props(sdoc).state !== 'Ready' || !srt.instance) {
      throw new ArmError(409, 'ServerIsNotReady', `The source server '${m[3]}' must be Ready; current state is ${String(props(sdoc).state)}.`);
    }
    if (mode === 'Replica' && srt.role !== 'Primary') throw armErrors.invalidParameter('properties.sourceServerResourceId', 'A replica cannot be created from another replica.');
    if (mode === 'GeoRestore') {
      checkGeoRestore({ sourceName: m[3]!, sourceLocation: String(sdoc.location), geoRedundantBackup: obj(props(sdoc).backup).geoRedundantBackup, targetLocation: String(body.location ?? '') });
    }
    if (mode === 'PointInTimeRestore' || mode === 'GeoRestore') {
      if (typeof p.pointInTimeUTC !== 'string') throw armErrors.invalidParameter('properties.pointInTimeUTC', `createMode '${mode}' needs 'pointInTimeUTC'.`);
      const t = Date.parse(p.pointInTimeUTC);
      const earliest = String(obj(props(view(state, sdoc)).backup).earliestRestoreDate);
      if (Number.isNaN(t) || t < Date.parse(earliest) - 1000 || t > Date.now() + 60_000) {
        throw armErrors.invalidParameter('properties.pointInTimeUTC', `The restore point '${p.pointInTimeUTC}' must be between the earliest restore date '${earliest}' and now.`);
      }
    }
    source = { doc: sdoc, rt: srt };
  } else {
    throw armErrors.invalidParameter('properties.createMode', `createMode '${mode}' is not supported for a new server.`);
  }

  const rt = state.newRuntime(subscriptionId!, resourceGroupName!, serverName!, source ? new Map(source.rt.params) : undefined, source?.rt.overridden);
  const doc = newServerDoc(req, rt, body, source?.doc);
  try {
    assertAuthConfig(doc, source?.rt.instance?.server.opts.binDir, !source);
  } catch (err) {
    state.runtimes.delete(id.toLowerCase());
    throw err;
  }
  if (source) {
    props(doc).sourceServerResourceId = source.rt.id;
    if (mode === 'Replica') {
      rt.role = 'AsyncReplica';
      Object.assign(props(doc), { replicationRole: 'AsyncReplica', replicaCapacity: 0, replica: { role: 'AsyncReplica', capacity: 0, replicationState: 'Provisioning' } });
    }
  }
  ctx.store.put(id, doc);
  const adminPassword = String(p.administratorLoginPassword ?? '');
  return state.startOp(
    req,
    rt,
    doc,
    'servers.create',
    async () => {
      if (!state.backed) {
        rt.createdAt = new Date();
        state.markStarted(rt);
        props(doc).minorVersion = '0';
        props(doc).state = 'Ready';
        return;
      }
      if (!source) {
        rt.instance = await state.instances.create({
          key: rt.id,
          fqdn: rt.fqdn,
          dir: rt.dir,
          ...(props(doc).administratorLogin !== undefined ? { adminLogin: String(props(doc).administratorLogin), adminPassword } : {}),
          ...engine(binDirForNewServer(doc)),
          settings: state.settingsFor(rt),
          retentionDays: Number(obj(props(doc).backup).backupRetentionDays ?? 7),
        });
      } else {
        if (!source.rt.instance) throw new ArmError(409, 'ServerIsNotReady', 'The source server is not running.');
        rt.instance = await state.instances.createFromSource({
          key: rt.id,
          fqdn: rt.fqdn,
          dir: rt.dir,
          source: source.rt.instance,
          settings: state.settingsFor(rt),
          replica: mode === 'Replica',
          // PointInTimeRestore replays the archive to the requested time; GeoRestore replays the geo copy
          // (only what the source has archived) up to that time, so the newest writes are lost.
          ...(mode === 'Replica' ? {} : { pointInTime: typeof p.pointInTimeUTC === 'string' ? new Date(p.pointInTimeUTC) : new Date() }),
          ...(mode === 'GeoRestore' ? { archivedOnly: true } : {}),
          retentionDays: Number(obj(props(doc).backup).backupRetentionDays ?? 7),
        });
        if (mode === 'Replica') obj(props(doc).replica).replicationState = 'Active';
      }
      // A zone-redundant / same-zone HA server gets its real standby (ha.ts); replicas have no HA.
      if (mode !== 'Replica') await syncStandby(state, rt, doc);
      rt.createdAt = new Date();
      state.markStarted(rt);
      props(doc).minorVersion = await state.instances.minorVersion(rt.instance);
      props(doc).state = 'Ready';
    },
    async () => {
      await state.instances.destroy(rt.id, rt.dir).catch(() => {});
      ctx.store.delete(id);
      state.runtimes.delete(id.toLowerCase());
    },
  );
}

async function updateServer(state: PostgresProviderState, req: ArmRequest, isPut: boolean): Promise<ArmResponse> {
  const { doc, rt } = state.serverDoc(req);
  state.assertNotBusy(rt);
  const body = obj(req.body);
  checkUpdate(doc, body, isPut);
  if (props(doc).state !== 'Ready') {
    throw new ArmError(409, 'ServerIsNotReady', `Server '${rt.name}' cannot be updated in state ${String(props(doc).state)}.`);
  }
  const p = obj(body.properties);
  if (p.authConfig !== undefined) {
    const merged = { properties: { authConfig: { ...obj(props(doc).authConfig), ...obj(p.authConfig) } } };
    if (authConfigOf(merged).entra !== authConfigOf(doc).entra || authConfigOf(merged).password !== authConfigOf(doc).password) assertAuthConfig(merged, rt.instance?.server.opts.binDir, false);
  }
  const newPassword = typeof p.administratorLoginPassword === 'string' ? p.administratorLoginPassword : undefined;
  const promote = promotionOf(obj(p.replica), rt.name, rt.role);
  if (newPassword !== undefined && rt.role === 'AsyncReplica') {
    throw armErrors.invalidParameter('properties.administratorLoginPassword', 'The administrator password of a replica follows its source server.');
  }
  const inst = rt.instance;
  const old = promote?.mode === 'Switchover' ? switchoverSource(state, rt, doc) : undefined;
  // Planned standalone: the source's position now is what the replica must have replayed before it is promoted.
  const target = promote?.mode === 'Standalone' && promote.option === 'Planned' && inst ? await plannedTarget(state.instances, inst) : undefined;
  props(doc).state = 'Updating';
  if (promote) obj(props(doc).replica).replicationState = 'Updating';
  const oldState = old ? props(old.doc).state : undefined;
  if (old) props(old.doc).state = 'Updating';
  return state.startOp(
    req,
    rt,
    doc,
    'servers.update',
    async () => {
      if (promote && inst) {
        // Standalone: replication stops and the replica becomes a primary. Switchover: the old primary
        // then becomes a streaming replica of it.
        if (old) await switchRoles(state, rt, old, promote.option, oldState);
        else await promoteReplica(state.instances, inst, target);
        rt.role = 'Primary';
        Object.assign(props(doc), { replicationRole: 'Primary', replicaCapacity: 5, replica: { role: 'Primary', capacity: 5 } });
        delete props(doc).sourceServerResourceId;
        // Virtual endpoints follow the roles: the writer name now resolves to the new primary.
        await state.instances.refreshAliases();
      }
      if (newPassword !== undefined && inst) {
        const login = String(props(doc).administratorLogin);
        await state.instances.withSuperClient(inst, 'postgres', async (c) => {
          await c.query("SET log_statement = 'none'");
          await c.query(`ALTER ROLE ${c.escapeIdentifier(login)} PASSWORD ${c.escapeLiteral(newPassword)}`);
        });
      }
      applyUpdate(doc, body);
      if (p.highAvailability !== undefined && rt.role === 'Primary') await syncStandby(state, rt, doc);
      // passwordAuth / activeDirectoryAuth take effect in the server's pg_hba.conf at once.
      if (p.authConfig !== undefined && inst) state.instances.refreshHba(inst);
      props(doc).state = 'Ready';
    },
    () => {
      props(doc).state = 'Ready';
      if (old) props(old.doc).state = oldState;
      if (promote && rt.role === 'AsyncReplica') obj(props(doc).replica).replicationState = 'Active';
    },
  );
}

type Server = { doc: Json; rt: ServerRuntime };

/** The primary a switchover demotes; refused when it is busy or has other replicas (not modelled). */
function switchoverSource(state: PostgresProviderState, rt: ServerRuntime, doc: Json): Server {
  const srcId = String(props(doc).sourceServerResourceId ?? '');
  const sdoc = state.ctx.store.get(srcId);
  const srt = state.runtime(srcId);
  if (!sdoc || !srt) throw new ArmError(409, 'SourceServerNotFound', `The primary server of replica '${rt.name}' no longer exists; use promoteMode Standalone.`);
  state.assertNotBusy(srt);
  const others = [...state.runtimes.values()].filter((r) => r.id !== rt.id && r.role === 'AsyncReplica' && String(props(state.ctx.store.get(r.id) ?? {}).sourceServerResourceId ?? '').toLowerCase() === srcId.toLowerCase());
  if (others.length) {
    throw armErrors.invalidParameter('properties.replica.promoteMode', `Switchover of a primary with other replicas (${others.map((r) => r.name).join(', ')}) is not supported by the emulator; use Standalone.`);
  }
  return { doc: sdoc, rt: srt };
}

/** Runs the switchover and records the old primary as a replica of `rt` (when it was running to be demoted). */
async function switchRoles(state: PostgresProviderState, rt: ServerRuntime, old: Server, option: 'Planned' | 'Forced', oldState: unknown): Promise<void> {
  const demoted = await switchover(state.instances, rt.instance!, old.rt.instance, option, state.settingsFor(old.rt));
  // Not running (Forced with the primary down): left as it was.
  props(old.doc).state = demoted ? 'Ready' : oldState;
  if (!demoted) return;
  old.rt.instance = demoted;
  old.rt.role = 'AsyncReplica';
  Object.assign(props(old.doc), {
    sourceServerResourceId: rt.id,
    replicationRole: 'AsyncReplica',
    replicaCapacity: 0,
    replica: { role: 'AsyncReplica', capacity: 0, replicationState: 'Active' },
  });
  state.markStarted(old.rt);
  await state.syncPooler(old.rt, true);
}
