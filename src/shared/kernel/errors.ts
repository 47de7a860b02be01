/**
 * Errors with a stable, machine-readable code. The HTTP layer maps them to
 * application/problem+json; message consumers record the code in the dead-letter store.
 */
export type ErrorKind = 'validation' | 'not-found' | 'conflict' | 'rule-violation' | 'unavailable';

export class DomainError extends Error {
  readonly code: string;
  readonly kind: ErrorKind;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: string, message: string, kind: ErrorKind = 'rule-violation', details?: Record<string, unknown>) {
    super(message);
    this.name = 'DomainError';
    this.code = code;
    this.kind = kind;
    this.details = details;
  }
}

export class ValidationError extends DomainError {
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(code, message, 'validation', details);
    this.name = 'ValidationError';
  }
}

export class NotFoundError extends DomainError {
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(code, message, 'not-found', details);
    this.name = 'NotFoundError';
  }
}

export class ConflictError extends DomainError {
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(code, message, 'conflict', details);
    this.name = 'ConflictError';
  }
}

/** Raised by repositories when an optimistic version check fails; the caller may retry. */
export class ConcurrencyError extends ConflictError {
  constructor(aggregate: string, id: string) {
    super('CONCURRENT_MODIFICATION', `${aggregate} ${id} was modified concurrently; retry the operation`, { aggregate, id });
    this.name = 'ConcurrencyError';
  }
}

export type Result<T, E = DomainError> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: E };

export const ok = <T>(value: T): Result<T, never> => ({ ok: true, value });
export const err = <E>(error: E): Result<never, E> => ({ ok: false, error });
