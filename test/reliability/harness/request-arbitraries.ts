import fc from 'fast-check';

/**
 * Generated HTTP requests for the fuzzing scenario: well-formed ones (so the fuzzer reaches the
 * handlers and the database, not only the validator) mixed with every kind of wrong: types,
 * bounds, unknown properties, broken JSON, wrong content types, oversized bodies, bad ids and
 * query strings, unknown routes and methods, bad idempotency keys and admin tokens.
 */

/** An id chosen when the request runs: one the system knows, a random UUID, or garbage. */
export type IdRef = { readonly kind: 'customer' | 'order'; readonly index: number } | { readonly kind: 'literal'; readonly value: string };

export interface FuzzRequest {
  readonly label: string;
  readonly method: string;
  /** Path template: `{id}` is replaced by the resolved `id`. */
  readonly path: string;
  readonly id?: IdRef;
  readonly query?: string;
  readonly headers: Readonly<Record<string, string>>;
  /** A JSON value to send (with its content type), or a raw body. */
  readonly json?: unknown;
  readonly raw?: string;
  /** For POST /customers and /orders: the customer referenced by the body, resolved at run time. */
  readonly customer?: IdRef;
}

export interface FuzzOptions {
  readonly bodyLimitBytes: number;
  readonly adminToken: string;
}

const printableAscii = fc.string({ unit: 'grapheme-ascii', maxLength: 40 });
/** Header values fetch can send: printable ASCII and spaces. */
const headerValue = fc.oneof(
  printableAscii,
  fc.string({ unit: 'grapheme-ascii', minLength: 201, maxLength: 260 }),
  fc.constant(''),
  fc.constant('key with spaces'),
);
const anyString = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 30 }), fc.string({ unit: 'binary', maxLength: 30 }), printableAscii);

const garbageId = fc.oneof(
  anyString.map((s) => encodeURIComponent(s) || 'x'),
  fc.uuid().map((u) => u.toUpperCase()),
  fc.uuid().map((u) => u.replaceAll('-', '')),
  fc.uuid().map((u) => `${u}0`),
  fc.constantFrom('00000000-0000-0000-0000-000000000000', 'null', 'undefined', '..%2F..%2Fetc', '%00', '1e308', '-1'),
);
const idRef = (kind: 'customer' | 'order'): fc.Arbitrary<IdRef> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.nat().map((index) => ({ kind, index })) },
    { weight: 2, arbitrary: fc.uuid().map((value) => ({ kind: 'literal' as const, value })) },
    { weight: 2, arbitrary: garbageId.map((value) => ({ kind: 'literal' as const, value })) },
  );

const amount = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 1, max: 50_000 }) },
  { weight: 1, arbitrary: fc.constantFrom(0, -1, -100, 0.5, 1e300, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, 2 ** 63, -0) },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.oneof(anyString, fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 2 }), fc.constant({})) },
);
const currency = fc.oneof(
  { weight: 5, arbitrary: fc.constant('USD') },
  { weight: 1, arbitrary: fc.constantFrom('EUR', 'usd', 'US', 'USDD', '', '123', 'XXX') },
  { weight: 1, arbitrary: anyString },
);
const money = fc.oneof(
  { weight: 6, arbitrary: fc.record({ amount, currency }) },
  { weight: 1, arbitrary: fc.record({ amount, currency }, { requiredKeys: [] }) },
  { weight: 1, arbitrary: fc.record({ amount, currency, extra: fc.jsonValue({ maxDepth: 2 }) }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
);

/** Mutates a valid body: drop a property, add an unknown one, or replace a value by anything. */
function mutated(valid: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 6, arbitrary: valid },
    {
      weight: 1,
      arbitrary: fc.tuple(valid, fc.nat()).map(([body, i]) => {
        const keys = Object.keys(body);
        const copy = { ...body };
        delete copy[keys[i % keys.length]!];
        return copy;
      }),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(valid, fc.string({ minLength: 1, maxLength: 10 }), fc.jsonValue({ maxDepth: 1 }))
        .map(([body, key, value]) => ({ ...body, [key]: value })),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(valid, fc.nat(), fc.jsonValue({ maxDepth: 2 })).map(([body, i, value]) => {
        const keys = Object.keys(body);
        return { ...body, [keys[i % keys.length]!]: value };
      }),
    },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  );
}

const contentType = fc.oneof(
  { weight: 8, arbitrary: fc.constant('application/json') },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      'application/json; charset=utf-8',
      'text/plain',
      'application/x-www-form-urlencoded',
      'application/xml',
      'multipart/form-data; boundary=x',
      'application/json; charset=latin1',
      '*/*',
    ),
  },
);

function bodyRequest(
  label: string,
  path: string,
  body: fc.Arbitrary<unknown>,
  extraHeaders: fc.Arbitrary<Record<string, string>>,
  customer?: fc.Arbitrary<IdRef>,
): fc.Arbitrary<FuzzRequest> {
  return fc
    .record({
      body,
      contentType,
      extra: extraHeaders,
      rawMode: fc.oneof(
        { weight: 9, arbitrary: fc.constant('json' as const) },
        { weight: 1, arbitrary: fc.constantFrom('broken' as const, 'empty' as const, 'text' as const) },
      ),
      text: anyString,
      customer: customer ?? fc.constant(undefined),
    })
    .map(({ body: json, contentType: type, extra, rawMode, text, customer: ref }): FuzzRequest => {
      const headers = { 'content-type': type, ...extra };
      const base = { label, method: 'POST', path, headers, ...(ref ? { customer: ref } : {}) };
      if (rawMode === 'broken')
        return { ...base, label: `${label} (broken JSON)`, raw: `${JSON.stringify(json) ?? ''}`.slice(0, -1) + text + '{' };
      if (rawMode === 'empty') return { ...base, label: `${label} (empty body)`, raw: '' };
      if (rawMode === 'text') return { ...base, label: `${label} (text body)`, raw: text };
      return { ...base, json };
    });
}

export function fuzzRequests(options: FuzzOptions): fc.Arbitrary<FuzzRequest> {
  const customerBody = mutated(
    fc.record({
      name: fc.oneof(
        fc.string({ minLength: 1, maxLength: 40 }),
        fc.string({ unit: 'grapheme', minLength: 0, maxLength: 220 }),
        fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 40 }),
        fc.constantFrom('nul\u0000inside', 'tab\tinside', '\u007f'),
      ),
      creditLimit: money,
    }),
  );
  const orderBody = mutated(fc.record({ customerId: fc.constant('{customer}'), total: money }));
  const idempotency = fc.oneof(
    { weight: 3, arbitrary: fc.constant({}) },
    { weight: 3, arbitrary: fc.nat({ max: 40 }).map((n) => ({ 'idempotency-key': `fuzz-key-${n}` })) },
    { weight: 1, arbitrary: headerValue.map((v) => ({ 'idempotency-key': v })) },
  );
  const admin = fc.oneof(
    { weight: 2, arbitrary: fc.constant({ authorization: `Bearer ${options.adminToken}` }) },
    { weight: 1, arbitrary: fc.constant({}) },
    { weight: 1, arbitrary: headerValue.map((v) => ({ authorization: v })) },
    { weight: 1, arbitrary: headerValue.map((v) => ({ authorization: `Bearer ${v}` })) },
  );
  const traceparent = fc.oneof(
    { weight: 4, arbitrary: fc.constant({}) },
    { weight: 1, arbitrary: headerValue.map((v) => ({ traceparent: v })) },
  );
  const queryPart = fc.oneof(
    fc.nat({ max: 2000 }).map((n) => `limit=${n}`),
    anyString.map((s) => `limit=${encodeURIComponent(s)}`),
    anyString.map((s) => `cursor=${encodeURIComponent(s)}`),
    fc.uuid().map((u) => `customerId=${u}`),
    anyString.map((s) => `customerId=${encodeURIComponent(s)}`),
    fc.tuple(fc.string({ minLength: 1, maxLength: 8 }), anyString).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`),
    fc.constantFrom('limit=1&limit=2', 'limit', '=', '&&', 'limit=%', 'cursor=', 'useCase=customer.reserve-credit', 'useCase=../x'),
  );
  const query = fc.array(queryPart, { maxLength: 3 }).map((parts) => parts.join('&'));
  const oversized = fc
    .record({
      size: fc.integer({ min: options.bodyLimitBytes + 1, max: options.bodyLimitBytes * 4 }),
      path: fc.constantFrom('/customers', '/orders', '/admin/dead-letters/redrive'),
    })
    .map(({ size, path }): FuzzRequest => ({
      label: `POST ${path} (oversized)`,
      method: 'POST',
      path,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${options.adminToken}` },
      raw: JSON.stringify({ name: 'x'.repeat(size), creditLimit: { amount: 1, currency: 'USD' } }),
    }));
  const anyMethod = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD');
  const segment = fc.oneof(
    fc.constantFrom('orders', 'customers', 'admin', 'health', 'dead-letters', 'cancel', 'redrive', 'docs', 'openapi.json', '', '..', '.'),
    anyString.map((s) => encodeURIComponent(s)),
  );
  const randomRoute = fc
    .record({
      method: anyMethod,
      segments: fc.array(segment, { minLength: 1, maxLength: 4 }),
      body: fc.option(fc.jsonValue({ maxDepth: 2 })),
    })
    .map(({ method, segments, body }): FuzzRequest => ({
      label: `${method} random path`,
      method,
      path: `/${segments.join('/')}`,
      headers: body !== null && method !== 'GET' && method !== 'HEAD' ? { 'content-type': 'application/json' } : {},
      ...(body !== null && method !== 'GET' && method !== 'HEAD' ? { json: body } : {}),
    }));
  const withHeaders = (
    label: string,
    method: string,
    path: string,
    headers: fc.Arbitrary<Record<string, string>>,
    id?: fc.Arbitrary<IdRef>,
    q?: fc.Arbitrary<string>,
  ) =>
    fc.record({ headers, id: id ?? fc.constant(undefined), query: q ?? fc.constant('') }).map((r): FuzzRequest => ({
      label,
      method,
      path,
      headers: r.headers,
      ...(r.id ? { id: r.id } : {}),
      ...(r.query ? { query: r.query } : {}),
    }));

  return fc.oneof(
    {
      weight: 14,
      arbitrary: bodyRequest(
        'POST /orders',
        '/orders',
        orderBody,
        fc.tuple(idempotency, traceparent).map(([a, b]) => ({ ...a, ...b })),
        idRef('customer'),
      ),
    },
    { weight: 8, arbitrary: bodyRequest('POST /customers', '/customers', customerBody, fc.constant({})) },
    { weight: 6, arbitrary: withHeaders('GET /orders/:id', 'GET', '/orders/{id}', fc.constant({}), idRef('order')) },
    { weight: 6, arbitrary: withHeaders('POST /orders/:id/cancel', 'POST', '/orders/{id}/cancel', traceparent, idRef('order')) },
    { weight: 5, arbitrary: withHeaders('GET /customers/:id', 'GET', '/customers/{id}', fc.constant({}), idRef('customer')) },
    { weight: 5, arbitrary: withHeaders('GET /orders', 'GET', '/orders', fc.constant({}), undefined, query) },
    { weight: 3, arbitrary: withHeaders('GET /admin/dead-letters', 'GET', '/admin/dead-letters', admin, undefined, query) },
    {
      weight: 3,
      arbitrary: bodyRequest(
        'POST /admin/dead-letters/redrive',
        '/admin/dead-letters/redrive',
        mutated(
          fc.oneof(
            fc.record({ all: fc.constant(true) }),
            fc.record({ useCase: fc.constantFrom('customer.reserve-credit', 'order.approve-order', 'nope', 'a.b') }),
            fc.record({ messageId: fc.uuid() }),
          ),
        ),
        admin,
      ),
    },
    { weight: 2, arbitrary: withHeaders('GET /admin/deliveries/stats', 'GET', '/admin/deliveries/stats', admin) },
    {
      weight: 2,
      arbitrary: withHeaders(
        'GET /health/*',
        'GET',
        '/health/{id}',
        fc.constant({}),
        fc.constantFrom('live', 'ready', 'x').map((value) => ({ kind: 'literal' as const, value })),
      ),
    },
    { weight: 2, arbitrary: oversized },
    { weight: 6, arbitrary: randomRoute },
  );
}
