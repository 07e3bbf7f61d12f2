// How the operator authenticates to ARM. Three sources, chosen per namespace by the controllers:
//  - the pod's own identity (DefaultAzureCredential: workload identity on AKS, env vars elsewhere);
//  - a Secret in the tenant's namespace, already read and decoded by the caller (this module never
//    talks to Kubernetes, so it stays testable and the Secret's bytes never leave the caller's hands
//    except into the Entra client);
//  - a fixed bearer token, which only makes sense against the local ARM emulator and is refused for
//    anything else so that a misconfiguration cannot send a long-lived token to a real cloud.
import https from 'node:https';
import tls from 'node:tls';
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import { ClientSecretCredential, DefaultAzureCredential, WorkloadIdentityCredential } from '@azure/identity';
import { z } from 'zod';
import { isLoopbackEndpoint } from './clouds.js';

export interface CredentialCloudOptions {
  /** Microsoft Entra authority host of the target cloud (see AZURE_CLOUDS); public cloud when absent. */
  authorityHost?: string;
  /**
   * Skip MSAL's instance discovery (a call to login.microsoftonline.com that validates the authority):
   * needed for an authority host that is not a public Microsoft cloud (Azure Stack, the emulator).
   */
  disableInstanceDiscovery?: boolean;
  /** PEM of an additional CA trusted for the authority host (the emulator's), on top of the public roots. */
  caCertPem?: string;
}

/** Identity client options from the cloud options: authority, instance discovery, extra CA trust. */
function identityClientOptions(opts: CredentialCloudOptions): { authorityHost?: string; disableInstanceDiscovery?: boolean; agent?: https.Agent } {
  return {
    ...(opts.authorityHost ? { authorityHost: opts.authorityHost } : {}),
    ...(opts.disableInstanceDiscovery ? { disableInstanceDiscovery: true } : {}),
    ...(opts.caCertPem ? { agent: new https.Agent({ keepAlive: true, ca: [...tls.rootCertificates, opts.caCertPem] }) } : {}),
  };
}

export function defaultCredential(opts: CredentialCloudOptions & { managedIdentityClientId?: string } = {}): TokenCredential {
  return new DefaultAzureCredential({
    ...identityClientOptions(opts),
    ...(opts.managedIdentityClientId ? { managedIdentityClientId: opts.managedIdentityClientId } : {}),
  });
}

const nonEmpty = z.string().trim().min(1);

// Keys a credentials Secret may hold. Either a client secret or the path of a projected federated
// token file; both need the tenant and the application (client) id.
const secretDataSchema = z
  .object({
    tenantId: nonEmpty,
    clientId: nonEmpty,
    clientSecret: nonEmpty.optional(),
    federatedTokenFile: nonEmpty.optional(),
  })
  .refine((d) => (d.clientSecret === undefined) !== (d.federatedTokenFile === undefined), {
    message: 'exactly one of clientSecret or federatedTokenFile must be set',
  });

export type SecretCredentialKind = 'clientSecret' | 'workloadIdentity';

export class CredentialSecretError extends Error {
  override name = 'CredentialSecretError';
}

/**
 * Builds a credential from the decoded `data` of a per-namespace Secret. Validation messages name the
 * offending keys only, never their values, because they end up in resource conditions and logs.
 */
export function credentialFromSecretData(
  data: Readonly<Record<string, string | undefined>>,
  opts: CredentialCloudOptions = {},
): { kind: SecretCredentialKind; credential: TokenCredential } {
  const parsed = secretDataSchema.safeParse(data);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.code === 'invalid_type' ? 'missing or not a string' : 'invalid'}` : i.message));
    throw new CredentialSecretError(`credentials Secret is not usable: ${problems.join('; ')}`);
  }
  const d = parsed.data;
  const authority = identityClientOptions(opts);
  if (d.clientSecret !== undefined) {
    return { kind: 'clientSecret', credential: new ClientSecretCredential(d.tenantId, d.clientId, d.clientSecret, authority) };
  }
  return {
    kind: 'workloadIdentity',
    credential: new WorkloadIdentityCredential({ tenantId: d.tenantId, clientId: d.clientId, tokenFilePath: d.federatedTokenFile!, ...authority }),
  };
}

export interface StaticTokenOptions {
  /** The ARM endpoint the token will be sent to. */
  armEndpoint: string;
  /** Permit a non-loopback endpoint (an emulator reachable by a service name inside a cluster, say). */
  allowStaticToken?: boolean;
  /** Lifetime reported to the SDK; it only decides when the SDK asks again. */
  lifetimeMs?: number;
}

/** A credential that always returns the same token. For the ARM emulator only. */
export function staticTokenCredential(token: string, opts: StaticTokenOptions): TokenCredential {
  if (!token) throw new Error('static token must not be empty');
  if (!isLoopbackEndpoint(opts.armEndpoint) && !opts.allowStaticToken) {
    throw new Error(
      `refusing a static token for non-loopback ARM endpoint ${new URL(opts.armEndpoint).origin}; static tokens are for the emulator (set allowStaticToken to override)`,
    );
  }
  const lifetimeMs = opts.lifetimeMs ?? 60 * 60 * 1000;
  return {
    async getToken(): Promise<AccessToken> {
      return { token, expiresOnTimestamp: Date.now() + lifetimeMs, tokenType: 'Bearer' };
    },
  };
}
