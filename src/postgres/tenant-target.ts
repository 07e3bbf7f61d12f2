// How any controller reaches a TenantDatabase's database as the server administrator (the Migration
// controller, the BackupPolicy drill, the TenantDatabase parts): the same rules everywhere, read from the
// object alone plus its Secrets, so no controller has to import another. External servers: the spec's
// host/port/sslMode, the admin Secret (username, password) and the CA Secret. Azure: the FQDN the server
// part recorded in status, port 5432, verify-full, the administrator login and its password Secret.
import type { DbTarget } from './connections.js';

/** The parts of a TenantDatabase this needs (a cached object or the parsed type both fit). */
export interface TenantDatabaseLike {
  metadata?: { name?: string; namespace?: string };
  spec?: {
    server?: {
      external?: {
        host?: string;
        port?: number;
        sslMode?: 'require' | 'verify-ca' | 'verify-full';
        caSecretRef?: { name: string; key?: string };
        adminSecretRef?: { name: string };
      };
      azure?: {
        administratorLogin?: string;
        administratorPasswordSecretRef?: { name: string; key?: string };
      };
    };
    database?: { name?: string };
    roles?: { owner?: string };
  };
  status?: { serverFQDN?: string };
}

export type AdminTargetResult = { ok: true; target: DbTarget; ownerRole: string } | { ok: false; reason: string; message: string };

export type SecretValueFn = (secretName: string, key: string) => string | undefined;

/** The administrator's target for the object's database, or why it cannot be built (reason for a condition). */
export function adminTargetForTenantDatabase(td: TenantDatabaseLike, secretValue: SecretValueFn): AdminTargetResult {
  const spec = td.spec;
  const database = spec?.database?.name;
  const ownerRole = spec?.roles?.owner;
  if (!database || !ownerRole) return { ok: false, reason: 'InvalidSpec', message: 'the TenantDatabase names no database or owner role' };
  const ext = spec?.server?.external;
  const az = spec?.server?.azure;
  if (ext) {
    if (!ext.host) return { ok: false, reason: 'InvalidSpec', message: 'spec.server.external.host is not set' };
    const adminSecret = ext.adminSecretRef?.name;
    if (!adminSecret) return { ok: false, reason: 'InvalidSpec', message: 'spec.server.external.adminSecretRef is not set' };
    const user = secretValue(adminSecret, 'username');
    const password = secretValue(adminSecret, 'password');
    if (user === undefined || password === undefined) {
      return { ok: false, reason: 'AdminSecretMissing', message: `Secret ${adminSecret} (spec.server.external.adminSecretRef) is missing or lacks the keys username and password` };
    }
    let caPem: string | undefined;
    if (ext.caSecretRef) {
      const key = ext.caSecretRef.key ?? 'ca.crt';
      caPem = secretValue(ext.caSecretRef.name, key);
      if (caPem === undefined) return { ok: false, reason: 'CASecretMissing', message: `Secret ${ext.caSecretRef.name} (spec.server.external.caSecretRef) is missing or lacks the key ${key}` };
    }
    return {
      ok: true,
      ownerRole,
      target: { host: ext.host, port: ext.port ?? 5432, sslMode: ext.sslMode ?? 'verify-full', ...(caPem !== undefined ? { caPem } : {}), user, password, database },
    };
  }
  if (az) {
    const host = td.status?.serverFQDN;
    if (!host) return { ok: false, reason: 'ServerNotReady', message: 'the server has no fully qualified domain name in status yet' };
    const user = az.administratorLogin;
    const ref = az.administratorPasswordSecretRef;
    if (!user || !ref) return { ok: false, reason: 'NoAdministratorLogin', message: 'spec.server.azure has no administratorLogin/administratorPasswordSecretRef (password authentication is needed to connect)' };
    const key = ref.key ?? 'password';
    const password = secretValue(ref.name, key);
    if (password === undefined) return { ok: false, reason: 'AdminSecretMissing', message: `Secret ${ref.name} (spec.server.azure.administratorPasswordSecretRef) is missing or lacks the key ${key}` };
    return { ok: true, ownerRole, target: { host, port: 5432, sslMode: 'verify-full', user, password, database } };
  }
  return { ok: false, reason: 'InvalidSpec', message: 'spec.server names neither azure nor external' };
}
