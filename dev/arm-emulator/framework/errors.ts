// ARM's error envelope. Handlers throw ArmError; the server turns it into
// `{"error":{"code","message","target","details"}}` with the given status, as ARM and resource providers do.

export interface ArmErrorDetail {
  code: string;
  message: string;
  target?: string;
  details?: ArmErrorDetail[];
}

export class ArmError extends Error {
  override name = 'ArmError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly target?: string,
    readonly details?: ArmErrorDetail[],
    /** Extra response headers (e.g. Retry-After on 429, WWW-Authenticate on 401). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  toBody(): { error: ArmErrorDetail } {
    return { error: this.toDetail() };
  }

  toDetail(): ArmErrorDetail {
    const e: ArmErrorDetail = { code: this.code, message: this.message };
    if (this.target !== undefined) e.target = this.target;
    if (this.details?.length) e.details = this.details;
    return e;
  }
}

/** ARM's messages for the common cases, so every handler words them the same way. */
export const armErrors = {
  resourceNotFound(type: string, name: string, resourceGroup: string): ArmError {
    return new ArmError(
      404,
      'ResourceNotFound',
      `The Resource '${type}/${name}' under resource group '${resourceGroup}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
    );
  },
  resourceGroupNotFound(resourceGroup: string): ArmError {
    return new ArmError(404, 'ResourceGroupNotFound', `Resource group '${resourceGroup}' could not be found.`);
  },
  invalidParameter(target: string, message: string, details?: ArmErrorDetail[]): ArmError {
    return new ArmError(400, 'InvalidParameterValue', message, target, details);
  },
  invalidRequestContent(message: string): ArmError {
    return new ArmError(400, 'InvalidRequestContent', `The request content was invalid and could not be deserialized: '${message}'.`);
  },
  conflict(code: string, message: string, target?: string): ArmError {
    return new ArmError(409, code, message, target);
  },
  internal(message = 'An unexpected error occured while processing the request.'): ArmError {
    return new ArmError(500, 'InternalServerError', message);
  },
};

/** Wraps anything thrown by a handler or an operation into an ArmError (unknown errors become 500s). */
export function toArmError(err: unknown): ArmError {
  if (err instanceof ArmError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return armErrors.internal(`An unexpected error occured while processing the request: ${message}`);
}
