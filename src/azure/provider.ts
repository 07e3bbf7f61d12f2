// Azure clients for a controller from the operator's settings and one object's credentials: the ARM
// endpoint of the configured cloud (or its override), the extra CA, and a credential chosen per
// namespace (a credentials Secret, else the static emulator token on a loopback endpoint, else the
// pod's identity). Clients are cached per endpoint + subscription + credentials, so every object of a
// subscription shares one SDK pipeline and, through createAzureClients, one request budget; a changed
// Secret yields a new cache key (old entries are few and small, and a token cache per credential is
// what makes the Secret path cheap).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { TokenCredential } from '@azure/core-auth';
import type { AzureSettings } from '../config.js';
import { AZURE_CLOUDS, isLoopbackEndpoint, normaliseArmEndpoint } from './clouds.js';
import { createAzureClients, type AzureClients } from './clients.js';
import { CredentialSecretError, credentialFromSecretData, defaultCredential, staticTokenCredential } from './credentials.js';
import { LruMap } from '../runtime/lru.js';

/** The ARM endpoint the settings point at (override, else the named cloud's). */
export function armEndpointOf(settings: AzureSettings): string {
  return normaliseArmEndpoint(settings.armEndpoint ?? AZURE_CLOUDS[settings.cloud].armEndpoint);
}

/** The Microsoft Entra authority host the settings point at (override, else the named cloud's). */
export function authorityHostOf(settings: AzureSettings): string {
  return (settings.authorityHost ?? AZURE_CLOUDS[settings.cloud].authorityHost).replace(/\/+$/, '');
}

const PUBLIC_AUTHORITIES = new Set(Object.values(AZURE_CLOUDS).map((c) => new URL(c.authorityHost).host.toLowerCase()));

// Secret keys as credentialFromSecretData expects them, also accepted under the AZURE_* names the
// Azure SDKs' EnvironmentCredential uses (what people usually put in such a Secret).
const KEY_ALIASES: Record<string, string> = {
  AZURE_TENANT_ID: 'tenantId',
  AZURE_CLIENT_ID: 'clientId',
  AZURE_CLIENT_SECRET: 'clientSecret',
  AZURE_FEDERATED_TOKEN_FILE: 'federatedTokenFile',
};

export function normaliseCredentialKeys(data: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(data)) {
    const key = KEY_ALIASES[k] ?? k;
    if (key in out && KEY_ALIASES[k]) continue; // the native name wins over its alias
    out[key] = v;
  }
  return out;
}

const caCache = new Map<string, string>();
function readCa(file: string | undefined): string | undefined {
  if (!file) return undefined;
  let pem = caCache.get(file);
  if (pem === undefined) {
    pem = fs.readFileSync(file, 'utf8');
    caCache.set(file, pem);
  }
  return pem;
}

/** At most this many client sets are kept (least recently used evicted): subscription ids come from specs. */
export const AZURE_CLIENTS_CACHE_MAX = 256;

const cache = new LruMap<string, AzureClients>(AZURE_CLIENTS_CACHE_MAX);

/** Client sets cached now (bounded by AZURE_CLIENTS_CACHE_MAX). */
export function azureClientsCacheSize(): number {
  return cache.size;
}

function digest(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

/**
 * Clients for one subscription with the credentials of one object. `credentialsSecretData` is the
 * decoded data of the object's credentials Secret (keys tenantId, clientId, clientSecret, or their
 * AZURE_* names); absent means the operator's own identity.
 * Throws CredentialSecretError when the Secret's data is not usable (the message names keys only).
 * A federated token file path is refused: the Secret is the tenant's, and a path in it would make the
 * operator read a file of its own pod (its own projected token) on the tenant's behalf.
 */
export function azureClientsFor(settings: AzureSettings, opts: { subscriptionId: string; credentialsSecretData?: Record<string, string> }): AzureClients {
  const armEndpoint = armEndpointOf(settings);
  const authorityHost = authorityHostOf(settings);
  const secretData = opts.credentialsSecretData ? normaliseCredentialKeys(opts.credentialsSecretData) : undefined;
  if (secretData && 'federatedTokenFile' in secretData) {
    throw new CredentialSecretError('federatedTokenFile (AZURE_FEDERATED_TOKEN_FILE) is not accepted from a credentials Secret: the operator never reads a file a namespace names; use clientSecret');
  }
  const useStatic = !secretData && settings.staticToken !== undefined && isLoopbackEndpoint(armEndpoint);
  // The key holds a digest of the credential material, never the material itself.
  const key = digest([armEndpoint, opts.subscriptionId.toLowerCase(), authorityHost, settings.caFile ?? '', secretData ?? null, useStatic ? digest(settings.staticToken) : null]);
  const hit = cache.get(key);
  if (hit) return hit;

  const caCertPem = readCa(settings.caFile);
  const cloud = {
    authorityHost,
    // MSAL validates an authority it does not know by calling login.microsoftonline.com; a private
    // authority (the emulator, Azure Stack) is trusted as configured instead.
    disableInstanceDiscovery: !PUBLIC_AUTHORITIES.has(new URL(authorityHost).host.toLowerCase()),
    ...(caCertPem ? { caCertPem } : {}),
  };
  let credential: TokenCredential;
  if (secretData) credential = credentialFromSecretData(secretData, cloud).credential;
  else if (useStatic) credential = staticTokenCredential(settings.staticToken!, { armEndpoint });
  else credential = defaultCredential(cloud);

  const clients = createAzureClients({ subscriptionId: opts.subscriptionId, armEndpoint, credential, ...(caCertPem ? { caCertPem } : {}) });
  cache.set(key, clients);
  return clients;
}

/** Drops cached clients (tests that restart an emulator on a new port). */
export function clearAzureClientsCache(): void {
  cache.clear();
  caCache.clear();
}
