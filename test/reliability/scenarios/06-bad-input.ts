import fc from 'fast-check';
import type pg from 'pg';
import { uuidv7 } from '../../../src/shared/kernel/index.js';
import { request } from '../harness/http.js';
import { assertSettled } from '../harness/invariants.js';
import { emptyStats, registerCustomers } from '../harness/load.js';
import { fuzzRequests, type FuzzRequest, type IdRef } from '../harness/request-arbitraries.js';
import type { Scenario, ScenarioContext } from '../harness/scenario.js';
import { count, traceparentOf, withDatabase } from '../harness/sql.js';
import { assert, AssertionFailure, waitFor } from '../harness/util.js';

const BODY_LIMIT_BYTES = 16 * 1024;
const ADMIN_TOKEN = 'reliability-admin-token-0123456789';

// ---- HTTP ---------------------------------------------------------------------------------------

interface Counters {
  customers: number;
  orders: number;
  keys: number;
  apiMessages: number;
  cancelled: number;
  deadLetters: number;
}

async function counters(client: pg.Client): Promise<Counters> {
  const r = await client.query<Counters>(`select
    (select count(*)::int from customers.customers) as customers,
    (select count(*)::int from ordering.orders) as orders,
    (select count(*)::int from ordering.idempotency_keys) as keys,
    (select count(*)::int from ordering.outbox where produced_by like '%.api') + (select count(*)::int from customers.outbox where produced_by like '%.api') as "apiMessages",
    (select count(*)::int from ordering.orders where status = 'CANCELLED') as cancelled,
    (select count(*)::int from ordering.inbox where status = 'dead') + (select count(*)::int from customers.inbox where status = 'dead') as "deadLetters"`);
  return r.rows[0]!;
}

function diff(before: Counters, after: Counters): Partial<Counters> {
  const out: Partial<Counters> = {};
  for (const key of Object.keys(before) as Array<keyof Counters>) if (after[key] !== before[key]) out[key] = after[key] - before[key];
  return out;
}

/** What an accepted request may write; anything else (and anything at all for a refused one) is a failure. */
function expectedWrites(method: string, pathname: string, status: number, replayed: boolean, hasKey: boolean): Partial<Counters> {
  if (method === 'POST' && pathname === '/customers' && status === 201) return { customers: 1 };
  if (method === 'POST' && pathname === '/orders' && status === 202)
    return replayed ? {} : { orders: 1, apiMessages: 1, ...(hasKey ? { keys: 1 } : {}) };
  if (method === 'POST' && /^\/orders\/[^/]+\/cancel$/.test(pathname) && status === 202) return { cancelled: 1, apiMessages: 1 };
  return {};
}

interface Known {
  customers: string[];
  orders: string[];
}

function resolveId(ref: IdRef | undefined, known: Known): string {
  if (!ref) return '';
  if (ref.kind === 'literal') return ref.value;
  const list = ref.kind === 'customer' ? known.customers : known.orders;
  return list.length === 0 ? uuidv7() : list[ref.index % list.length]!;
}

interface HttpFuzzStats {
  requests: number;
  byStatus: Record<string, number>;
  byLabel: Record<string, Record<string, number>>;
  accepted: number;
}

async function fuzzHttp(ctx: ScenarioContext, baseUrl: string, client: pg.Client, known: Known, numRuns: number): Promise<HttpFuzzStats> {
  const stats: HttpFuzzStats = { requests: 0, byStatus: {}, byLabel: {}, accepted: 0 };
  const property = fc.asyncProperty(
    fuzzRequests({ bodyLimitBytes: BODY_LIMIT_BYTES, adminToken: ADMIN_TOKEN }),
    async (spec: FuzzRequest) => {
      const id = resolveId(spec.id, known);
      const path = spec.path.replace('{id}', id) + (spec.query ? `?${spec.query}` : '');
      let json = spec.json;
      if (
        spec.customer &&
        json &&
        typeof json === 'object' &&
        !Array.isArray(json) &&
        (json as Record<string, unknown>)['customerId'] === '{customer}'
      ) {
        json = { ...(json as Record<string, unknown>), customerId: resolveId(spec.customer, known) };
      }
      const before = await counters(client);
      const attempt = await request(baseUrl, spec.method, path, {
        headers: { ...spec.headers },
        ...(spec.raw !== undefined ? { rawBody: spec.raw } : json !== undefined ? { rawBody: JSON.stringify(json) } : {}),
        timeoutMs: 10_000,
      });
      const after = await counters(client);
      stats.requests++;
      const what = `${spec.method} ${path.slice(0, 200)} [${spec.label}] body=${(spec.raw ?? JSON.stringify(json) ?? '').slice(0, 300)} headers=${JSON.stringify(spec.headers).slice(0, 200)}`;
      if (!attempt.ok) throw new AssertionFailure(`no answer (${attempt.error}${attempt.timedOut ? ', timed out' : ''}) to ${what}`);
      const res = attempt.response;
      stats.byStatus[res.status] = (stats.byStatus[res.status] ?? 0) + 1;
      const label = (stats.byLabel[spec.label] ??= {});
      label[res.status] = (label[res.status] ?? 0) + 1;
      if (res.status >= 500) throw new AssertionFailure(`${res.status} ${res.text.slice(0, 500)} for ${what}`);
      const pathname = new URL(`${baseUrl}${path}`).pathname;
      const written = diff(before, after);
      if (res.status >= 400) {
        if (!res.contentType.startsWith('application/problem+json'))
          throw new AssertionFailure(`${res.status} with content type "${res.contentType}" (not a problem) for ${what}`);
        if (spec.method !== 'HEAD') {
          const body = res.json as { status?: unknown; code?: unknown; title?: unknown; type?: unknown } | undefined;
          if (
            body?.status !== res.status ||
            typeof body.code !== 'string' ||
            typeof body.title !== 'string' ||
            typeof body.type !== 'string'
          ) {
            throw new AssertionFailure(`${res.status} with a malformed problem ${res.text.slice(0, 300)} for ${what}`);
          }
        }
        if (Object.keys(written).length > 0)
          throw new AssertionFailure(`refused with ${res.status} but wrote ${JSON.stringify(written)}: ${what}`);
        return;
      }
      const replayed = res.headers.get('idempotent-replayed') === 'true';
      const expected = expectedWrites(spec.method, pathname, res.status, replayed, spec.headers['idempotency-key'] !== undefined);
      const keys = new Set([...Object.keys(written), ...Object.keys(expected)] as Array<keyof Counters>);
      if ([...keys].some((k) => written[k] !== expected[k])) {
        throw new AssertionFailure(
          `answered ${res.status} and wrote ${JSON.stringify(written)} (expected ${JSON.stringify(expected)}): ${what}`,
        );
      }
      if (Object.keys(expected).length > 0) stats.accepted++;
      const created = res.json as { id?: unknown } | undefined;
      if (spec.method === 'POST' && pathname === '/customers' && res.status === 201 && typeof created?.id === 'string')
        known.customers.push(created.id);
      if (spec.method === 'POST' && pathname === '/orders' && res.status === 202 && typeof created?.id === 'string' && !replayed)
        known.orders.push(created.id);
    },
  );
  await fc.assert(property, { numRuns, seed: ctx.seed, endOnFailure: true, includeErrorInReport: true });
  return stats;
}

// ---- the bus ------------------------------------------------------------------------------------

type Expectation = 'INVALID_ENVELOPE' | 'INVALID_PAYLOAD' | 'MESSAGE_TOO_LARGE' | 'UNROUTABLE_MESSAGE' | 'no-consumer';

interface BusCase {
  readonly label: string;
  readonly target: 'inbox' | 'outbox';
  /** inbox: where the delivery is inserted; outbox: the schema whose outbox gets the row. */
  readonly schema: 'customers' | 'ordering';
  readonly useCase?: string;
  readonly type: string;
  readonly envelope?: unknown;
  readonly outbox?: { readonly traceparent: string; readonly payload: unknown };
  readonly expect: Expectation;
}

const MESSAGE_TYPE = /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+\.v[1-9][0-9]*$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const text = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 20 }), fc.string({ unit: 'binary', maxLength: 20 }));
const notUuid = fc.oneof(
  text.filter((s) => !UUID.test(s)),
  fc.integer(),
  fc.constant(null),
  fc.boolean(),
  fc.array(fc.nat(), { maxLength: 2 }),
);
const notType = fc.oneof(
  text.filter((s) => !MESSAGE_TYPE.test(s)),
  fc.constantFrom('Order.Created.V1', 'order.created', 'order..v1', `${'a.'.repeat(100)}created.v1`),
  fc.integer(),
);
const notDate = fc.oneof(
  fc.constantFrom('yesterday', '2024-02-31T00:00:00Z', '2024-01-01', '1', '', '2024-13-01T00:00:00Z'),
  fc.integer(),
  fc.constant(null),
);
const notTraceparent = fc.oneof(
  text,
  fc.constantFrom('00-00000000000000000000000000000000-0000000000000000-01', '00-abc-def-01'),
  fc.integer(),
);
const notMoney = fc.oneof(
  fc.record({ amount: fc.oneof(text, fc.constant(0.5), fc.constant(1e300), fc.constant(null)), currency: fc.constant('USD') }),
  fc.record({ amount: fc.nat(), currency: fc.oneof(fc.constantFrom('usd', 'US', ''), fc.integer()) }),
  fc.oneof(text, fc.integer(), fc.constant(null)),
);

/** `payload` with one field made invalid for its contract. */
function brokenPayload(valid: Record<string, unknown>, moneyField: string): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.constantFrom('orderId', 'customerId').chain((field) => notUuid.map((v) => ({ ...valid, [field]: v }))),
    notMoney.map((v) => ({ ...valid, [moneyField]: v })),
    fc.constantFrom('orderId', 'customerId', moneyField).map((field) => {
      const copy = { ...valid };
      delete copy[field];
      return copy;
    }),
    fc.oneof(text, fc.integer(), fc.array(fc.nat(), { maxLength: 3 }), fc.constant(null)),
  );
}

function envelopeFor(type: string, payload: unknown): Record<string, unknown> {
  const id = uuidv7();
  return {
    id,
    type,
    occurredAt: new Date().toISOString(),
    correlationId: uuidv7(),
    causationId: null,
    traceparent: traceparentOf(id),
    payload,
  };
}

function busCases(): fc.Arbitrary<BusCase> {
  const orderCreated = { orderId: uuidv7(), customerId: uuidv7(), total: { amount: 100, currency: 'USD' } };
  const creditReserved = { orderId: uuidv7(), customerId: uuidv7(), amount: { amount: 100, currency: 'USD' } };
  const targets = [
    { schema: 'customers' as const, useCase: 'customer.reserve-credit', type: 'order.created.v1', payload: orderCreated, money: 'total' },
    {
      schema: 'ordering' as const,
      useCase: 'order.approve-order',
      type: 'customer.credit-reserved.v1',
      payload: creditReserved,
      money: 'amount',
    },
  ];
  const envelopeField = (field: string, value: fc.Arbitrary<unknown>) => ({ field, value });
  const envelopeBreakers = [
    envelopeField('id', notUuid),
    envelopeField('type', notType),
    envelopeField('occurredAt', notDate),
    envelopeField('correlationId', notUuid),
    envelopeField(
      'causationId',
      notUuid.filter((v) => v !== null),
    ),
    envelopeField('traceparent', notTraceparent),
  ];
  const inboxCase: fc.Arbitrary<BusCase> = fc.constantFrom(...targets).chain((t) => {
    const base = { target: 'inbox' as const, schema: t.schema, useCase: t.useCase, type: t.type };
    return fc.oneof(
      fc
        .oneof(text, fc.integer(), fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }), fc.constant(null), fc.boolean())
        .map((envelope) => ({ ...base, label: 'envelope not an object', envelope, expect: 'INVALID_ENVELOPE' as const })),
      fc.constantFrom(...envelopeBreakers).chain(({ field, value }) =>
        fc
          .oneof(
            value.map((v) => ({ [field]: v })),
            fc.constant({ [field]: undefined }),
          )
          .map((patch) => ({
            ...base,
            label: `envelope ${field} invalid or missing`,
            envelope: { ...envelopeFor(t.type, t.payload), ...patch },
            expect: 'INVALID_ENVELOPE' as const,
          })),
      ),
      fc.constant({
        ...base,
        label: 'payload missing',
        envelope: (({ payload: _p, ...rest }) => rest)(envelopeFor(t.type, t.payload)),
        expect: 'INVALID_ENVELOPE' as const,
      }),
      brokenPayload(t.payload, t.money).map((payload) => ({
        ...base,
        label: 'payload breaks the contract',
        envelope: envelopeFor(t.type, payload),
        expect: 'INVALID_PAYLOAD' as const,
      })),
      fc.integer({ min: 300, max: 700 }).map((kib) => ({
        ...base,
        label: 'oversized message',
        envelope: envelopeFor(t.type, { ...t.payload, padding: 'x'.repeat(kib * 1024) }),
        expect: 'MESSAGE_TOO_LARGE' as const,
      })),
      fc.constant({
        ...base,
        label: 'type its use case does not handle',
        type: 'order.cancelled.v1',
        envelope: envelopeFor('order.cancelled.v1', t.payload),
        expect: 'UNROUTABLE_MESSAGE' as const,
      }),
    );
  });
  const outboxCase: fc.Arbitrary<BusCase> = fc.oneof(
    brokenPayload(orderCreated, 'total').map((payload) => ({
      label: 'outbox payload breaks the contract',
      target: 'outbox' as const,
      schema: 'ordering' as const,
      type: 'order.created.v1',
      outbox: { traceparent: traceparentOf('x'), payload },
      expect: 'INVALID_PAYLOAD' as const,
    })),
    notTraceparent.map((tp) => ({
      label: 'outbox traceparent invalid',
      target: 'outbox' as const,
      schema: 'ordering' as const,
      type: 'order.created.v1',
      outbox: { traceparent: String(tp), payload: orderCreated },
      expect: 'INVALID_ENVELOPE' as const,
    })),
    fc.integer({ min: 300, max: 700 }).map((kib) => ({
      label: 'outbox message oversized',
      target: 'outbox' as const,
      schema: 'ordering' as const,
      type: 'order.created.v1',
      outbox: { traceparent: traceparentOf('y'), payload: { ...orderCreated, padding: 'y'.repeat(kib * 1024) } },
      expect: 'MESSAGE_TOO_LARGE' as const,
    })),
    fc.oneof(fc.constantFrom('order.unknown.v1', 'customer.nothing.v9'), notType.map(String)).map((type) => ({
      label: 'outbox type nobody consumes',
      target: 'outbox' as const,
      schema: 'customers' as const,
      type,
      outbox: { traceparent: traceparentOf('z'), payload: { any: 'thing' } },
      expect: 'no-consumer' as const,
    })),
  );
  return fc.oneof({ weight: 3, arbitrary: inboxCase }, { weight: 1, arbitrary: outboxCase });
}

/** PostgreSQL stores no U+0000 in text or jsonb: such a message cannot be written to the bus at all. */
function withoutNul(value: unknown): unknown {
  if (typeof value === 'string') return value.replaceAll('\u0000', '');
  if (Array.isArray(value)) return value.map(withoutNul);
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k.replaceAll('\u0000', ''), withoutNul(v)]));
  return value;
}

function jsonb(value: unknown): string {
  return JSON.stringify(withoutNul(value)) ?? 'null';
}

async function fuzzBus(
  ctx: ScenarioContext,
  client: pg.Client,
  cases: number,
): Promise<{ ids: Map<string, BusCase>; byExpectation: Record<string, number> }> {
  const ids = new Map<string, BusCase>();
  for (const c of fc.sample(busCases(), { numRuns: cases, seed: ctx.seed })) {
    const id = uuidv7();
    ids.set(id, c);
    if (c.target === 'inbox') {
      await client.query(
        `insert into ${c.schema}.inbox (use_case, message_id, type, correlation_id, envelope) values ($1, $2, $3, $4, $5::jsonb)`,
        [c.useCase, id, c.type, uuidv7(), jsonb(c.envelope)],
      );
    } else {
      await client.query(
        `insert into ${c.schema}.outbox (id, type, correlation_id, causation_id, traceparent, occurred_at, payload, produced_by) values ($1, $2, $3, null, $4, now(), $5::jsonb, 'reliability.fuzz')`,
        [id, withoutNul(c.type), uuidv7(), withoutNul(c.outbox!.traceparent), jsonb(c.outbox!.payload)],
      );
    }
  }
  const byExpectation: Record<string, number> = {};
  for (const c of ids.values()) byExpectation[c.expect] = (byExpectation[c.expect] ?? 0) + 1;
  return { ids, byExpectation };
}

export const badInput: Scenario = {
  id: 'bad-input',
  number: 6,
  title: 'Bad input: fuzzed HTTP requests, malformed and oversized messages on the bus',
  async run(ctx: ScenarioContext) {
    const numRuns = ctx.quick ? 600 : 10_000;
    const busCount = ctx.quick ? 60 : 300;
    const { system, databaseUrl } = await ctx.createSystem({
      SAGA_STYLE: 'choreography',
      BODY_LIMIT_BYTES: String(BODY_LIMIT_BYTES),
      ADMIN_TOKEN,
      DELIVERY_MAX_ATTEMPTS: '4',
      RETRY_BASE_MS: '100',
    });
    await system.start();
    const customers = await registerCustomers(system.baseUrl, 10, ctx.random, emptyStats());
    const known: Known = { customers: customers.map((c) => c.id), orders: [] };
    for (const c of customers.slice(0, 5)) {
      const placed = await request(system.baseUrl, 'POST', '/orders', {
        body: { customerId: c.id, total: { amount: 1_000, currency: 'USD' } },
      });
      if (placed.ok && placed.response.status === 202) known.orders.push((placed.response.json as { id: string }).id);
    }

    return withDatabase(databaseUrl, async (client) => {
      const httpStarted = Date.now();
      const http = await fuzzHttp(ctx, system.baseUrl, client, known, numRuns);
      const httpMs = Date.now() - httpStarted;
      ctx.log('HTTP fuzzing done', { requests: http.requests, ms: httpMs, byStatus: http.byStatus });
      assert(http.requests >= numRuns, `only ${http.requests} requests were sent`);
      assert(http.accepted > 0, 'no generated request was accepted: the generator only exercises the validator');

      const busStarted = Date.now();
      const bus = await fuzzBus(ctx, client, busCount);
      const deadIds = [...bus.ids].filter(([, c]) => c.expect !== 'no-consumer').map(([id]) => id);
      const orphanIds = [...bus.ids].filter(([, c]) => c.expect === 'no-consumer').map(([id]) => id);
      await waitFor(
        'every malformed message to be dead-lettered',
        async () => {
          const dead = await count(
            client,
            `select count(*) from (select message_id from customers.inbox where status = 'dead' union all select message_id from ordering.inbox where status = 'dead') d where message_id = any($1::uuid[])`,
            [deadIds],
          );
          const unrelayed = await count(client, `select count(*) from customers.outbox where relayed_at is null and id = any($1::uuid[])`, [
            orphanIds,
          ]);
          return dead === deadIds.length && unrelayed === 0 ? true : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 250 },
      );
      const busMs = Date.now() - busStarted;
      const rows = await client.query<{ message_id: string; error_code: string | null; last_error: string | null; attempts: number }>(
        `select message_id, error_code, last_error, attempts from customers.inbox where message_id = any($1::uuid[])
         union all select message_id, error_code, last_error, attempts from ordering.inbox where message_id = any($1::uuid[])`,
        [[...bus.ids.keys()]],
      );
      const wrong: string[] = [];
      for (const row of rows.rows) {
        const c = bus.ids.get(row.message_id)!;
        if (c.expect === 'no-consumer') wrong.push(`${c.label}: delivered although nobody consumes ${c.type}`);
        else if (row.error_code !== c.expect || !row.last_error)
          wrong.push(`${c.label}: dead with ${row.error_code} "${row.last_error?.slice(0, 100)}", expected ${c.expect}`);
      }
      assert(wrong.length === 0, `messages dead-lettered for the wrong reason:\n  ${wrong.slice(0, 10).join('\n  ')}`);
      assert(rows.rows.length === deadIds.length, `expected ${deadIds.length} dead deliveries, found ${rows.rows.length}`);

      const invariants = await assertSettled({
        databaseUrl,
        allowTimeouts: false,
        expectedDeadLetters: new Set(deadIds),
        timeoutMs: 60_000,
      });
      assert(system.unexpectedExits.length === 0, `the system exited by itself: ${JSON.stringify(system.unexpectedExits)}`);
      return {
        load: `${http.requests} generated HTTP requests (fast-check, seed ${ctx.seed}) over every route, plus ${bus.ids.size} generated malformed or oversized messages written into inboxes and outboxes`,
        faults:
          'wrong types and bounds, unknown properties, broken and empty JSON, wrong content types, bodies over the limit, bad ids, query strings and headers, unknown routes and methods; envelopes and payloads breaking the contract, messages over 256 KiB, types nobody handles',
        lost: 0,
        recoveryMs: busMs,
        invariants,
        figures: {
          http: { requests: http.requests, ms: httpMs, byStatus: http.byStatus, acceptedAndWritten: http.accepted, byRoute: http.byLabel },
          bus: { messages: bus.ids.size, byExpectedOutcome: bus.byExpectation, allDeadLetteredWithinMs: busMs },
          ordersByStatus: invariants.ordersByStatus,
        },
      };
    });
  },
};
