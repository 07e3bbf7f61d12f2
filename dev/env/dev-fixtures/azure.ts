// Dev fixture for crds/examples/tenantdatabase-azure.yaml: what a real user brings along before applying
// it — the resource group (created through ARM in the emulator; the operator never creates resource
// groups), a service principal registered in the emulator's Microsoft Entra, and the
// `azure-tenantdb-operator` credentials Secret for it. The administrator password Secret is not made
// here: the operator generates it when absent.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import YAML from 'yaml';
import { EmulatorControl } from '../../arm-emulator/control-client.js';
import { repoRoot } from '../paths.js';
import type { DevFixtureContext } from './context.js';

export const EXAMPLE_FILE = `${repoRoot}/crds/examples/tenantdatabase-azure.yaml`;
/** The dev service principal: tenant of the example's Entra authentication, a fixed application id. */
export const DEV_TENANT_ID = '3b1e9f0a-7c42-4d8e-a6b5-0f9d2c8e71a3';
export const DEV_CLIENT_ID = 'd3f1c7a2-6b5e-4f08-9a1d-2c4b6e8f0a13';
/**
 * Its object id, fixed: crds/examples/tenantdatabase-passwordless.yaml names it among the server's Entra
 * administrators, so the operator logs in to that server with this principal's tokens.
 */
export const DEV_OBJECT_ID = '6c2e9a41-3f7b-4d58-9e0a-b1c2d3e4f5a6';

interface ExampleAzure {
  subscriptionId: string;
  resourceGroup: string;
  location: string;
  credentialsSecretRef?: { name: string };
}

export function exampleAzureSpec(file = EXAMPLE_FILE): ExampleAzure {
  const doc = YAML.parse(fs.readFileSync(file, 'utf8')) as { spec: { server: { azure: ExampleAzure } } };
  return doc.spec.server.azure;
}

function armPut(endpoint: string, caPem: string, urlPath: string, body: unknown): Promise<number> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = https.request(
      new URL(endpoint + urlPath),
      // The emulator accepts any bearer token for this set-up call (a user would use `az group create`).
      { method: 'PUT', ca: caPem, headers: { authorization: 'Bearer dev-fixture', 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

export interface AzureExampleTarget {
  arm: { endpoint: string; controlEndpoint: string; caFile: string };
  namespace: string;
  apply(manifest: unknown): Promise<void>;
}

/** Creates the example's resource group, a service principal and its credentials Secret. Idempotent. */
export async function prepareAzureExample(t: AzureExampleTarget, file = EXAMPLE_FILE): Promise<{ clientId: string; objectId: string }> {
  const az = exampleAzureSpec(file);
  const caPem = fs.readFileSync(t.arm.caFile, 'utf8');
  const status = await armPut(t.arm.endpoint, caPem, `/subscriptions/${az.subscriptionId}/resourcegroups/${az.resourceGroup}?api-version=2021-04-01`, { location: az.location });
  if (status >= 300) throw new Error(`creating resource group ${az.resourceGroup}: HTTP ${status}`);
  const clientSecret = randomBytes(24).toString('base64url');
  const control = new EmulatorControl(t.arm.controlEndpoint, t.arm.caFile);
  const sp = await control.registerServicePrincipal({ tenantId: DEV_TENANT_ID, clientId: DEV_CLIENT_ID, objectId: DEV_OBJECT_ID, clientSecret, displayName: 'tenantdb-operator (dev)' });
  await t.apply({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: az.credentialsSecretRef?.name ?? 'azure-tenantdb-operator', namespace: t.namespace },
    type: 'Opaque',
    stringData: { tenantId: DEV_TENANT_ID, clientId: DEV_CLIENT_ID, clientSecret },
  });
  return { clientId: DEV_CLIENT_ID, objectId: sp.objectId };
}

export async function prepare(ctx: DevFixtureContext): Promise<void> {
  if (!ctx.env.arm) {
    ctx.say('azure: no ARM emulator in this environment; skipping');
    return;
  }
  const az = exampleAzureSpec();
  await prepareAzureExample({ arm: ctx.env.arm, namespace: ctx.namespace, apply: ctx.apply });
  ctx.say(`azure: resource group ${az.resourceGroup} in the emulator, service principal ${DEV_CLIENT_ID} and Secret ${az.credentialsSecretRef?.name ?? 'azure-tenantdb-operator'}`);
}
