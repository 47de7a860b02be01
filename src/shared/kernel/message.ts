import { ValidationError, err, ok, type Result } from './errors.js';
import { isUuid, uuidv7 } from './uuid.js';

/**
 * The envelope every message crosses a boundary in. `type` is a versioned name such as
 * `order.created.v1`, never a class name. `correlationId` is the saga (= the order's id),
 * `causationId` the message that caused this one (null for the first message of a saga).
 */
export interface Envelope<P = unknown> {
  readonly id: string;
  readonly type: string;
  readonly occurredAt: string;
  readonly correlationId: string;
  readonly causationId: string | null;
  readonly traceparent: string;
  readonly payload: P;
}

export type MessageKind = 'event' | 'command';

/** A contract message: its versioned name and a parser for its payload (written with the schema library). */
export interface MessageDefinition<P, T extends string = string> {
  readonly type: T;
  readonly kind: MessageKind;
  /** The schema-library object it was defined with, for tools that read contracts (the contract lock, ADR 37). */
  readonly schema?: unknown;
  parse(payload: unknown): Result<P, ValidationError>;
}

export type PayloadOf<D> = D extends MessageDefinition<infer P> ? P : never;

export const MESSAGE_TYPE = /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+\.v[1-9][0-9]*$/;
const TRACEPARENT = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;
const MAX_TYPE_LENGTH = 200;
/** RFC 3339 / ISO-8601 date-time with an explicit offset, e.g. 2024-05-01T12:00:00.000Z. */
const ISO_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/**
 * `Date.parse` alone accepts "1", "March 7" and rolls 2024-02-31 over to March 2nd; PostgreSQL
 * would then refuse the value where it is stored. Require the ISO form and a real calendar day.
 */
function isIsoDateTime(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  const m = ISO_DATE_TIME.exec(value);
  if (!m || Number.isNaN(Date.parse(value))) return false;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return new Date(Date.UTC(year, month - 1, day)).getUTCDate() === day;
}

/** What a new message inherits from the one being handled (or from the HTTP request that started a saga). */
export interface MessageContext {
  readonly correlationId: string;
  readonly causationId: string | null;
  readonly traceparent: string;
}

function randomHex(bytes: number): string {
  const buf = new Uint8Array(bytes);
  globalThis.crypto.getRandomValues(buf);
  return Array.from(buf, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** A W3C traceparent that starts a new trace, or continues `parent`'s trace with a new span. */
export function traceparent(parent?: string): string {
  const traceId = parent && TRACEPARENT.test(parent) ? parent.slice(3, 35) : randomHex(16);
  return `00-${traceId}-${randomHex(8)}-01`;
}

export function isTraceparent(value: unknown): value is string {
  return typeof value === 'string' && TRACEPARENT.test(value);
}

export function createMessage<P>(
  definition: MessageDefinition<P>,
  payload: P,
  context: MessageContext,
  at: Date = new Date(),
): Envelope<P> {
  if (!isUuid(context.correlationId)) {
    throw new ValidationError('INVALID_MESSAGE', `correlationId must be a UUID, got ${JSON.stringify(context.correlationId)}`);
  }
  // What we send must pass the receiver's parseEnvelope.
  if (context.causationId !== null && !isUuid(context.causationId)) {
    throw new ValidationError('INVALID_MESSAGE', `causationId must be a UUID or null, got ${JSON.stringify(context.causationId)}`);
  }
  if (definition.type.length > MAX_TYPE_LENGTH || !MESSAGE_TYPE.test(definition.type)) {
    throw new ValidationError(
      'INVALID_MESSAGE',
      `type must be a versioned name "<module>.<name>.v<N>" (e.g. "shop.cart-checked-out.v1"), got ${JSON.stringify(definition.type)}`,
    );
  }
  if (Number.isNaN(at.getTime())) throw new ValidationError('INVALID_MESSAGE', 'occurredAt must be a valid date');
  const parsed = definition.parse(payload);
  if (!parsed.ok) throw parsed.error;
  return {
    id: uuidv7(at.getTime()),
    type: definition.type,
    occurredAt: at.toISOString(),
    correlationId: context.correlationId,
    causationId: context.causationId,
    traceparent: traceparent(context.traceparent),
    payload: parsed.value,
  };
}

/** The context for messages sent while handling `cause`: same saga, caused by it, same trace. */
export function contextOf(cause: Envelope): MessageContext {
  return { correlationId: cause.correlationId, causationId: cause.id, traceparent: cause.traceparent };
}

function invalid(reason: string): Result<never, ValidationError> {
  return err(new ValidationError('INVALID_ENVELOPE', reason));
}

/** Checks the envelope's own fields; the payload is checked by the consumer against its contract. */
export function parseEnvelope(raw: unknown): Result<Envelope, ValidationError> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return invalid('envelope must be an object');
  const e = raw as Record<string, unknown>;
  if (!isUuid(e['id'])) return invalid(`id must be a UUID, got ${JSON.stringify(e['id'])}`);
  if (typeof e['type'] !== 'string' || e['type'].length > MAX_TYPE_LENGTH || !MESSAGE_TYPE.test(e['type'])) {
    return invalid(
      `type must be a versioned name "<module>.<name>.v<N>" (e.g. "shop.cart-checked-out.v1"), got ${JSON.stringify(e['type'])}`,
    );
  }
  if (!isIsoDateTime(e['occurredAt'])) {
    return invalid('occurredAt must be an ISO-8601 timestamp');
  }
  if (!isUuid(e['correlationId'])) return invalid('correlationId must be a UUID');
  if (e['causationId'] !== null && !isUuid(e['causationId'])) return invalid('causationId must be a UUID or null');
  if (!isTraceparent(e['traceparent'])) return invalid('traceparent must be a W3C traceparent');
  if (!('payload' in e)) return invalid('payload is missing');
  return ok({
    id: e['id'],
    type: e['type'],
    occurredAt: e['occurredAt'],
    correlationId: e['correlationId'],
    causationId: e['causationId'],
    traceparent: e['traceparent'],
    payload: e['payload'],
  });
}

/** Handles one message for one use case, inside the transaction that marks its delivery done. */
export interface MessageHandler<P = unknown> {
  handle(message: Envelope<P>): Promise<void>;
}
