import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteKeysWithPrefix } from '../../src/dev/provisioning/redis.js';
import { testComposition } from '../support/composition.js';
import { cloneDatabasesApart, cloneRunDatabase } from '../support/databases.js';
import { ecsSystemEnv, startTestEcs } from '../support/ecs.js';
import {
  availableCredit,
  getOrder,
  placeOrder,
  registerCustomer,
  startTestSystem,
  waitForStatus,
  type OrderJson,
  type TestSystem,
} from '../support/system.js';

/**
 * The acceptance scenario over HTTP, for every saga style on every transport, with the modules in
 * one database and with one of them in a database of its own (ADR 32): the outcome must depend on
 * none of them. A transport is a row of ADAPTERS; one that needs a service of its own (the local
 * ECS endpoint) starts it in `setup` and stops it in `teardown`.
 */
interface AdapterSetup {
  readonly env: Record<string, string>;
  /** A database the adapter's own services already use (the ECS tasks'); else the system clones one. */
  readonly databaseUrl?: string;
  teardown?(): Promise<void>;
}

/** Where the modules live: all in one database, or the first module (by the contracts) in a database of its own. */
type Layout = 'one database' | 'two databases';
const LAYOUTS: readonly Layout[] = ['one database', 'two databases'];

/** The databases of a layout: the default one and, apart, the `<MODULE>_DATABASE_URL` of the module moved out. */
async function databasesOf(layout: Layout): Promise<{ databaseUrl: string; env: Record<string, string> }> {
  if (layout === 'one database') return { databaseUrl: await cloneRunDatabase(), env: {} };
  const { inboxes } = testComposition();
  const { databaseUrl, env } = await cloneDatabasesApart(inboxes[0]!, inboxes);
  return { databaseUrl, env };
}

interface AdapterRow {
  readonly adapter: string;
  setup(layout: Layout): Promise<AdapterSetup>;
}

const ADAPTERS: readonly AdapterRow[] = [
  { adapter: 'memory', setup: async (layout) => withEnv(await databasesOf(layout), { EVENT_BUS: 'memory' }) },
  { adapter: 'bullmq', setup: async (layout) => withEnv(await databasesOf(layout), { EVENT_BUS: 'bullmq' }) },
  {
    // Every use case runs as its own task process, launched by RunTask on the local ECS endpoint.
    adapter: 'ecs',
    setup: async (layout) => {
      const databases = await databasesOf(layout);
      // The tasks find every module's database as the system does.
      const ecs = await startTestEcs(databases.databaseUrl, databases.env);
      return { ...withEnv(databases, ecsSystemEnv(ecs.url)), teardown: () => ecs.close() };
    },
  },
];

function withEnv(databases: { databaseUrl: string; env: Record<string, string> }, env: Record<string, string>): AdapterSetup {
  return { databaseUrl: databases.databaseUrl, env: { ...databases.env, ...env } };
}

const STYLES = ['choreography', 'orchestration'] as const;
type Style = (typeof STYLES)[number];

const CASES = LAYOUTS.flatMap((layout) => STYLES.flatMap((style) => ADAPTERS.map((row) => ({ layout, style, ...row }))));

const USD = (amount: number) => ({ amount, currency: 'USD' });

interface MessageRow {
  schema: string;
  id: string;
  type: string;
  correlation_id: string;
  causation_id: string | null;
  produced_by: string;
  payload: { orderId?: string };
}

interface InboxRow {
  use_case: string;
  message_id: string;
  correlation_id: string;
  status: string;
  envelope: { id: string; correlationId: string; causationId: string | null };
}

/** Every message of one order's saga, from the outboxes of both schemas. */
async function sagaMessages(system: TestSystem, orderId: string): Promise<MessageRow[]> {
  const rows = await Promise.all(
    system.runtime.modules.map((m) =>
      m.db.query<MessageRow>(
        `select '${m.db.schema}' as schema, id, type, correlation_id, causation_id, produced_by, payload from ${m.db.schema}.outbox
         where correlation_id = ? or payload->>'orderId' = ? order by seq`,
        [orderId, orderId],
      ),
    ),
  );
  return rows.flat();
}

async function sagaDeliveries(system: TestSystem, orderId: string): Promise<InboxRow[]> {
  const rows = await Promise.all(
    system.runtime.modules.map((m) =>
      m.db.query<InboxRow>(
        `select use_case, message_id, correlation_id, status, envelope from ${m.db.schema}.inbox
         where correlation_id = ? or envelope->'payload'->>'orderId' = ?`,
        [orderId, orderId],
      ),
    ),
  );
  return rows.flat();
}

/**
 * Which message type caused which, by type: the order saga's causal chain, roots (HTTP requests)
 * map to null. Every message the Order and Customer modules publish for an order is here; a module
 * the composition adds (the test tree's Shipping, say) may add messages of its own, checked below
 * by what every message must satisfy.
 */
const EXPECTED_CAUSES: Record<Style, Record<string, string | null>> = {
  choreography: {
    'order.created.v1': null,
    'customer.credit-reserved.v1': 'order.created.v1',
    'order.approved.v1': 'customer.credit-reserved.v1',
    'order.cancelled.v1': null,
    'customer.credit-released.v1': 'order.cancelled.v1',
  },
  orchestration: {
    'order.created.v1': null,
    'customer.reserve-credit.v1': null,
    'customer.credit-reserved.v1': 'customer.reserve-credit.v1',
    'order.approved.v1': 'customer.credit-reserved.v1',
    'order.cancelled.v1': null,
    'customer.release-credit.v1': null,
    'customer.credit-released.v1': 'customer.release-credit.v1',
  },
};

const EXPECTED_STEPS: Record<Style, { approved: string[]; cancelled: string[]; rejected: string[] }> = {
  choreography: {
    approved: ['order-placed:done', 'credit-reserved:received', 'order-approved:done'],
    cancelled: ['order-placed:done', 'credit-reserved:received', 'order-approved:done', 'order-cancelled:done', 'credit-released:received'],
    rejected: ['order-placed:done', 'credit-reservation-failed:received', 'order-rejected:done'],
  },
  orchestration: {
    approved: ['order-placed:done', 'reserve-credit:sent', 'credit-reserved:received', 'order-approved:done'],
    cancelled: [
      'order-placed:done',
      'reserve-credit:sent',
      'credit-reserved:received',
      'order-approved:done',
      'order-cancelled:done',
      'cancel-requested:received',
      'release-credit:sent',
      'credit-released:received',
    ],
    rejected: ['order-placed:done', 'reserve-credit:sent', 'credit-reservation-failed:received', 'order-rejected:done'],
  },
};

const stepsOf = (order: OrderJson) => (order.saga?.steps ?? []).map((s) => `${s.name}:${s.outcome}`);

/** What each row observed, compared across adapters at the end. */
const observed = new Map<string, unknown>();

describe.each(CASES)('the order saga ($style over $adapter, $layout)', ({ layout, style, adapter, setup }) => {
  let system: TestSystem;
  let adapterSetup: AdapterSetup;
  const outcome: Record<string, unknown> = {};

  beforeAll(async () => {
    adapterSetup = await setup(layout);
    system = await startTestSystem({
      env: { ...adapterSetup.env, SAGA_STYLE: style },
      ...(adapterSetup.databaseUrl ? { databaseUrl: adapterSetup.databaseUrl } : {}),
    });
  });

  afterAll(async () => {
    observed.set(`${style}/${adapter}/${layout}`, outcome);
    await system?.close();
    if (system?.config.EVENT_BUS === 'bullmq' && system.config.REDIS_URL)
      await deleteKeysWithPrefix(system.config.REDIS_URL, system.config.BULLMQ_PREFIX);
    await adapterSetup?.teardown?.();
  });

  it('runs the acceptance scenario: approve, reject over the limit, cancel and release', async () => {
    expect(system.runtime.transport.name).toBe(adapter);
    const customerId = await registerCustomer(system.app, USD(10_000));

    const first = await placeOrder(system.app, customerId, USD(6_000));
    const approved = await waitForStatus(system.app, first, ['APPROVED', 'REJECTED']);
    expect(approved.status).toBe('APPROVED');
    expect(approved.rejectionReason).toBeUndefined();

    const second = await placeOrder(system.app, customerId, USD(6_000));
    const rejected = await waitForStatus(system.app, second, ['APPROVED', 'REJECTED']);
    expect(rejected).toMatchObject({ status: 'REJECTED', rejectionReason: 'CREDIT_LIMIT_EXCEEDED' });
    expect(await availableCredit(system.app, customerId)).toBe(4_000);

    const cancel = await system.app.inject({ method: 'POST', url: `/orders/${first}/cancel` });
    expect(cancel.statusCode).toBe(202);
    expect(cancel.json()).toMatchObject({ id: first, status: 'CANCELLED' });
    const cancelled = await waitForStatus(system.app, first, ['CANCELLED']);
    expect(cancelled.status).toBe('CANCELLED');
    await expectEventually(() => availableCredit(system.app, customerId), 10_000);

    // The release is recorded last; the saga view must reach its end too. The view reads the state
    // before the steps, so a read between them can show every step with the state before the last.
    const ended = await eventuallyOrder(
      system,
      first,
      (o) => stepsOf(o).length === EXPECTED_STEPS[style].cancelled.length && o.saga?.state === 'CANCELLED',
    );
    expect(ended.saga).toMatchObject({ style, state: 'CANCELLED' });
    expect(stepsOf(ended)).toEqual(EXPECTED_STEPS[style].cancelled);
    const secondView = await getOrder(system.app, second);
    expect(secondView.saga).toMatchObject({ style, state: 'REJECTED' });
    expect(stepsOf(secondView)).toEqual(EXPECTED_STEPS[style].rejected);
    expect(secondView.saga?.steps.find((s) => s.name === 'credit-reservation-failed')?.detail).toBe('CREDIT_LIMIT_EXCEEDED');
    expect((ended.saga?.steps ?? []).every((s) => !Number.isNaN(Date.parse(s.at)))).toBe(true);

    Object.assign(outcome, {
      first: approved.status,
      second: `${rejected.status}/${rejected.rejectionReason}`,
      afterReject: 4_000,
      cancelled: cancelled.status,
      steps: stepsOf(ended),
      rejectedSteps: stepsOf(secondView),
    });
  });

  it('shows an approved order and its saga in GET /orders/:id', async () => {
    const customerId = await registerCustomer(system.app, USD(500));
    const id = await placeOrder(system.app, customerId, USD(500));
    await waitForStatus(system.app, id, ['APPROVED']);
    const order = await eventuallyOrder(system, id, (o) => stepsOf(o).length === EXPECTED_STEPS[style].approved.length);
    expect(order).toMatchObject({ id, customerId, total: USD(500), status: 'APPROVED' });
    expect(order.saga).toMatchObject({ style, state: 'APPROVED' });
    expect(stepsOf(order)).toEqual(EXPECTED_STEPS[style].approved);
    expect(await availableCredit(system.app, customerId)).toBe(0);
  });

  it('rejects an order of an unknown customer with CUSTOMER_NOT_FOUND', async () => {
    const id = await placeOrder(system.app, '00000000-0000-4000-8000-000000000000', USD(100));
    const order = await waitForStatus(system.app, id, ['APPROVED', 'REJECTED']);
    expect(order).toMatchObject({ status: 'REJECTED', rejectionReason: 'CUSTOMER_NOT_FOUND' });
    outcome['unknownCustomer'] = order.rejectionReason;
  });

  it('rejects an order in EUR for a USD customer with CURRENCY_MISMATCH and keeps the credit', async () => {
    const customerId = await registerCustomer(system.app, USD(10_000));
    const id = await placeOrder(system.app, customerId, { amount: 100, currency: 'EUR' });
    const order = await waitForStatus(system.app, id, ['APPROVED', 'REJECTED']);
    expect(order).toMatchObject({ status: 'REJECTED', rejectionReason: 'CURRENCY_MISMATCH' });
    expect(await availableCredit(system.app, customerId)).toBe(10_000);
    outcome['currencyMismatch'] = order.rejectionReason;
  });

  it('correlates every message of an order with the order id and chains their causation', async () => {
    const customerId = await registerCustomer(system.app, USD(1_000));
    const id = await placeOrder(system.app, customerId, USD(700));
    await waitForStatus(system.app, id, ['APPROVED']);
    expect((await system.app.inject({ method: 'POST', url: `/orders/${id}/cancel` })).statusCode).toBe(202);
    await expectEventually(() => availableCredit(system.app, customerId), 1_000);
    await eventuallyOrder(system, id, (o) => stepsOf(o).length === EXPECTED_STEPS[style].cancelled.length);

    const messages = await sagaMessages(system, id);
    const expected = EXPECTED_CAUSES[style];
    const inboxes = system.runtime.modules.map((m) => m.definition.inbox);
    const producerOf = (type: string) => inboxes.find((i) => i.publishes.includes(type));
    // The saga's own modules publish exactly its chain; each message once.
    const sagaModules = new Set(Object.keys(expected).map((type) => producerOf(type)?.module));
    expect(
      messages
        .filter((m) => sagaModules.has(producerOf(m.type)?.module))
        .map((m) => m.type)
        .sort(),
    ).toEqual(Object.keys(expected).sort());
    const byId = new Map(messages.map((m) => [m.id, m]));
    for (const m of messages) {
      expect(m.correlation_id, `${m.type} correlationId`).toBe(id);
      expect(m.payload.orderId, `${m.type} payload.orderId`).toBe(id);
      const cause = m.causation_id === null ? null : byId.get(m.causation_id);
      expect(cause, `the cause of ${m.type} is one of this order's messages`).not.toBeUndefined();
      if (Object.hasOwn(expected, m.type)) expect(cause?.type ?? null, `the cause of ${m.type}`).toBe(expected[m.type]);
      // A message lives in the outbox of the module that declares it, written by a use case of that module
      // (or its API, a root) handling the message that caused it.
      const producer = producerOf(m.type);
      expect(producer, `a module declares it publishes ${m.type}`).toBeDefined();
      expect(m.schema, `the outbox of ${m.type}`).toBe(producer?.schema);
      expect(m.produced_by.split('.')[0], `the producer of ${m.type}`).toBe(producer?.module);
      if (cause) {
        const route = producer?.routes.find((r) => r.useCase === m.produced_by && r.messageType === cause.type);
        expect(route, `${m.produced_by} handles ${cause.type}, the cause of ${m.type}`).toBeDefined();
      }
    }

    // Each delivery carries the same envelope ids and is done.
    const deliveries = await sagaDeliveries(system, id);
    expect(deliveries.length).toBeGreaterThan(0);
    for (const d of deliveries) {
      const message = byId.get(d.message_id);
      expect(message, `delivery ${d.use_case} of ${d.message_id} comes from an outbox row`).toBeDefined();
      expect(d.correlation_id).toBe(id);
      expect(d.envelope).toMatchObject({ id: d.message_id, correlationId: id, causationId: message?.causation_id ?? null });
      expect(d.status, `${d.use_case} of ${message?.type}`).toBe('done');
    }
    outcome['causes'] = Object.fromEntries(messages.map((m) => [m.type, m.causation_id === null ? null : byId.get(m.causation_id)?.type]));
  });
});

describe('every adapter, in one database or two', () => {
  it.each(STYLES)('gives the same outcomes under %s', (style) => {
    const rows = LAYOUTS.flatMap((layout) => ADAPTERS.map((row) => observed.get(`${style}/${row.adapter}/${layout}`)));
    expect(rows.every((r) => r !== undefined && Object.keys(r as object).length >= 6)).toBe(true);
    for (const row of rows.slice(1)) expect(row).toEqual(rows[0]);
  });
});

async function expectEventually(read: () => Promise<number>, expected: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  let value = await read();
  while (value !== expected && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    value = await read();
  }
  expect(value).toBe(expected);
}

async function eventuallyOrder(system: TestSystem, id: string, done: (order: OrderJson) => boolean): Promise<OrderJson> {
  const deadline = Date.now() + 15_000;
  let order = await getOrder(system.app, id);
  while (!done(order) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    order = await getOrder(system.app, id);
  }
  return order;
}
