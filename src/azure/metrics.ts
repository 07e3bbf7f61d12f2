// Prometheus metrics of the operator's ARM traffic. Labels carry the HTTP method, the resource type
// path (see resource-type.ts) and the status code only — never names, ids or anything from headers,
// so neither tenants nor tokens can reach a metrics scrape.
import { Counter, Histogram, Registry } from 'prom-client';
import type { PipelinePolicy, PipelineResponse } from '@azure/core-rest-pipeline';
import { armResourceTypeOf } from './resource-type.js';
import type { RequestCategory } from './request-category.js';

export class ArmMetrics {
  readonly requests: Counter<'method' | 'resource_type' | 'status_code'>;
  readonly duration: Histogram<'method' | 'resource_type'>;
  readonly budgetWait: Histogram<'category'>;

  constructor(readonly registry: Registry = new Registry()) {
    this.requests = getOrCreate(registry, 'tenantdb_arm_requests_total', () =>
      new Counter({
        name: 'tenantdb_arm_requests_total',
        help: 'ARM requests sent (each retry counts), by method, resource type and status code (network_error when no response).',
        labelNames: ['method', 'resource_type', 'status_code'] as const,
        registers: [registry],
      }),
    );
    this.duration = getOrCreate(registry, 'tenantdb_arm_request_duration_seconds', () =>
      new Histogram({
        name: 'tenantdb_arm_request_duration_seconds',
        help: 'Time from sending an ARM request to its response, excluding budget waits.',
        labelNames: ['method', 'resource_type'] as const,
        buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
        registers: [registry],
      }),
    );
    this.budgetWait = getOrCreate(registry, 'tenantdb_arm_budget_wait_seconds', () =>
      new Histogram({
        name: 'tenantdb_arm_budget_wait_seconds',
        help: 'Time ARM requests waited for a token of the client-side request budget.',
        labelNames: ['category'] as const,
        buckets: [0, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120],
        registers: [registry],
      }),
    );
  }

  observeBudgetWait(category: RequestCategory, seconds: number): void {
    this.budgetWait.observe({ category }, seconds);
  }

  observeRequest(method: string, url: string, status: number | undefined, seconds: number): void {
    const resource_type = armResourceTypeOf(url);
    const m = method.toUpperCase();
    this.requests.inc({ method: m, resource_type, status_code: status === undefined ? 'network_error' : String(status) });
    this.duration.observe({ method: m, resource_type }, seconds);
  }
}

// Several clients (one per subscription) share a registry; prom-client refuses duplicate names.
function getOrCreate<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}

export const ARM_METRICS_POLICY_NAME = 'tenantdbArmMetrics';

/** Pipeline policy (position perRetry, inside the budget policy) recording every attempt. */
export function armMetricsPolicy(metrics: ArmMetrics): PipelinePolicy {
  return {
    name: ARM_METRICS_POLICY_NAME,
    async sendRequest(request, next) {
      const started = performance.now();
      let status: number | undefined;
      try {
        const response = await next(request);
        status = response.status;
        return response;
      } catch (err) {
        status = (err as { response?: PipelineResponse }).response?.status;
        throw err;
      } finally {
        metrics.observeRequest(request.method, request.url, status, (performance.now() - started) / 1000);
      }
    },
  };
}
