// The URLs long-running operations hand out: Azure-AsyncOperation (status document) and Location
// (operation result). Registered once for every namespace; polls count as reads ('poll' in the log).
import { ArmError } from './errors.js';
import type { EmulatorContext } from './context.js';
import type { OperationRecord } from './lro.js';

function operationOr404(ctx: EmulatorContext, id: string, subscriptionId: string): OperationRecord {
  const op = ctx.lro.get(id);
  if (!op || op.subscriptionId.toLowerCase() !== subscriptionId.toLowerCase()) {
    throw new ArmError(404, 'OperationNotFound', `The operation '${id}' could not be found.`);
  }
  return op;
}

export function registerPolling(ctx: EmulatorContext): void {
  const base = '/subscriptions/{subscriptionId}/providers/{namespace}/locations/{location}';
  ctx.router.add({
    method: 'GET',
    path: `${base}/azureAsyncOperation/{operationId}`,
    apiVersions: [],
    resourceType: 'locations/azureAsyncOperation',
    kind: 'poll',
    handler: (req) => {
      const op = operationOr404(ctx, req.params.operationId!, req.params.subscriptionId!);
      const headers: Record<string, string> = {};
      if (op.status === 'InProgress') headers['Retry-After'] = String(ctx.lro.settings.retryAfterSeconds);
      const doc = { id: req.path, ...ctx.lro.statusDocument(op) };
      return { status: 200, body: doc, headers };
    },
  });
  ctx.router.add({
    method: 'GET',
    path: `${base}/operationResults/{operationId}`,
    apiVersions: [],
    resourceType: 'locations/operationResults',
    kind: 'poll',
    handler: (req) => {
      const op = operationOr404(ctx, req.params.operationId!, req.params.subscriptionId!);
      if (op.status === 'InProgress') {
        return {
          status: 202,
          headers: {
            Location: `${req.baseUrl}${req.path}${req.apiVersion ? `?api-version=${req.apiVersion}` : ''}`,
            'Retry-After': String(ctx.lro.settings.retryAfterSeconds),
          },
        };
      }
      if (op.status === 'Failed' && op.error) {
        const e = new ArmError(op.failureStatus ?? 500, op.error.code, op.error.message, op.error.target, op.error.details);
        throw e;
      }
      return { status: op.method === 'DELETE' ? 204 : 200 };
    },
  });
}
