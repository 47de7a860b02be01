/**
 * An error answered in the AWS JSON 1.1 shape ECS uses: HTTP 400 (or 5xx) with
 * `{"__type": "<ExceptionName>", "message": "..."}`. The SDK reads `__type` first, so the
 * exception it throws has `name === type` (a modelled class such as `ClientException`, or its
 * base `ECSServiceException` carrying that name for unmodelled ones such as `ThrottlingException`).
 */
export type EcsErrorType =
  | 'AccessDeniedException'
  | 'ClientException'
  | 'ConflictException'
  | 'ServiceUnavailableException'
  | 'InvalidParameterException'
  | 'ClusterNotFoundException'
  | 'ThrottlingException'
  | 'UnknownOperationException'
  | 'SerializationException'
  | 'ServerException';

export class EcsApiError extends Error {
  constructor(
    readonly type: EcsErrorType,
    message: string,
    readonly statusCode = 400,
    /** ConflictException's: the tasks already started with the client token. */
    readonly resourceIds?: readonly string[],
  ) {
    super(message);
    this.name = type;
  }

  toBody(): { __type: EcsErrorType; message: string; resourceIds?: string[] } {
    return { __type: this.type, message: this.message, ...(this.resourceIds ? { resourceIds: [...this.resourceIds] } : {}) };
  }
}

export const invalidParameter = (message: string): EcsApiError => new EcsApiError('InvalidParameterException', message);
export const clientError = (message: string): EcsApiError => new EcsApiError('ClientException', message);
export const serializationError = (message: string): EcsApiError => new EcsApiError('SerializationException', message);
