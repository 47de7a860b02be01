import { describe, expect, it } from 'vitest';
import {
  MESSAGE_TYPE,
  ValidationError,
  contextOf,
  createMessage,
  err,
  isTraceparent,
  isUuidV7,
  ok,
  parseEnvelope,
  traceparent,
  uuidv7,
  type Envelope,
  type MessageContext,
  type MessageDefinition,
} from '../../../../src/shared/kernel/index.js';

/** Runs `fn`, which must throw, and returns what it threw. */
function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw');
}

function expectValidationError(fn: () => unknown, code: string): ValidationError {
  const error = thrownBy(fn);
  expect(error).toBeInstanceOf(ValidationError);
  expect(error).toMatchObject({ code, kind: 'validation' });
  return error as ValidationError;
}

/** Parses `raw`, expects INVALID_ENVELOPE and returns the reason. */
function rejectionOf(raw: unknown): string {
  const result = parseEnvelope(raw);
  expect(result.ok).toBe(false);
  if (result.ok) throw new Error('unreachable');
  expect(result.error).toBeInstanceOf(ValidationError);
  expect(result.error.code).toBe('INVALID_ENVELOPE');
  expect(result.error.kind).toBe('validation');
  return result.error.message;
}

interface OrderCreated {
  orderId: string;
  total: { amount: number; currency: string };
}

/** A contract definition written by hand, like the modules' zod-backed ones. */
const orderCreated: MessageDefinition<OrderCreated> = {
  type: 'order.created.v1',
  kind: 'event',
  parse(payload) {
    const p = payload as Partial<OrderCreated> | null;
    if (
      typeof p !== 'object' ||
      p === null ||
      typeof p.orderId !== 'string' ||
      typeof p.total?.amount !== 'number' ||
      !Number.isSafeInteger(p.total.amount) ||
      typeof p.total.currency !== 'string'
    ) {
      return err(new ValidationError('INVALID_PAYLOAD', 'not an order.created.v1 payload'));
    }
    // Returns a normalised copy: createMessage must keep what parse returns.
    return ok({ orderId: p.orderId, total: { amount: p.total.amount, currency: p.total.currency } });
  },
};

const TRACE = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

function validEnvelope(): Record<string, unknown> {
  return {
    id: '01890a5d-ac96-774b-bcce-b302099a8057',
    type: 'order.created.v1',
    occurredAt: '2024-05-01T12:00:00.000Z',
    correlationId: '01890a5d-ac96-774b-bcce-b302099a8000',
    causationId: null,
    traceparent: TRACE,
    payload: { orderId: 'x', total: { amount: 100, currency: 'USD' } },
  };
}

function context(overrides: Partial<MessageContext> = {}): MessageContext {
  return { correlationId: uuidv7(), causationId: null, traceparent: TRACE, ...overrides };
}

const payload: OrderCreated = { orderId: 'o-1', total: { amount: 1000, currency: 'USD' } };

describe('traceparent', () => {
  const FORMAT = /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/;

  it('starts a new sampled trace without a parent', () => {
    const a = traceparent();
    const b = traceparent();
    expect(a).toMatch(FORMAT);
    expect(isTraceparent(a)).toBe(true);
    expect(a.slice(3, 35)).not.toBe(b.slice(3, 35));
  });

  it('continues the parent trace with a new span id', () => {
    const child = traceparent(TRACE);
    expect(child).toMatch(FORMAT);
    expect(child.slice(3, 35)).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(child.slice(36, 52)).not.toBe('00f067aa0ba902b7');
    expect(traceparent(TRACE).slice(36, 52)).not.toBe(child.slice(36, 52));
  });

  it.each([
    ['garbage', 'not-a-traceparent'],
    ['empty', ''],
    ['an all-zero trace id', '00-00000000000000000000000000000000-00f067aa0ba902b7-01'],
    ['uppercase hex', '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01'],
  ])('starts a new trace when the parent is %s', (_label, parent) => {
    const child = traceparent(parent);
    expect(child).toMatch(FORMAT);
    expect(child.slice(3, 35)).not.toBe(parent.slice(3, 35));
  });

  it.each([
    ['valid, sampled', TRACE, true],
    ['valid, not sampled', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00', true],
    ['all-zero trace id', '00-00000000000000000000000000000000-00f067aa0ba902b7-01', false],
    ['all-zero span id', '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', false],
    ['uppercase', '00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01', false],
    ['unknown version', '01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', false],
    ['invalid version ff', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', false],
    ['short trace id', '00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01', false],
    ['short span id', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01', false],
    ['missing flags', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7', false],
    ['trailing data', `${TRACE}-extra`, false],
    ['trailing newline', `${TRACE}\n`, false],
    ['non-hex', '00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01', false],
  ])('isTraceparent: %s', (_label, value, expected) => {
    expect(isTraceparent(value)).toBe(expected);
  });

  it('isTraceparent refuses non-strings', () => {
    for (const value of [undefined, null, 42, {}, [TRACE]]) expect(isTraceparent(value)).toBe(false);
  });
});

describe('MESSAGE_TYPE', () => {
  it.each(['order.created.v1', 'customer.credit-reserved.v1', 'customer.reserve-credit.v12', 'a.b.c.v3'])('accepts %s', (t) => {
    expect(MESSAGE_TYPE.test(t)).toBe(true);
  });

  it.each([
    'OrderCreated',
    'order.created',
    'order.v1',
    'Order.created.v1',
    'order.created.V1',
    'order.created.v0',
    'order.created.v01',
    'order..created.v1',
    'order.created.v1.',
    '.order.created.v1',
    'order_created.v1',
    'order created.v1',
    '1order.created.v1',
    '',
  ])('refuses %j', (t) => {
    expect(MESSAGE_TYPE.test(t)).toBe(false);
  });
});

describe('parseEnvelope', () => {
  it('accepts a valid envelope and returns its fields', () => {
    const raw = validEnvelope();
    const result = parseEnvelope(raw);
    expect(result).toEqual({ ok: true, value: raw });
  });

  it('accepts an envelope that went through JSON', () => {
    const result = parseEnvelope(JSON.parse(JSON.stringify(validEnvelope())));
    expect(result.ok).toBe(true);
  });

  it('tolerates added fields (rolling deploys) and drops them', () => {
    const result = parseEnvelope({ ...validEnvelope(), schemaHint: 'x', tenant: 1 });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(Object.keys(result.value).sort()).toEqual(
      ['causationId', 'correlationId', 'id', 'occurredAt', 'payload', 'traceparent', 'type'].sort(),
    );
  });

  it('accepts a UUID causationId, a null payload and an offset timestamp', () => {
    expect(parseEnvelope({ ...validEnvelope(), causationId: uuidv7() }).ok).toBe(true);
    expect(parseEnvelope({ ...validEnvelope(), payload: null }).ok).toBe(true);
    expect(parseEnvelope({ ...validEnvelope(), occurredAt: '2024-05-01T14:00:00+02:00' }).ok).toBe(true);
    expect(parseEnvelope({ ...validEnvelope(), occurredAt: '2024-02-29T00:00:00Z' }).ok).toBe(true);
  });

  it.each([
    ['null', null],
    ['undefined', undefined],
    ['a string', JSON.stringify(validEnvelope())],
    ['a number', 42],
    ['an array', [validEnvelope()]],
  ])('refuses %s as the envelope', (_label, raw) => {
    expect(rejectionOf(raw)).toBe('envelope must be an object');
  });

  it.each([
    ['not a UUID', 'not-a-uuid'],
    ['a number', 42],
    ['missing', undefined],
    ['uppercase', '01890A5D-AC96-774B-BCCE-B302099A8057'],
    ['without hyphens', '01890a5dac96774bbcceb302099a8057'],
    ['in braces', '{01890a5d-ac96-774b-bcce-b302099a8057}'],
    ['the nil UUID', '00000000-0000-0000-0000-000000000000'],
    ['a bad variant', '01890a5d-ac96-774b-7cce-b302099a8057'],
  ])('refuses an id that is %s', (_label, id) => {
    expect(rejectionOf({ ...validEnvelope(), id })).toMatch(/^id must be a UUID/);
  });

  it.each([
    ['a class name', 'OrderCreated'],
    ['unversioned', 'order.created'],
    ['with an uppercase version', 'order.created.V1'],
    ['empty', ''],
    ['a number', 1],
    ['missing', undefined],
    ['too long', `${'a'.repeat(200)}.created.v1`],
  ])('refuses a type that is %s', (_label, type) => {
    expect(rejectionOf({ ...validEnvelope(), type })).toMatch(/^type must be a versioned name/);
  });

  it.each([
    ['not a date', 'yesterday'],
    ['a bare number', '1'],
    ['a non-ISO date Date.parse accepts', 'March 7, 2024'],
    ['a date without time', '2024-05-01'],
    ['a time without offset', '2024-05-01T12:00:00'],
    ['a day that does not exist', '2024-02-31T00:00:00Z'],
    ['February 29 of a common year', '2023-02-29T00:00:00Z'],
    ['month 13', '2024-13-01T00:00:00Z'],
    ['hour 25', '2024-05-01T25:00:00Z'],
    ['a number', 1714564800000],
    ['a Date object', new Date('2024-05-01T12:00:00Z')],
    ['missing', undefined],
  ])('refuses an occurredAt that is %s', (_label, occurredAt) => {
    expect(rejectionOf({ ...validEnvelope(), occurredAt })).toBe('occurredAt must be an ISO-8601 timestamp');
  });

  it.each([
    ['not a UUID', 'order-42'],
    ['missing', undefined],
    ['null', null],
  ])('refuses a correlationId that is %s', (_label, correlationId) => {
    expect(rejectionOf({ ...validEnvelope(), correlationId })).toBe('correlationId must be a UUID');
  });

  it.each([
    ['not a UUID', 'msg-1'],
    ['an empty string', ''],
    ['missing (undefined)', undefined],
    ['a number', 0],
  ])('refuses a causationId that is %s', (_label, causationId) => {
    expect(rejectionOf({ ...validEnvelope(), causationId })).toBe('causationId must be a UUID or null');
  });

  it('refuses an envelope without the causationId key (it must be null, not absent)', () => {
    const { causationId: _omitted, ...rest } = validEnvelope();
    expect(rejectionOf(rest)).toBe('causationId must be a UUID or null');
  });

  it.each([
    ['garbage', 'abc'],
    ['all-zero trace id', '00-00000000000000000000000000000000-00f067aa0ba902b7-01'],
    ['uppercase', TRACE.toUpperCase()],
    ['missing', undefined],
  ])('refuses a traceparent that is %s', (_label, tp) => {
    expect(rejectionOf({ ...validEnvelope(), traceparent: tp })).toBe('traceparent must be a W3C traceparent');
  });

  it('refuses a missing payload', () => {
    const { payload: _omitted, ...rest } = validEnvelope();
    expect(rejectionOf(rest)).toBe('payload is missing');
  });

  it('reports the first problem in field order', () => {
    expect(rejectionOf({ id: 'x', type: 'X' })).toMatch(/^id must be a UUID/);
  });
});

describe('createMessage', () => {
  it('builds an envelope from the definition, the parsed payload and the context', () => {
    const at = new Date();
    const ctx = context({ causationId: uuidv7() });
    const msg = createMessage(orderCreated, payload, ctx, at);
    expect(isUuidV7(msg.id)).toBe(true);
    expect(msg.type).toBe('order.created.v1');
    expect(msg.occurredAt).toBe(at.toISOString());
    expect(msg.correlationId).toBe(ctx.correlationId);
    expect(msg.causationId).toBe(ctx.causationId);
    expect(msg.payload).toEqual(payload);
    expect(isTraceparent(msg.traceparent)).toBe(true);
    expect(msg.traceparent.slice(3, 35)).toBe(TRACE.slice(3, 35));
    expect(msg.traceparent).not.toBe(TRACE);
  });

  it('encodes occurredAt in the id (UUIDv7 timestamp) when the clock is current', () => {
    const at = new Date(Date.now() + 5);
    const msg = createMessage(orderCreated, payload, context(), at);
    expect(parseInt(msg.id.replace(/-/g, '').slice(0, 12), 16)).toBeGreaterThanOrEqual(at.getTime());
  });

  it('keeps what the definition returns, not the raw input', () => {
    const withExtra = { ...payload, extra: 'dropped by parse' };
    const msg = createMessage(orderCreated, withExtra, context());
    expect(msg.payload).toEqual(payload);
    expect(msg.payload).not.toHaveProperty('extra');
  });

  it('starts a new trace when the context has no valid traceparent', () => {
    const msg = createMessage(orderCreated, payload, context({ traceparent: 'junk' }));
    expect(isTraceparent(msg.traceparent)).toBe(true);
  });

  it('throws the error of a payload its definition refuses', () => {
    const bad = { orderId: 'o-1', total: { amount: 10.5, currency: 'USD' } };
    const error = expectValidationError(() => createMessage(orderCreated, bad, context()), 'INVALID_PAYLOAD');
    expect(error.message).toBe('not an order.created.v1 payload');
    expectValidationError(() => createMessage(orderCreated, undefined as unknown as OrderCreated, context()), 'INVALID_PAYLOAD');
  });

  it.each([
    ['not a UUID', 'order-42'],
    ['empty', ''],
    ['uppercase', '01890A5D-AC96-774B-BCCE-B302099A8057'],
    ['undefined', undefined],
  ])('refuses a correlationId that is %s with INVALID_MESSAGE', (_label, correlationId) => {
    expectValidationError(
      () => createMessage(orderCreated, payload, context({ correlationId: correlationId as string })),
      'INVALID_MESSAGE',
    );
  });

  it('refuses a causationId that is not a UUID or null with INVALID_MESSAGE', () => {
    expectValidationError(() => createMessage(orderCreated, payload, context({ causationId: 'msg-1' })), 'INVALID_MESSAGE');
    expectValidationError(
      () => createMessage(orderCreated, payload, context({ causationId: undefined as unknown as null })),
      'INVALID_MESSAGE',
    );
  });

  it.each(['OrderCreated', 'order.created', 'order.created.V1'])('refuses a definition typed %j with INVALID_MESSAGE', (type) => {
    expectValidationError(() => createMessage({ ...orderCreated, type }, payload, context()), 'INVALID_MESSAGE');
  });

  it('refuses an invalid date with INVALID_MESSAGE', () => {
    expectValidationError(() => createMessage(orderCreated, payload, context(), new Date(Number.NaN)), 'INVALID_MESSAGE');
  });

  it('checks the context before calling the definition', () => {
    let calls = 0;
    const counting: MessageDefinition<OrderCreated> = { ...orderCreated, parse: (p) => (calls++, orderCreated.parse(p)) };
    expectValidationError(() => createMessage(counting, payload, context({ correlationId: 'x' })), 'INVALID_MESSAGE');
    expect(calls).toBe(0);
  });

  it('produces envelopes that parseEnvelope accepts, before and after JSON', () => {
    for (let i = 0; i < 200; i++) {
      const msg = createMessage(orderCreated, payload, context({ causationId: i % 2 ? uuidv7() : null }));
      expect(parseEnvelope(msg)).toEqual({ ok: true, value: msg });
      expect(parseEnvelope(JSON.parse(JSON.stringify(msg)))).toEqual({ ok: true, value: msg });
    }
  });

  it('gives every message its own, increasing id', () => {
    const ids = Array.from({ length: 500 }, () => createMessage(orderCreated, payload, context()).id);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });
});

describe('contextOf', () => {
  it('carries the saga, names the cause and continues its trace', () => {
    const first = createMessage(orderCreated, payload, context({ traceparent: traceparent() }));
    const ctx = contextOf(first);
    expect(ctx).toEqual({ correlationId: first.correlationId, causationId: first.id, traceparent: first.traceparent });
  });

  it('chains correlation, causation and trace through a saga', () => {
    const reply: MessageDefinition<{ orderId: string }> = {
      type: 'customer.credit-reserved.v1',
      kind: 'event',
      parse: (p) => ok(p as { orderId: string }),
    };
    const first = createMessage(orderCreated, payload, context({ traceparent: traceparent() }));
    const second = createMessage(reply, { orderId: 'o-1' }, contextOf(first));
    const third = createMessage(orderCreated, payload, contextOf(second as Envelope));

    expect(second.correlationId).toBe(first.correlationId);
    expect(third.correlationId).toBe(first.correlationId);
    expect(second.causationId).toBe(first.id);
    expect(third.causationId).toBe(second.id);

    const traceId = (tp: string) => tp.slice(3, 35);
    const spanId = (tp: string) => tp.slice(36, 52);
    expect(traceId(second.traceparent)).toBe(traceId(first.traceparent));
    expect(traceId(third.traceparent)).toBe(traceId(first.traceparent));
    expect(new Set([spanId(first.traceparent), spanId(second.traceparent), spanId(third.traceparent)]).size).toBe(3);
  });

  it('works on an envelope received from the wire', () => {
    const sent = createMessage(orderCreated, payload, context());
    const received = parseEnvelope(JSON.parse(JSON.stringify(sent)));
    if (!received.ok) throw received.error;
    expect(contextOf(received.value)).toEqual({
      correlationId: sent.correlationId,
      causationId: sent.id,
      traceparent: sent.traceparent,
    });
  });
});
