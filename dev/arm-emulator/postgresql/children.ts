// A flexible server's child resources: databases (the instance's real catalogue), firewallRules (stored),
// configurations (server parameters applied to the instance), administrators (Microsoft Entra; a role is
// created in the instance) and backups (automatic entries plus on-demand ones).
import { ArmError, armErrors } from '../framework/errors.js';
import type { Json } from '../framework/store.js';
import type { ArmRequest, ArmResponse, SchemaRef } from '../framework/types.js';
import { API_VERSIONS, SERVER_PATH, SERVER_TYPE, props, spec, type PostgresProviderState, type ServerRuntime } from './model.js';
import { PGAADAUTH_SQL, objectTypeOf } from './pgaadauth.js';
import { SERVER_PARAMETERS, checkParameterValue, documentationLink, findParameter, type ServerParameter } from './parameters.js';

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === 'object' ? (v as Obj) : {});
const SYSTEM_DATABASES = new Set(['template0', 'template1', 'azure_maintenance', 'azure_sys']);

function childNotFound(rt: ServerRuntime, type: string, name: string): ArmError {
  return armErrors.resourceNotFound(`${SERVER_TYPE}/${rt.name}/${type}`, name, rt.resourceGroup);
}

export function registerServerChildren(state: PostgresProviderState): void {
  const { ctx } = state;
  const route = (method: 'GET' | 'PUT' | 'PATCH' | 'DELETE', sub: string, resourceType: string, handler: (req: ArmRequest) => Promise<ArmResponse> | ArmResponse, requestSchema?: SchemaRef) =>
    ctx.router.add({ method, path: `${SERVER_PATH}${sub}`, apiVersions: API_VERSIONS, resourceType: `${SERVER_TYPE}/${resourceType}`, handler, ...(requestSchema ? { requestSchema } : {}) });

  // ---- databases: the instance's catalogue is the source of truth.
  const databaseDoc = (rt: ServerRuntime, name: string, charset: string, collation: string): Json => ({
    id: `${rt.id}/databases/${name}`,
    name,
    type: `${SERVER_TYPE}/databases`,
    properties: { charset, collation },
  });
  const readDatabases = async (rt: ServerRuntime, doc: Json): Promise<Json[]> => {
    const inst = state.requireReady(doc, rt);
    const rows = await state.instances.withSuperClient(inst, 'postgres', async (c) =>
      (await c.query<{ datname: string; charset: string; datcollate: string }>('SELECT datname, pg_encoding_to_char(encoding) AS charset, datcollate FROM pg_database ORDER BY datname')).rows,
    );
    return rows
      .filter((r) => !SYSTEM_DATABASES.has(r.datname))
      .map((r) => {
        const requested = ctx.store.get(`${rt.id}/databases/${r.datname}`);
        const collation = String(obj(requested?.properties).collation ?? r.datcollate);
        return databaseDoc(rt, r.datname, r.charset, collation);
      });
  };
  route('GET', '/databases', 'databases', async (req) => {
    const { doc, rt } = state.serverDoc(req);
    return { status: 200, body: { value: await readDatabases(rt, doc) } };
  });
  route('GET', '/databases/{databaseName}', 'databases', async (req) => {
    const { doc, rt } = state.serverDoc(req);
    const found = (await readDatabases(rt, doc)).find((d) => d.name === req.params.databaseName);
    if (!found) throw childNotFound(rt, 'databases', req.params.databaseName!);
    return { status: 200, body: found };
  });
  route(
    'PUT',
    '/databases/{databaseName}',
    'databases',
    (req) => {
      const { doc, rt } = state.serverDoc(req);
      const name = req.params.databaseName!;
      if (!/^[a-zA-Z_][\w$-]{0,62}$/.test(name) || SYSTEM_DATABASES.has(name.toLowerCase())) {
        throw armErrors.invalidParameter('databaseName', `The database name '${name}' is not valid or is reserved.`);
      }
      const p = obj(obj(req.body).properties);
      const charset = String(p.charset ?? 'UTF8');
      if (!/^utf-?8$/i.test(charset)) throw armErrors.invalidParameter('properties.charset', `Charset '${charset}' is not supported; use UTF8.`);
      state.assertNotBusy(rt);
      const inst = state.requireReady(doc, rt);
      const admin = String(props(doc).administratorLogin ?? '');
      return state.startOp(req, rt, doc, 'databases.create', async () => {
        await state.instances.withSuperClient(inst, 'postgres', async (c) => {
          const exists = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
          if (exists.rowCount === 0) {
            // Without a password administrator (Entra only) the database belongs to azure_pg_admin, so the
            // Entra administrators (its members) own it.
            const owner = ` OWNER ${c.escapeIdentifier(admin || 'azure_pg_admin')}`;
            await c.query(`CREATE DATABASE ${c.escapeIdentifier(name)}${owner} TEMPLATE template1 ENCODING 'UTF8'`);
          }
        });
        ctx.store.put(`${rt.id}/databases/${name}`, databaseDoc(rt, name, 'UTF8', String(p.collation ?? 'en_US.utf8')));
      });
    },
    spec('Databases.json', 'Database'),
  );
  route('DELETE', '/databases/{databaseName}', 'databases', async (req) => {
    const { doc, rt } = state.serverDoc(req);
    const name = req.params.databaseName!;
    const inst = state.requireReady(doc, rt);
    const exists = await state.instances.withSuperClient(inst, 'postgres', async (c) => (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount);
    if (!exists) return { status: 204 };
    state.assertNotBusy(rt);
    return state.startOp(req, rt, doc, 'databases.delete', async () => {
      await state.instances.withSuperClient(inst, 'postgres', async (c) => {
        await c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(name)} WITH (FORCE)`);
      });
      ctx.store.delete(`${rt.id}/databases/${name}`);
    });
  });

  // ---- firewallRules: stored (every emulated server is reachable on loopback).
  route('GET', '/firewallRules', 'firewallRules', (req) => {
    const { rt } = state.serverDoc(req);
    return { status: 200, body: { value: ctx.store.list(rt.id, 'firewallRules') } };
  });
  route('GET', '/firewallRules/{firewallRuleName}', 'firewallRules', (req) => {
    const { rt } = state.serverDoc(req);
    const d = ctx.store.get(`${rt.id}/firewallRules/${req.params.firewallRuleName}`);
    if (!d) throw childNotFound(rt, 'firewallRules', req.params.firewallRuleName!);
    return { status: 200, body: d };
  });
  route(
    'PUT',
    '/firewallRules/{firewallRuleName}',
    'firewallRules',
    (req) => {
      const { doc, rt } = state.serverDoc(req);
      const name = req.params.firewallRuleName!;
      if (!/^[-\w]{1,128}$/.test(name)) throw armErrors.invalidParameter('firewallRuleName', `The firewall rule name '${name}' is not valid.`);
      const p = obj(obj(req.body).properties);
      const ipNum = (ip: string) => ip.split('.').reduce((a, b) => a * 256 + Number(b), 0);
      if (ipNum(String(p.startIpAddress)) > ipNum(String(p.endIpAddress))) {
        throw armErrors.invalidParameter('properties.endIpAddress', 'The end IP address must be greater than or equal to the start IP address.');
      }
      state.assertNotBusy(rt);
      const id = `${rt.id}/firewallRules/${name}`;
      const existing = ctx.store.get(id);
      return state.startOp(req, rt, doc, 'firewallRules.createOrUpdate', () => {
        ctx.store.put(id, {
          id,
          name: existing?.name ?? name,
          type: `${SERVER_TYPE}/firewallRules`,
          properties: { startIpAddress: p.startIpAddress, endIpAddress: p.endIpAddress },
        });
      });
    },
    spec('FirewallRules.json', 'FirewallRule'),
  );
  route('DELETE', '/firewallRules/{firewallRuleName}', 'firewallRules', (req) => {
    const { doc, rt } = state.serverDoc(req);
    const id = `${rt.id}/firewallRules/${req.params.firewallRuleName}`;
    if (!ctx.store.has(id)) return { status: 204 };
    state.assertNotBusy(rt);
    return state.startOp(req, rt, doc, 'firewallRules.delete', () => {
      ctx.store.delete(id);
    });
  });

  // ---- configurations
  const configDoc = (rt: ServerRuntime, p: ServerParameter): Json => {
    const value = rt.params.get(p.name) ?? p.defaultValue;
    const pending = !p.isDynamicConfig && rt.startedWith.size > 0 && (rt.startedWith.get(p.name) ?? p.defaultValue) !== value;
    const properties: Obj = {
      value,
      description: p.description,
      defaultValue: p.defaultValue,
      dataType: p.dataType,
      allowedValues: p.allowedValues,
      source: rt.overridden.has(p.name) ? 'user-override' : 'system-default',
      isDynamicConfig: p.isDynamicConfig,
      isReadOnly: p.isReadOnly,
      isConfigPendingRestart: pending,
      documentationLink: documentationLink(p),
    };
    if (p.unit) properties.unit = p.unit;
    return { id: `${rt.id}/configurations/${p.name}`, name: p.name, type: `${SERVER_TYPE}/configurations`, properties };
  };
  route('GET', '/configurations', 'configurations', (req) => {
    const { rt } = state.serverDoc(req);
    return { status: 200, body: { value: SERVER_PARAMETERS.map((p) => configDoc(rt, p)) } };
  });
  route('GET', '/configurations/{configurationName}', 'configurations', (req) => {
    const { rt } = state.serverDoc(req);
    const p = findParameter(req.params.configurationName!);
    if (!p) throw childNotFound(rt, 'configurations', req.params.configurationName!);
    return { status: 200, body: configDoc(rt, p) };
  });
  const updateConfiguration = (req: ArmRequest): ArmResponse => {
    const { doc, rt } = state.serverDoc(req);
    const p = findParameter(req.params.configurationName!);
    if (!p) throw childNotFound(rt, 'configurations', req.params.configurationName!);
    const body = obj(obj(req.body).properties);
    const source = body.source === undefined ? 'user-override' : String(body.source);
    if (p.isReadOnly) throw armErrors.invalidParameter('properties.value', `The server parameter '${p.name}' is read-only.`);
    let value: string;
    if (source === 'system-default' && body.value === undefined) value = p.defaultValue;
    else {
      if (typeof body.value !== 'string') throw armErrors.invalidParameter('properties.value', `A value is required to update the server parameter '${p.name}'.`);
      const checked = checkParameterValue(p, body.value);
      if ('error' in checked) throw armErrors.invalidParameter('properties.value', checked.error);
      value = checked.value;
    }
    state.assertNotBusy(rt);
    if (props(doc).state !== 'Ready' && props(doc).state !== 'Stopped') state.requireReady(doc, rt);
    return state.startOp(req, rt, doc, 'configurations.update', async () => {
      rt.params.set(p.name, value);
      if (source === 'system-default' && value === p.defaultValue) rt.overridden.delete(p.name);
      else rt.overridden.add(p.name);
      if (p.applied) state.applySettings(rt);
      if (p.name.startsWith('pgbouncer.')) await state.syncPooler(rt, props(doc).state === 'Ready');
    });
  };
  route('PATCH', '/configurations/{configurationName}', 'configurations', updateConfiguration, spec('Configurations.json', 'ConfigurationForUpdate'));
  route('PUT', '/configurations/{configurationName}', 'configurations', updateConfiguration, spec('Configurations.json', 'ConfigurationForUpdate'));

  // ---- administrators (Microsoft Entra)
  route('GET', '/administrators', 'administrators', (req) => {
    const { rt } = state.serverDoc(req);
    return { status: 200, body: { value: ctx.store.list(rt.id, 'administrators') } };
  });
  route('GET', '/administrators/{objectId}', 'administrators', (req) => {
    const { rt } = state.serverDoc(req);
    const d = ctx.store.get(`${rt.id}/administrators/${req.params.objectId}`);
    if (!d) throw childNotFound(rt, 'administrators', req.params.objectId!);
    return { status: 200, body: d };
  });
  route(
    'PUT',
    '/administrators/{objectId}',
    'administrators',
    (req) => {
      const { doc, rt } = state.serverDoc(req);
      const objectId = req.params.objectId!;
      const p = obj(obj(req.body).properties);
      if (typeof p.principalName !== 'string' || !p.principalName) throw armErrors.invalidParameter('properties.principalName', 'principalName is required.');
      state.assertNotBusy(rt);
      const inst = state.requireReady(doc, rt);
      const id = `${rt.id}/administrators/${objectId}`;
      const principalName = p.principalName;
      return state.startOp(req, rt, doc, 'administrators.create', async () => {
        // Azure maps the principal to a role in azure_pg_admin: an Entra admin principal (pgaadauth.ts), which
        // logs in with a token when the server has Entra authentication (entra-auth.ts).
        if (rt.role === 'Primary') {
          await state.instances.withSuperClient(inst, 'postgres', async (c) => {
            await c.query(PGAADAUTH_SQL);
            const exists = await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [principalName]);
            if (exists.rowCount === 0) {
              await c.query('SELECT pg_catalog.pgaadauth_create_principal_with_oid($1, $2, $3, true, false)', [principalName, objectId, objectTypeOf(p.principalType)]);
            }
          });
        }
        const properties: Obj = { principalType: p.principalType ?? 'User', principalName, objectId };
        properties.tenantId = p.tenantId ?? obj(props(doc).authConfig).tenantId ?? '00000000-0000-0000-0000-000000000000';
        ctx.store.put(id, { id, name: objectId, type: `${SERVER_TYPE}/administrators`, properties });
      });
    },
    spec('AdministratorsMicrosoftEntra.json', 'AdministratorMicrosoftEntraAdd'),
  );
  route('DELETE', '/administrators/{objectId}', 'administrators', (req) => {
    const { doc, rt } = state.serverDoc(req);
    const id = `${rt.id}/administrators/${req.params.objectId}`;
    const admin = ctx.store.get(id);
    if (!admin) return { status: 204 };
    state.assertNotBusy(rt);
    const inst = state.requireReady(doc, rt);
    const principalName = String(obj(admin.properties).principalName);
    return state.startOp(req, rt, doc, 'administrators.delete', async () => {
      if (rt.role === 'Primary') {
        await state.instances.withSuperClient(inst, 'postgres', (c) => c.query(`DROP ROLE IF EXISTS ${c.escapeIdentifier(principalName)}`));
      }
      ctx.store.delete(id);
    });
  });

  // ---- backups: one automatic full backup per day since creation, plus on-demand ones.
  const automaticBackups = (rt: ServerRuntime, doc: Json): Json[] => {
    const retention = Number(obj(props(doc).backup).backupRetentionDays ?? 7);
    const out: Json[] = [];
    const first = Math.max(rt.createdAt.getTime(), Date.now() - retention * 86_400_000);
    for (let t = first; t <= Date.now(); t += 86_400_000) {
      const at = new Date(t);
      const name = `backup_${at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, '')}`;
      out.push({ id: `${rt.id}/backups/${name}`, name, type: `${SERVER_TYPE}/backups`, properties: { backupType: 'Full', completedTime: at.toISOString(), source: 'Automatic' } });
    }
    return out;
  };
  const allBackups = (rt: ServerRuntime, doc: Json) => [...automaticBackups(rt, doc), ...ctx.store.list(rt.id, 'backups')];
  route('GET', '/backups', 'backups', (req) => {
    const { doc, rt } = state.serverDoc(req);
    return { status: 200, body: { value: allBackups(rt, doc) } };
  });
  route('GET', '/backups/{backupName}', 'backups', (req) => {
    const { doc, rt } = state.serverDoc(req);
    const b = allBackups(rt, doc).find((x) => String(x.name).toLowerCase() === req.params.backupName!.toLowerCase());
    if (!b) throw childNotFound(rt, 'backups', req.params.backupName!);
    return { status: 200, body: b };
  });
  route('PUT', '/backups/{backupName}', 'backups', (req) => {
    const { doc, rt } = state.serverDoc(req);
    const name = req.params.backupName!;
    if (!/^[-\w]{1,128}$/.test(name)) throw armErrors.invalidParameter('backupName', `The backup name '${name}' is not valid.`);
    if (automaticBackups(rt, doc).some((b) => b.name === name) || ctx.store.has(`${rt.id}/backups/${name}`)) {
      throw new ArmError(409, 'BackupAlreadyExists', `A backup named '${name}' already exists on server '${rt.name}'.`);
    }
    state.assertNotBusy(rt);
    const inst = state.requireReady(doc, rt);
    const id = `${rt.id}/backups/${name}`;
    return state.startOp(req, rt, doc, 'backups.create', async () => {
      // An on-demand backup is a real base backup (base-backups.ts): restores can start from it.
      await state.instances.baseBackup(inst, Number(obj(props(doc).backup).backupRetentionDays ?? 7));
      ctx.store.put(id, { id, name, type: `${SERVER_TYPE}/backups`, properties: { backupType: 'Customer On-Demand', completedTime: new Date().toISOString(), source: 'Customer On-Demand' } });
    });
  });
  route('DELETE', '/backups/{backupName}', 'backups', (req) => {
    const { doc, rt } = state.serverDoc(req);
    const name = req.params.backupName!;
    const id = `${rt.id}/backups/${name}`;
    if (!ctx.store.has(id)) {
      if (automaticBackups(rt, doc).some((b) => b.name === name)) {
        throw armErrors.invalidParameter('backupName', `Automatic backup '${name}' cannot be deleted; only on-demand backups can.`);
      }
      return { status: 204 };
    }
    state.assertNotBusy(rt);
    return state.startOp(req, rt, doc, 'backups.delete', () => {
      ctx.store.delete(id);
    });
  });
}
