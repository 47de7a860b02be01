import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { CreditReservationFailedV1, CreditReservedV1 } from '../../src/modules/customer/contract/index.js';
import { SHARED } from '../../src/shared/infrastructure/composition/tokens.js';
import { listDeadLetters } from '../../src/shared/infrastructure/messaging/dead-letters.js';
import { createMessage, traceparent, uuidv7, type Envelope, type MessageContext } from '../../src/shared/kernel/index.js';
import {
  availableCredit,
  eventually,
  getOrder,
  placeOrder,
  registerCustomer,
  waitForStatus,
  type OrderJson,
  type TestSystem,
  sql,
  systemsClosedAfterEach,
} from '../support/system.js';

/**
 * The orchestrated saga (SAGA_STYLE=orchestration) against replies that do not fit: a reply for
 * a saga that does not exist, a reply sent twice, two different replies handled at the same time,
 * and a cancellation that must give the credit back.
 */

const USD = (amount: number) => ({ amount, currency: 'USD' });
const LIMIT = USD(10_000);
const ORCHESTRATION = { SAGA_STYLE: 'orchestration' };
const SAGA = 'order.place-order-saga';

const start = systemsClosedAfterEach(afterEach);

async function messages(
  system: TestSystem,
  schema: 'ordering' | 'customers',
  correlationId: string,
): Promise<Array<{ id: string; type: string; causation_id: string }>> {
  return sql(system, `select id, type, causation_id from "${schema}".outbox where correlation_id = ? order by seq`, [correlationId]);
}

interface DeliveryRow {
  status: string;
  attempts: number;
  error_code: string | null;
  last_error: string | null;
}

async function delivery(system: TestSystem, messageId: string): Promise<DeliveryRow | undefined> {
  const [row] = await sql<DeliveryRow>(
    system,
    `select status, attempts, error_code, last_error from ordering.inbox where use_case = ? and message_id = ?`,
    [SAGA, messageId],
  );
  return row;
}

/** Publishes as the Customer module does: an outbox row in its schema, committed, then relayed. */
async function publishAsCustomer(system: TestSystem, message: Envelope): Promise<void> {
  const customer = system.runtime.module('customer');
  await customer.db.run(() => customer.container.get(SHARED.EventBus).publish([message]));
}

const steps = (order: OrderJson, name: string) => (order.saga?.steps ?? []).filter((s) => s.name === name).map((s) => s.outcome);

describe('orchestration', () => {
  it('retries a reply for an unknown saga, then dead-letters it with SAGA_NOT_FOUND', async () => {
    const system = await start({
      env: { ...ORCHESTRATION, EVENT_BUS: 'bullmq', DELIVERY_MAX_ATTEMPTS: '3', RETRY_BASE_MS: '50', RETRY_MAX_MS: '200' },
    });
    const customerId = await registerCustomer(system.app, LIMIT);
    const sagaId = uuidv7();
    const reply = createMessage(
      CreditReservedV1,
      { orderId: sagaId, customerId, amount: USD(100) },
      { correlationId: sagaId, causationId: uuidv7(), traceparent: traceparent() },
    );
    await publishAsCustomer(system, reply);

    const dead = await eventually(
      async () => {
        const row = await delivery(system, reply.id);
        return row?.status === 'dead' ? row : undefined;
      },
      { what: 'the reply to be dead-lettered' },
    );
    expect(dead).toMatchObject({ attempts: 3, error_code: 'SAGA_NOT_FOUND' });
    expect(dead.last_error).toContain(sagaId);
    const letters = await listDeadLetters(system.runtime.module('order').db, { limit: 10, useCase: SAGA });
    expect(letters).toEqual([
      expect.objectContaining({ messageId: reply.id, correlationId: sagaId, attempts: 3, errorCode: 'SAGA_NOT_FOUND' }),
    ]);
  });

  it('gives a reply sent twice (same payload, new message id) no second effect', async () => {
    const system = await start({ env: { ...ORCHESTRATION, EVENT_BUS: 'bullmq' } });
    const customerId = await registerCustomer(system.app, LIMIT);
    const orderId = await placeOrder(system.app, customerId, USD(6_000));
    await waitForStatus(system.app, orderId, ['APPROVED']);
    const [original] = await sql<{
      id: string;
      payload: { orderId: string; customerId: string; amount: { amount: number; currency: string } };
      causation_id: string;
    }>(system, `select id, payload, causation_id from customers.outbox where correlation_id = ? and type = 'customer.credit-reserved.v1'`, [
      orderId,
    ]);
    const copy = createMessage(CreditReservedV1, original!.payload, {
      correlationId: orderId,
      causationId: original!.causation_id,
      traceparent: traceparent(),
    });
    expect(copy.id).not.toBe(original!.id);
    await publishAsCustomer(system, copy);

    await eventually(async () => ((await delivery(system, copy.id))?.status === 'done' ? true : undefined), {
      what: 'the copy to be handled',
    });
    const order = await getOrder(system.app, orderId);
    expect(order).toMatchObject({ status: 'APPROVED', saga: { state: 'APPROVED' } });
    expect(steps(order, 'credit-reserved')).toEqual(['received', 'ignored']);
    expect(steps(order, 'order-approved')).toEqual(['done']);
    expect((await messages(system, 'ordering', orderId)).filter((m) => m.type === 'order.approved.v1')).toHaveLength(1);
    expect(await availableCredit(system.app, customerId)).toBe(4_000);
  });

  it('lets one of two different replies handled at once win; the other waits for the order’s key and is ignored', async () => {
    // Two processes, nothing running on its own: the test drives every step.
    const env = { ...ORCHESTRATION, EVENT_BUS: 'memory', RETRY_BASE_MS: '50', RETRY_MAX_MS: '100' };
    const a = await start({ consume: false, jobs: false, env });
    const databaseUrl = a.config.DATABASE_URL!;
    const b = await start({ databaseUrl, consume: false, jobs: false, env });
    const customerId = await registerCustomer(a.app, LIMIT);
    const orderId = await placeOrder(a.app, customerId, USD(6_000));

    // The Customer side reserves the credit and replies; a second, contradicting reply follows.
    await a.runtime.relay.drainAll();
    expect(await a.runtime.inboxOf('customer.reserve-credit').processNext('customer.reserve-credit')).toBe('done');
    const command = (await messages(a, 'ordering', orderId)).find((m) => m.type === 'customer.reserve-credit.v1')!;
    const context: MessageContext = { correlationId: orderId, causationId: command.id, traceparent: traceparent() };
    await publishAsCustomer(a, createMessage(CreditReservationFailedV1, { orderId, customerId, reason: 'CREDIT_LIMIT_EXCEEDED' }, context));
    await a.runtime.relay.drainAll();
    const replies = await messages(a, 'customers', orderId);
    const reserved = replies.find((m) => m.type === 'customer.credit-reserved.v1')!.id;
    const failed = replies.find((m) => m.type === 'customer.credit-reservation-failed.v1')!.id;

    // The first reply queues behind this lock on the saga; the second behind the first (the order's key).
    const blocker = new pg.Client({ connectionString: databaseUrl });
    await blocker.connect();
    let outcomes: [string, string];
    try {
      await blocker.query('begin');
      await blocker.query('select 1 from ordering.saga_instances where id = $1 for update', [orderId]);
      const waiting = async (n: number) => {
        const [row] = await sql<{ n: number }>(
          b,
          `select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
        );
        return (row?.n ?? 0) >= n ? true : undefined;
      };
      const first = a.runtime.inboxOf(SAGA).processOne({ useCase: SAGA, messageId: reserved });
      await eventually(() => waiting(1), { what: 'the credit-reserved reply to wait for the saga' });
      const second = b.runtime.inboxOf(SAGA).processOne({ useCase: SAGA, messageId: failed });
      await eventually(() => waiting(2), { what: 'the credit-reservation-failed reply to wait for the saga' });
      await blocker.query('rollback');
      outcomes = await Promise.all([first, second]);
    } finally {
      await blocker.end();
    }

    // The second reply waited for the order's key (ADR 16), not for a version conflict: it found the
    // saga decided, and the late reply changed nothing.
    expect(outcomes).toEqual(['done', 'done']);
    expect(await delivery(a, failed)).toMatchObject({ status: 'done', attempts: 1 });
    const order = await getOrder(a.app, orderId);
    expect(order).toMatchObject({ status: 'APPROVED', saga: { state: 'APPROVED' } });
    expect(steps(order, 'credit-reserved')).toEqual(['received']);
    expect(steps(order, 'credit-reservation-failed')).toEqual(['ignored']);
    const decisions = (await messages(a, 'ordering', orderId))
      .map((m) => m.type)
      .filter((t) => t.startsWith('order.') && t !== 'order.created.v1');
    expect(decisions).toEqual(['order.approved.v1']);
    expect(await availableCredit(a.app, customerId)).toBe(4_000);
  });

  it('cancels an approved order by sending customer.release-credit.v1; the saga ends CANCELLED with the credit back', async () => {
    const system = await start({ env: { ...ORCHESTRATION, EVENT_BUS: 'bullmq' } });
    const customerId = await registerCustomer(system.app, LIMIT);
    const orderId = await placeOrder(system.app, customerId, USD(6_000));
    await waitForStatus(system.app, orderId, ['APPROVED']);
    expect(await availableCredit(system.app, customerId)).toBe(4_000);

    const res = await system.app.inject({ method: 'POST', url: `/orders/${orderId}/cancel` });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({ id: orderId, status: 'CANCELLED' });
    expect((await messages(system, 'ordering', orderId)).filter((m) => m.type === 'customer.release-credit.v1')).toHaveLength(1);

    const order = await eventually(
      async () => {
        const o = await getOrder(system.app, orderId);
        return o.saga?.state === 'CANCELLED' ? o : undefined;
      },
      { what: 'the saga to end CANCELLED' },
    );
    expect(order.status).toBe('CANCELLED');
    expect(steps(order, 'cancel-requested')).toEqual(['received']);
    expect(steps(order, 'release-credit')).toEqual(['sent']);
    expect(steps(order, 'credit-released')).toEqual(['received']);
    expect(await availableCredit(system.app, customerId)).toBe(10_000);
    expect((await messages(system, 'customers', orderId)).map((m) => m.type)).toEqual([
      'customer.credit-reserved.v1',
      'customer.credit-released.v1',
    ]);
  });
});
