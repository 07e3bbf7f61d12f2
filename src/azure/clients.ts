// The one place the operator builds Azure SDK clients. Both SDKs are used unchanged; what this adds
// is configuration every client must share: the ARM endpoint and matching token scope (sovereign
// clouds, the emulator), trust in an extra CA, the per-subscription request budget, request metrics
// and bounded retries.
//
// Extra CA trust: core-rest-pipeline's Node HTTP client accepts an `https.Agent` through the
// pipeline option `agent` (applied by its agentPolicy to every request). We give it an Agent whose
// `ca` is the public roots plus the extra CA, so the trust is scoped to these clients — unlike
// NODE_EXTRA_CA_CERTS, which is process-wide and read only at startup. (`tlsOptions.ca` would work
// too but replaces the Mozilla roots and caches agents by object identity.)
import https from 'node:https';
import tls from 'node:tls';
import type { TokenCredential } from '@azure/core-auth';
import type { PipelinePolicy, PipelineRetryOptions } from '@azure/core-rest-pipeline';
import { PostgreSQLManagementFlexibleServerClient } from '@azure/arm-postgresql-flexible';
import { MonitorClient } from '@azure/arm-monitor';
import { AZURE_CLOUDS, armScope, normaliseArmEndpoint } from './clouds.js';
import { armBudgetPolicy, sharedBudget, type ArmRequestBudget } from './budget.js';
import { armMetricsPolicy, type ArmMetrics } from './metrics.js';

export interface AzureClientsOptions {
  subscriptionId: string;
  /** ARM endpoint; public cloud when absent. See AZURE_CLOUDS for the sovereign clouds. */
  armEndpoint?: string;
  credential: TokenCredential;
  /** PEM of an additional CA to trust (the emulator's), on top of the public roots. */
  caCertPem?: string;
  /** Request budget; by default the process-wide one of this endpoint and subscription. */
  budget?: ArmRequestBudget;
  metrics?: ArmMetrics;
  /** Retry settings of the SDK's retry policy; see DEFAULT_RETRY. */
  retry?: PipelineRetryOptions;
  userAgentPrefix?: string;
}

export interface AzureClients {
  postgres: PostgreSQLManagementFlexibleServerClient;
  monitor: MonitorClient;
  budget: ArmRequestBudget;
  armEndpoint: string;
  /** The credential the clients authenticate with (also the identity of the operator's database token logins). */
  credential: TokenCredential;
}

// The SDK's retry policy already retries 429/503 after Retry-After, other 5xx/408 and connection
// errors with exponential back-off, and leaves other 4xx alone. We only bound it: a few attempts,
// and back-off capped well below a reconcile interval so the controller gets the error back in time.
export const DEFAULT_RETRY: Readonly<Required<Pick<PipelineRetryOptions, 'maxRetries' | 'retryDelayInMs' | 'maxRetryDelayInMs'>>> = {
  maxRetries: 4,
  retryDelayInMs: 1000,
  maxRetryDelayInMs: 30_000,
};

export function createAzureClients(opts: AzureClientsOptions): AzureClients {
  if (!/^[0-9a-fA-F-]{36}$/.test(opts.subscriptionId)) throw new Error('subscriptionId must be a GUID');
  const armEndpoint = normaliseArmEndpoint(opts.armEndpoint ?? AZURE_CLOUDS.AzurePublicCloud.armEndpoint);
  const scope = armScope(armEndpoint);
  const budget = opts.budget ?? sharedBudget(armEndpoint, opts.subscriptionId);

  // Order matters: the budget policy wraps the metrics policy, so request durations exclude waits.
  const additionalPolicies: { policy: PipelinePolicy; position: 'perCall' | 'perRetry' }[] = [{ policy: armBudgetPolicy(budget, opts.metrics), position: 'perRetry' }];
  if (opts.metrics) additionalPolicies.push({ policy: armMetricsPolicy(opts.metrics), position: 'perRetry' });

  const agent = opts.caCertPem ? new https.Agent({ keepAlive: true, ca: [...tls.rootCertificates, opts.caCertPem] }) : undefined;
  const retryOptions = { ...DEFAULT_RETRY, ...opts.retry };
  const userAgentOptions = { userAgentPrefix: opts.userAgentPrefix ?? 'tenantdb-operator' };

  const postgres = new PostgreSQLManagementFlexibleServerClient(opts.credential, opts.subscriptionId, {
    endpoint: armEndpoint,
    $host: armEndpoint,
    credentialScopes: [scope],
    additionalPolicies,
    retryOptions,
    userAgentOptions,
    ...(agent ? { agent } : {}),
  });
  const monitor = new MonitorClient(opts.credential, opts.subscriptionId, {
    endpoint: armEndpoint,
    credentials: { scopes: [scope] },
    additionalPolicies,
    retryOptions,
    userAgentOptions,
    ...(agent ? { agent } : {}),
  });
  return { postgres, monitor, budget, armEndpoint, credential: opts.credential };
}
