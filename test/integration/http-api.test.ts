import { createServer } from 'node:net';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getOrder, placeOrder, registerCustomer, startTestSystem, waitForStatus, type TestSystem } from '../support/system.js';

/**
 * The HTTP contract of the API: exact response shapes, status codes, problem+json errors with
 * stable codes, idempotent order placement, pagination, the OpenAPI document and health checks.
 * Every refused request is also checked to have written nothing.
 */

const USD = (amount: number) => ({ amount, currency: 'USD' });
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const MISSING_ID = '00000000-0000-4000-8000-000000000000';

let system: TestSystem;
let customerId: string;

beforeAll(async () => {
  system = await startTestSystem({ env: { EVENT_BUS: 'memory', SAGA_STYLE: 'choreography' } });
  customerId = await registerCustomer(system.app, USD(1_000_000), 'HTTP contract customer');
});

afterAll(async () => {
  await system?.close();
});

async function rowCounts(): Promise<Record<string, number>> {
  const count = async (schema: string, table: string) => {
    const db = system.runtime.modules.find((m) => m.db.schema === schema)!.db;
    const [row] = await db.query<{ n: number }>(`select count(*)::int as n from ${schema}.${table}`);
    return row?.n ?? -1;
  };
  const tables = [
    ['ordering', 'orders'],
    ['ordering', 'outbox'],
    ['ordering', 'idempotency_keys'],
    ['customers', 'customers'],
    ['customers', 'outbox'],
  ] as const;
  return Object.fromEntries(await Promise.all(tables.map(async ([s, t]) => [`${s}.${t}`, await count(s, t)])));
}

/** The rows only requests write; the outboxes also grow while earlier orders' sagas run. */
function requestWrites(counts: Record<string, number>): Record<string, number | undefined> {
  return {
    orders: counts['ordering.orders'],
    idempotencyKeys: counts['ordering.idempotency_keys'],
    customers: counts['customers.customers'],
  };
}

function expectProblem(res: LightMyRequestResponse, status: number, code: string): Record<string, unknown> {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = res.json() as Record<string, unknown>;
  expect(body).toMatchObject({ status, code, type: expect.any(String), title: expect.any(String) });
  return body;
}

interface Malformed {
  readonly name: string;
  readonly body: string | (() => string);
  readonly contentType?: string;
  readonly status: number;
  readonly code: string;
  /** A path the problem's errors must name. */
  readonly path?: string;
}

const order = (fields: Record<string, unknown>) => () => JSON.stringify({ customerId, total: USD(100), ...fields });
const total = (t: unknown) => order({ total: t });

// Refused before any use case runs; none of them may leave a row behind.
const MALFORMED_ORDERS: readonly Malformed[] = [
  { name: 'invalid JSON', body: '{"customerId": ', status: 400, code: 'MALFORMED_JSON' },
  { name: 'an empty body with a JSON content type', body: '', status: 400, code: 'MALFORMED_JSON' },
  { name: 'a JSON array', body: '[]', status: 400, code: 'VALIDATION_FAILED' },
  {
    name: 'an amount as a string',
    body: total({ amount: '100', currency: 'USD' }),
    status: 400,
    code: 'VALIDATION_FAILED',
    path: '/total/amount',
  },
  { name: 'a negative amount', body: total(USD(-100)), status: 400, code: 'VALIDATION_FAILED', path: '/total/amount' },
  { name: 'a zero amount', body: total(USD(0)), status: 400, code: 'VALIDATION_FAILED', path: '/total/amount' },
  { name: 'a fractional amount', body: total(USD(1.5)), status: 400, code: 'VALIDATION_FAILED', path: '/total/amount' },
  {
    name: 'an unsafe integer amount',
    body: () => `{"customerId":"${customerId}","total":{"amount":9007199254740992,"currency":"USD"}}`,
    status: 400,
    code: 'VALIDATION_FAILED',
    path: '/total/amount',
  },
  {
    name: 'an amount of 1e300',
    body: () => `{"customerId":"${customerId}","total":{"amount":1e300,"currency":"USD"}}`,
    status: 400,
    code: 'VALIDATION_FAILED',
    path: '/total/amount',
  },
  {
    name: 'a lower-case currency',
    body: total({ amount: 100, currency: 'usd' }),
    status: 400,
    code: 'VALIDATION_FAILED',
    path: '/total/currency',
  },
  {
    name: 'a two-letter currency',
    body: total({ amount: 100, currency: 'US' }),
    status: 400,
    code: 'VALIDATION_FAILED',
    path: '/total/currency',
  },
  {
    name: 'three capital letters that are not an ISO 4217 currency',
    body: total({ amount: 100, currency: 'XYZ' }),
    status: 400,
    code: 'VALIDATION_FAILED',
    path: '/total/currency',
  },
  { name: 'an unknown top-level field', body: order({ coupon: 'FREE' }), status: 400, code: 'VALIDATION_FAILED', path: '/coupon' },
  {
    name: 'an unknown field inside total',
    body: total({ amount: 100, currency: 'USD', discount: 5 }),
    status: 400,
    code: 'VALIDATION_FAILED',
    path: '/total/discount',
  },
  { name: 'a missing customerId', body: JSON.stringify({ total: USD(100) }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'a missing total', body: () => JSON.stringify({ customerId }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'a missing currency', body: total({ amount: 100 }), status: 400, code: 'VALIDATION_FAILED', path: '/total' },
  {
    name: 'a customerId that is not a UUID',
    body: order({ customerId: 'customer-1' }),
    status: 400,
    code: 'VALIDATION_FAILED',
    path: '/customerId',
  },
  { name: 'a body over BODY_LIMIT_BYTES', body: order({ padding: 'x'.repeat(20 * 1024) }), status: 413, code: 'PAYLOAD_TOO_LARGE' },
  { name: 'a text/plain body', body: order({}), contentType: 'text/plain', status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
];

const customer = (fields: Record<string, unknown>) => JSON.stringify({ name: 'Ada', creditLimit: USD(100), ...fields });

const MALFORMED_CUSTOMERS: readonly Malformed[] = [
  { name: 'invalid JSON', body: '{"name":', status: 400, code: 'MALFORMED_JSON' },
  {
    name: 'a negative credit limit',
    body: customer({ creditLimit: USD(-1) }),
    status: 400,
    code: 'VALIDATION_FAILED',
    path: '/creditLimit/amount',
  },
  {
    name: 'a fractional credit limit',
    body: customer({ creditLimit: USD(0.5) }),
    status: 400,
    code: 'VALIDATION_FAILED',
    path: '/creditLimit/amount',
  },
  {
    name: 'a credit limit in a currency that is not ISO 4217',
    body: customer({ creditLimit: { amount: 100, currency: 'SSO' } }),
    status: 400,
    code: 'VALIDATION_FAILED',
    path: '/creditLimit/currency',
  },
  {
    name: 'a credit limit as a string',
    body: customer({ creditLimit: { amount: '100', currency: 'USD' } }),
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  { name: 'an unknown field', body: customer({ vip: true }), status: 400, code: 'VALIDATION_FAILED', path: '/vip' },
  { name: 'an empty name', body: customer({ name: '' }), status: 400, code: 'VALIDATION_FAILED', path: '/name' },
  { name: 'a name of spaces only', body: customer({ name: '   ' }), status: 422, code: 'INVALID_CUSTOMER_NAME' },
  { name: 'a text/plain body', body: customer({}), contentType: 'text/plain', status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
];

describe('malformed requests are refused with a problem and write nothing', () => {
  const cases = [
    ...MALFORMED_ORDERS.map((c) => ({ ...c, url: '/orders' })),
    ...MALFORMED_CUSTOMERS.map((c) => ({ ...c, url: '/customers' })),
  ];
  it.each(cases)('POST $url with $name → $status $code', async ({ url, body, contentType, status, code, path }) => {
    const before = await rowCounts();
    const payload = typeof body === 'function' ? body() : body;
    const res = await system.app.inject({
      method: 'POST',
      url,
      payload,
      headers: { 'content-type': contentType ?? 'application/json', 'idempotency-key': `malformed-${url}-${code}-${payload.length}` },
    });
    const problem = expectProblem(res, status, code);
    expect(problem['instance']).toBe(url);
    if (path) expect((problem['errors'] as Array<{ path: string }>).map((e) => e.path)).toContain(path);
    expect(await rowCounts()).toEqual(before);
  });
});

it.each([
  ['/orders', { customerId: '01a217bd-4a94-717b-8065-a430e3e8be76', total: { amount: 100, currency: 'XYZ' } }, 'total.currency'],
  ['/customers', { name: 'Ada', creditLimit: { amount: 100, currency: 'usd' } }, 'creditLimit.currency'],
])('POST %s names an unknown currency in a sentence', async (url, payload, field) => {
  const res = await system.app.inject({ method: 'POST', url, payload });
  expect(expectProblem(res, 400, 'VALIDATION_FAILED')).toMatchObject({ detail: `${field} must be an ISO 4217 currency code such as USD` });
});

describe('customers', () => {
  it('POST /customers answers 201 with the customer and its Location', async () => {
    const res = await system.app.inject({
      method: 'POST',
      url: '/customers',
      payload: { name: 'Grace', creditLimit: { amount: 2_500, currency: 'EUR' } },
    });
    expect(res.statusCode).toBe(201);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const body = res.json() as { id: string };
    expect(body).toEqual({
      id: expect.stringMatching(UUID),
      name: 'Grace',
      creditLimit: { amount: 2_500, currency: 'EUR' },
      availableCredit: { amount: 2_500, currency: 'EUR' },
    });
    expect(res.headers['location']).toBe(`/customers/${body.id}`);

    const got = await system.app.inject({ method: 'GET', url: `/customers/${body.id}` });
    expect(got.statusCode).toBe(200);
    expect(got.json()).toEqual(body);
    // Ids are case-insensitive on the way in.
    expect((await system.app.inject({ method: 'GET', url: `/customers/${body.id.toUpperCase()}` })).json()).toEqual(body);
  });

  it('GET /customers/:id answers 404 for an unknown id and 400 for a malformed one', async () => {
    expectProblem(await system.app.inject({ method: 'GET', url: `/customers/${MISSING_ID}` }), 404, 'CUSTOMER_NOT_FOUND');
    const malformed = expectProblem(await system.app.inject({ method: 'GET', url: '/customers/42' }), 400, 'VALIDATION_FAILED');
    expect(malformed).toMatchObject({ detail: 'id must be a UUID', errors: [{ path: '/id', message: 'must be a UUID' }] });
  });
});

describe('orders', () => {
  it('POST /orders answers 202 with the PENDING order and its Location; GET /orders/:id shows it with its saga', async () => {
    const res = await system.app.inject({ method: 'POST', url: '/orders', payload: { customerId, total: USD(1_234) } });
    expect(res.statusCode).toBe(202);
    const body = res.json() as { id: string };
    expect(body).toEqual({ id: expect.stringMatching(UUID), customerId, total: USD(1_234), status: 'PENDING' });
    expect(res.headers['location']).toBe(`/orders/${body.id}`);
    expect(res.headers['idempotent-replayed']).toBeUndefined();

    const approved = await waitForStatus(system.app, body.id, ['APPROVED', 'REJECTED']);
    const got = await system.app.inject({ method: 'GET', url: `/orders/${body.id}` });
    expect(got.statusCode).toBe(200);
    expect(got.json()).toEqual({
      id: body.id,
      customerId,
      total: USD(1_234),
      status: 'APPROVED',
      saga: {
        style: 'choreography',
        state: 'APPROVED',
        steps: approved.saga?.steps.map(() => ({ name: expect.any(String), at: expect.any(String), outcome: expect.any(String) })),
      },
    });
  });

  it('GET /orders/:id answers 404 for an unknown order and 400 for a malformed id', async () => {
    expectProblem(await system.app.inject({ method: 'GET', url: `/orders/${MISSING_ID}` }), 404, 'ORDER_NOT_FOUND');
    const malformed = expectProblem(await system.app.inject({ method: 'GET', url: '/orders/not-a-uuid' }), 400, 'VALIDATION_FAILED');
    expect(malformed).toMatchObject({ detail: 'id must be a UUID' });
  });

  it('a rejected order carries its reason', async () => {
    const poor = await registerCustomer(system.app, USD(10));
    const id = await placeOrder(system.app, poor, USD(11));
    await waitForStatus(system.app, id, ['REJECTED']);
    const res = await system.app.inject({ method: 'GET', url: `/orders/${id}` });
    expect(res.json()).toMatchObject({ id, status: 'REJECTED', rejectionReason: 'CREDIT_LIMIT_EXCEEDED' });
  });

  it('POST /orders/:id/cancel: 202 for an APPROVED order, 409 ORDER_NOT_CANCELLABLE after that and for a REJECTED one, 404 for an unknown one', async () => {
    const id = await placeOrder(system.app, customerId, USD(50));
    await waitForStatus(system.app, id, ['APPROVED']);
    const before = await rowCounts();
    const res = await system.app.inject({ method: 'POST', url: `/orders/${id}/cancel` });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ id, customerId, total: USD(50), status: 'CANCELLED' });
    expect((await getOrder(system.app, id)).status).toBe('CANCELLED');

    const again = expectProblem(await system.app.inject({ method: 'POST', url: `/orders/${id}/cancel` }), 409, 'ORDER_NOT_CANCELLABLE');
    expect(again['detail']).toMatch(/CANCELLED/);
    const poor = await registerCustomer(system.app, USD(1));
    const rejected = await placeOrder(system.app, poor, USD(2));
    await waitForStatus(system.app, rejected, ['REJECTED']);
    expectProblem(await system.app.inject({ method: 'POST', url: `/orders/${rejected}/cancel` }), 409, 'ORDER_NOT_CANCELLABLE');
    expectProblem(await system.app.inject({ method: 'POST', url: `/orders/${MISSING_ID}/cancel` }), 404, 'ORDER_NOT_FOUND');
    expect((await rowCounts())['ordering.orders']).toBe(before['ordering.orders']! + 1);
  });
});

describe('GET /orders: keyset pagination, newest first', () => {
  let listCustomer: string;
  const placed: string[] = [];

  beforeAll(async () => {
    listCustomer = await registerCustomer(system.app, USD(1_000_000), 'Lister');
    // Sequential: ids are time-ordered, so this is the creation order the list must reverse.
    for (let i = 0; i < 25; i++) placed.push(await placeOrder(system.app, listCustomer, USD(100 + i)));
    await placeOrder(system.app, customerId, USD(1));
  });

  const list = (query: string) => system.app.inject({ method: 'GET', url: `/orders?${query}` });

  it('walks every order of a customer exactly once across pages', async () => {
    const seen: string[] = [];
    const pages: number[] = [];
    let cursor: string | null = null;
    do {
      const res = await list(`customerId=${listCustomer}&limit=10${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.statusCode).toBe(200);
      const body = res.json() as { items: Array<Record<string, unknown>>; nextCursor: string | null };
      expect(Object.keys(body).sort()).toEqual(['items', 'nextCursor']);
      for (const item of body.items) {
        expect(item).toEqual({
          id: expect.stringMatching(UUID),
          customerId: listCustomer,
          total: expect.objectContaining({ currency: 'USD' }),
          status: expect.any(String),
        });
      }
      seen.push(...body.items.map((i) => i['id'] as string));
      pages.push(body.items.length);
      cursor = body.nextCursor;
    } while (cursor !== null && pages.length < 10);
    expect(pages).toEqual([10, 10, 5]);
    expect(seen).toEqual([...placed].reverse());
  });

  it('without a customer filter lists every customer, and defaults to 20 items', async () => {
    const res = await list('');
    const body = res.json() as { items: Array<{ customerId: string }>; nextCursor: string | null };
    expect(body.items).toHaveLength(20);
    expect(body.nextCursor).toEqual(expect.any(String));
    expect(body.items[0]?.customerId).toBe(customerId);
  });

  it('accepts limits from 1 to 100 and refuses others', async () => {
    const one = (await list(`customerId=${listCustomer}&limit=1`)).json() as { items: Array<{ id: string }>; nextCursor: string | null };
    expect(one.items.map((i) => i.id)).toEqual([placed.at(-1)]);
    expect(one.nextCursor).not.toBeNull();
    const hundred = (await list(`customerId=${listCustomer}&limit=100`)).json() as { items: unknown[]; nextCursor: string | null };
    expect(hundred.items).toHaveLength(25);
    expect(hundred.nextCursor).toBeNull();
    expectProblem(await list(`customerId=${listCustomer}&limit=0`), 422, 'INVALID_LIMIT');
    expectProblem(await list(`customerId=${listCustomer}&limit=101`), 422, 'INVALID_LIMIT');
  });

  it.each(['0', '101', '999', '1000', '-1', '1.5', 'abc', '', '1e2', ' 5', '9'.repeat(400)])(
    'refuses limit=%j with one code and one sentence',
    async (limit) => {
      const res = await list(`customerId=${listCustomer}&limit=${encodeURIComponent(limit)}`);
      expectProblem(res, 422, 'INVALID_LIMIT');
      expect(res.json()).toMatchObject({ detail: 'limit must be an integer from 1 to 100' });
    },
  );

  it('refuses a cursor it did not issue, a malformed customerId and unknown parameters', async () => {
    expectProblem(await list(`customerId=${listCustomer}&cursor=not-a-cursor`), 422, 'INVALID_CURSOR');
    expectProblem(await list(`cursor=${Buffer.from('hello').toString('base64url')}`), 422, 'INVALID_CURSOR');
    expect(expectProblem(await list('customerId=nobody'), 400, 'VALIDATION_FAILED')).toMatchObject({ detail: 'customerId must be a UUID' });
    expectProblem(await list('sort=asc'), 400, 'VALIDATION_FAILED');
  });
});

describe('Idempotency-Key', () => {
  it('replays the first order for the same key and body, and refuses the key with another body', async () => {
    const headers = { 'idempotency-key': `key-${Date.now()}` };
    const first = await system.app.inject({ method: 'POST', url: '/orders', payload: { customerId, total: USD(77) }, headers });
    expect(first.statusCode).toBe(202);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    const firstId = (first.json() as { id: string }).id;
    const before = await rowCounts();

    const replay = await system.app.inject({ method: 'POST', url: '/orders', payload: { customerId, total: USD(77) }, headers });
    expect(replay.statusCode).toBe(202);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.headers['location']).toBe(`/orders/${firstId}`);
    expect((replay.json() as { id: string }).id).toBe(firstId);
    // The same customer id in upper case is the same request.
    const upper = await system.app.inject({
      method: 'POST',
      url: '/orders',
      payload: { customerId: customerId.toUpperCase(), total: USD(77) },
      headers,
    });
    expect((upper.json() as { id: string }).id).toBe(firstId);

    const reused = await system.app.inject({ method: 'POST', url: '/orders', payload: { customerId, total: USD(78) }, headers });
    expectProblem(reused, 409, 'IDEMPOTENCY_KEY_REUSED');
    expect((await rowCounts())['ordering.orders']).toBe(before['ordering.orders']);
    expect((await rowCounts())['ordering.idempotency_keys']).toBe(before['ordering.idempotency_keys']);
  });

  it('creates one order for concurrent requests with the same key', async () => {
    const before = await rowCounts();
    const headers = { 'idempotency-key': `concurrent-${Date.now()}` };
    const responses = await Promise.all(
      Array.from({ length: 10 }, () =>
        system.app.inject({ method: 'POST', url: '/orders', payload: { customerId, total: USD(5) }, headers }),
      ),
    );
    expect(responses.map((r) => r.statusCode)).toEqual(Array(10).fill(202));
    expect(new Set(responses.map((r) => (r.json() as { id: string }).id)).size).toBe(1);
    expect(responses.filter((r) => r.headers['idempotent-replayed'] === undefined)).toHaveLength(1);
    const after = await rowCounts();
    expect(after['ordering.orders']).toBe(before['ordering.orders']! + 1);
    expect(after['ordering.idempotency_keys']).toBe(before['ordering.idempotency_keys']! + 1);
  });

  it('refuses a key that is not 1 to 200 visible ASCII characters', async () => {
    const before = await rowCounts();
    for (const key of ['has space', 'x'.repeat(201), 'ünïcode']) {
      const res = await system.app.inject({
        method: 'POST',
        url: '/orders',
        payload: { customerId, total: USD(5) },
        headers: { 'idempotency-key': key },
      });
      expectProblem(res, 422, 'INVALID_IDEMPOTENCY_KEY');
    }
    expect(requestWrites(await rowCounts())).toEqual(requestWrites(before));
  });
});

describe('documentation', () => {
  it('GET /openapi.json is an OpenAPI 3.1 document of every route', async () => {
    const res = await system.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json() as {
      openapi: string;
      info: { title: string; version: string };
      paths: Record<
        string,
        Record<
          string,
          {
            parameters?: Array<{ in: string; name: string; required?: boolean }>;
            responses: Record<string, unknown>;
            requestBody?: unknown;
          }
        >
      >;
    };
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(doc.info).toEqual({
      title: expect.any(String),
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      license: { name: 'MIT', identifier: 'MIT' },
    });
    const operations = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(operations).toEqual(
      expect.arrayContaining([
        'POST /customers',
        'GET /customers/{id}',
        'POST /orders',
        'GET /orders',
        'GET /orders/{id}',
        'POST /orders/{id}/cancel',
        'GET /admin/dead-letters',
        'POST /admin/dead-letters/redrive',
        'GET /admin/deliveries/stats',
        'GET /health/live',
        'GET /health/ready',
      ]),
    );
    for (const [path, item] of Object.entries(doc.paths)) {
      const templated = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      for (const [method, operation] of Object.entries(item)) {
        expect(Object.keys(operation.responses).length, `${method} ${path} documents its responses`).toBeGreaterThan(0);
        for (const name of templated) {
          expect(operation.parameters, `${method} ${path} declares {${name}}`).toEqual(
            expect.arrayContaining([expect.objectContaining({ in: 'path', name, required: true })]),
          );
        }
      }
    }
    expect(doc.paths['/orders']?.['post']?.requestBody).toMatchObject({
      required: true,
      content: { 'application/json': { schema: { additionalProperties: false } } },
    });
    expect(Object.keys(doc.paths['/orders']?.['post']?.responses ?? {})).toEqual(expect.arrayContaining(['202', '400', '409']));
    // The probes are documented (operators and load balancers call them); the document itself is not.
    expect(Object.keys(doc.paths)).not.toContain('/openapi.json');
    // Every reference points at something the document defines.
    const text = JSON.stringify(doc);
    for (const [, ref] of text.matchAll(/"\$ref":"#\/([^"]+)"/g)) {
      const target = ref!.split('/').reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], doc);
      expect(target, `#/${ref}`).toBeDefined();
    }
  });

  it('GET /docs serves the documentation page', async () => {
    const res = await system.app.inject({ method: 'GET', url: '/docs' });
    const page = res.statusCode === 302 ? await system.app.inject({ method: 'GET', url: String(res.headers['location']) }) : res;
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toMatch(/<html/i);
  });
});

describe('health and unknown routes', () => {
  it('GET /health/live answers ok', async () => {
    const res = await system.app.inject({ method: 'GET', url: '/health/live' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('GET /health/ready answers 200 with each check', async () => {
    const res = await system.app.inject({ method: 'GET', url: '/health/ready' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok', checks: { postgres: { status: 'ok' }, memory: { status: 'ok' } } });
  });

  it('an unknown route answers a 404 problem', async () => {
    const res = await system.app.inject({ method: 'GET', url: '/nothing/here?x=1' });
    const body = expectProblem(res, 404, 'ROUTE_NOT_FOUND');
    expect(body['detail']).toBe('No route GET /nothing/here');
    expectProblem(await system.app.inject({ method: 'DELETE', url: '/orders' }), 404, 'ROUTE_NOT_FOUND');
  });

  it('GET /health/ready answers 503 NOT_READY when the transport is down', async () => {
    const port = await closedPort();
    const down = await startTestSystem({
      env: { EVENT_BUS: 'bullmq', REDIS_URL: `redis://127.0.0.1:${port}` },
      consume: false,
      jobs: false,
    });
    try {
      const res = await down.app.inject({ method: 'GET', url: '/health/ready' });
      const body = expectProblem(res, 503, 'NOT_READY');
      // Which dependency failed, never why (the driver's message, with hosts and ports, is in the log only).
      expect(body['checks']).toEqual({ postgres: { status: 'ok' }, redis: { status: 'unavailable' } });
      expect((await down.app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    } finally {
      await down.close();
    }
  });
});

/** A local port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}
