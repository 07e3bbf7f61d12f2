// Records every response an Azure SDK client's pipeline receives (each retry and poll included), so tests
// can validate the bodies the emulator sent against the swagger.
import type { Pipeline, PipelinePolicy } from '@azure/core-rest-pipeline';

export interface CapturedResponse {
  method: string;
  path: string;
  status: number;
  body: unknown;
}

/** Adds one recorder to each pipeline; all of them append to the returned list. */
export function recordResponses(...pipelines: Pipeline[]): CapturedResponse[] {
  const captured: CapturedResponse[] = [];
  const policy: PipelinePolicy = {
    name: 'testResponseRecorder',
    async sendRequest(request, next) {
      const response = await next(request);
      let body: unknown;
      try {
        body = response.bodyAsText ? JSON.parse(response.bodyAsText) : undefined;
      } catch {
        body = response.bodyAsText;
      }
      captured.push({ method: request.method, path: new URL(request.url).pathname, status: response.status, body });
      return response;
    },
  };
  // Next to the transport (after Sign), so each retried attempt is seen with the body the service sent.
  for (const pipeline of pipelines) pipeline.addPolicy(policy, { afterPhase: 'Sign' });
  return captured;
}
