// The Secrets the Azure part reads: the ARM credentials (clients for the object's subscription) and the
// administrator password, generated into its Secret when that does not exist. Values never leave
// memory except into the ARM request that sets the password.
import type { AzureServerSpec } from '../../../src/api/tenantdatabase.js';
import type { AzureClients } from '../../../src/azure/clients.js';
import { CredentialSecretError } from '../../../src/azure/credentials.js';
import { azureClientsFor } from '../../../src/azure/provider.js';
import { generatePassword } from '../../../src/postgres/database/scram.js';
import { isConflict } from '../../../src/runtime/kubeclient.js';
import { decodeSecret } from '../../../src/runtime/reconcile-kit.js';
import { SECRETS, type PartCondition, type ServerOutcome, type TenantDatabaseContext } from '../context.js';
import { ownerValue } from './desired.js';
import { cond, outcome, type AdminPassword, type Pass } from './pass.js';

/**
 * Set on an administrator password Secret the operator generated. Informational only: a tenant can set
 * it on a Secret of their own, so nothing decides by it (whether a password is applied to a server
 * depends on who created the server and on spec.server.azure.manageAdministratorPassword).
 */
export const GENERATED_ANNOTATION = 'tenantdb.io/generated-password';
/** Length of a generated administrator password (Azure accepts 8-128). */
export const ADMIN_PASSWORD_LENGTH = 32;

export interface Credentials {
  clients?: AzureClients;
  problem?: PartCondition;
}

export function clientsFor(ctx: TenantDatabaseContext, az: AzureServerSpec): Credentials {
  let data: Record<string, string> | undefined;
  if (az.credentialsSecretRef) {
    data = decodeSecret(ctx.secret(az.credentialsSecretRef.name));
    if (!data) return { problem: cond(false, 'SecretNotFound', `credentials Secret ${az.credentialsSecretRef.name} not found in namespace ${ctx.namespace}`, false) };
  }
  try {
    return { clients: azureClientsFor(ctx.settings.azure, { subscriptionId: az.subscriptionId, ...(data ? { credentialsSecretData: data } : {}) }) };
  } catch (err) {
    if (err instanceof CredentialSecretError) return { problem: cond(false, 'InvalidCredentialsSecret', `${az.credentialsSecretRef?.name}: ${err.message}`, true) };
    throw err;
  }
}

/** Creates the generated password's Secret (no owner reference: with deletionPolicy Retain the server outlives the object, so must its password). */
async function createPasswordSecret(ctx: TenantDatabaseContext, ref: { name: string; key: string }): Promise<void> {
  try {
    await ctx.mgr.client.create(SECRETS, ctx.namespace, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: ref.name,
        namespace: ctx.namespace,
        labels: { 'app.kubernetes.io/managed-by': 'tenantdb-operator' },
        annotations: { [GENERATED_ANNOTATION]: 'true', 'tenantdb.io/for': ownerValue(ctx.namespace, ctx.name) },
      },
      type: 'Opaque',
      stringData: { [ref.key]: generatePassword(ADMIN_PASSWORD_LENGTH) },
    });
    await ctx.event('Normal', 'PasswordGenerated', `generated the administrator password into Secret ${ref.name} (key ${ref.key})`);
  } catch (err) {
    if (!isConflict(err)) throw err;
  }
}

/** The administrator password, creating a generated one when its Secret does not exist. */
export async function adminPassword(ctx: TenantDatabaseContext, az: AzureServerSpec): Promise<AdminPassword & { problem?: PartCondition }> {
  const ref = az.administratorPasswordSecretRef;
  if (!ref || az.authentication?.passwordAuth === false) return {};
  const secret = ctx.secret(ref.name);
  if (!secret) {
    await createPasswordSecret(ctx, ref);
    // The Secret's watch event brings the object back with the Secret in the cache.
    return { problem: cond(false, 'WaitingForSecret', `waiting for the administrator password Secret ${ref.name} to reach the cache`, false) };
  }
  const password = ctx.secretValue(ref.name, ref.key);
  if (!password) return { problem: cond(false, 'SecretKeyNotFound', `Secret ${ref.name} has no key ${ref.key} with the administrator password`, true) };
  return { password, version: secret.metadata.resourceVersion ?? '' };
}

/** Step 2: the administrator password is at hand (or the pass waits for its Secret). */
export async function administratorPassword(p: Pass): Promise<ServerOutcome | undefined> {
  const { problem, ...admin } = await adminPassword(p.ctx, p.az);
  if (problem) return outcome(p, problem, problem.stalled ? {} : { retry: true });
  p.admin = admin;
  return undefined;
}
