import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteKeysWithPrefix } from '../../src/dev/provisioning/redis.js';
import { traceparent, uuidv7 } from '../../src/shared/kernel/index.js';
import {
  availableCredit,
  eventually,
  getOrder,
  placeOrder,
  registerCustomer,
  startTestSystem,
  waitForStatus,
  type TestSystem,
} from '../support/system.js';

/**
 * Failures of message handlers: retries with backoff scheduled in PostgreSQL, dead letters
 * after the last attempt, visible and re-drivable through /admin and the CLI; messages that
 * break their contract are dead-lettered at once; added optional fields are tolerated.
 */

const RETRY_BASE_MS = 300;
const MAX_ATTEMPTS = 3;
const RESERVE = 'customer.reserve-credit';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const USD = (amount: number) => ({ amount, currency: 'USD' });

let system: TestSystem;

beforeAll(async () => {
  system = await startTestSystem({
    env: {
      EVENT_BUS: 'bullmq',
      SAGA_STYLE: 'choreography',
      DELIVERY_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
      RETRY_BASE_MS: String(RETRY_BASE_MS),
      RETRY_MAX_MS: '60000',
    },
  });
});

afterAll(async () => {
  await system?.close();
  if (system?.config.REDIS_URL) await deleteKeysWithPrefix(system.config.REDIS_URL, system.config.BULLMQ_PREFIX);
});

const customers = () => system.runtime.module('customer').db;
const ordering = () => system.runtime.module('order').db;

interface Delivery {
  message_id: string;
  status: string;
  attempts: number;
  error_code: string | null;
  last_error: string | null;
  updated_at: string;
  envelope: { payload: Record<string, unknown> };
}

async function delivery(where: string, params: unknown[]): Promise<Delivery | undefined> {
  const [row] = await customers().query<Delivery>(
    `select message_id, status, attempts, error_code, last_error, updated_at, envelope from customers.inbox where use_case = ? and ${where}`,
    [RESERVE, ...params],
  );
  return row;
}

function deliveryOf(orderId: string): Promise<Delivery | undefined> {
  return delivery('correlation_id = ?', [orderId]);
}

function untilDelivery(where: string, params: unknown[], status: string): Promise<Delivery> {
  return eventually(
    async () => {
      const row = await delivery(where, params);
      return row?.status === status ? row : undefined;
    },
    { what: `a ${RESERVE} delivery to be ${status}` },
  );
}

async function cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(`${ROOT}node_modules/.bin/tsx`, ['src/dev/cli/dead-letters.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: system.config.DATABASE_URL, LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  return { code, stdout, stderr };
}

/** An outbox row as a producer would write it, so the relay delivers it like any other message. */
async function insertOutboxMessage(type: string, payload: unknown): Promise<string> {
  const id = uuidv7();
  await ordering().exec(
    `insert into ordering.outbox (id, type, correlation_id, causation_id, traceparent, occurred_at, payload, produced_by)
     values (?, ?, ?, null, ?, now(), ?::jsonb, 'test.poison')`,
    [id, type, uuidv7(), traceparent(), JSON.stringify(payload)],
  );
  system.runtime.relay.wake();
  return id;
}

describe('a handler that keeps failing', () => {
  let victim: string;
  let bystander: string;
  let orderId: string;
  let messageId: string;

  beforeAll(async () => {
    victim = await registerCustomer(system.app, USD(10_000), 'Victim');
    bystander = await registerCustomer(system.app, USD(100_000), 'Bystander');
    // Every row of reserve-credit's inbox as it changes: the failures commit apart from the handler's rolled-back work.
    await customers().exec(`create table customers.test_delivery_history (
      seq bigserial primary key, message_id uuid, status text, attempts int, available_at timestamptz, updated_at timestamptz, error_code text, last_error text)`);
    await customers().exec(`create function customers.test_record_delivery() returns trigger language plpgsql as $$
      begin
        insert into customers.test_delivery_history (message_id, status, attempts, available_at, updated_at, error_code, last_error)
        values (new.message_id, new.status, new.attempts, new.available_at, new.updated_at, new.error_code, new.last_error);
        return new;
      end $$`);
    await customers().exec(`create trigger test_record_delivery after update on customers.inbox
      for each row when (new.use_case = '${RESERVE}' and (new.attempts, new.status) is distinct from (old.attempts, old.status))
      execute function customers.test_record_delivery()`);
    // The victim's credit store "fails": its reservation insert raises, so reserve-credit throws.
    await customers().exec(`create function customers.test_fail_reservation() returns trigger language plpgsql as $$
      begin raise exception 'credit store unavailable for order %', new.order_id; end $$`);
    await customers().exec(`create trigger test_fail_reservation before insert on customers.credit_reservations
      for each row when (new.customer_id = '${victim}'::uuid) execute function customers.test_fail_reservation()`);
  });

  afterAll(async () => {
    await customers().exec('drop trigger if exists test_fail_reservation on customers.credit_reservations');
    await customers().exec('drop trigger if exists test_record_delivery on customers.inbox');
  });

  it('is retried with growing backoff, then dead-lettered with its error, while other orders flow', async () => {
    orderId = await placeOrder(system.app, victim, USD(6_000));
    await eventually(async () => ((await deliveryOf(orderId))?.attempts ?? 0) >= 1 || undefined, { what: 'the first failed attempt' });
    // Placed while the victim's delivery is failing: the same use case's queue must not be blocked.
    const others = await Promise.all([1, 2, 3, 4, 5].map((i) => placeOrder(system.app, bystander, USD(100 * i))));
    for (const id of others) expect((await waitForStatus(system.app, id, ['APPROVED', 'REJECTED'])).status).toBe('APPROVED');
    expect((await getOrder(system.app, orderId)).status).toBe('PENDING');

    const dead = await untilDelivery('correlation_id = ?', [orderId], 'dead');
    messageId = dead.message_id;
    expect(dead).toMatchObject({
      attempts: MAX_ATTEMPTS,
      error_code: 'HANDLER_FAILED',
      last_error: expect.stringContaining(`credit store unavailable for order ${orderId}`),
    });
    expect((await getOrder(system.app, orderId)).status).toBe('PENDING');
    expect(await availableCredit(system.app, victim)).toBe(10_000);

    const history = (
      await customers().query<{ status: string; attempts: number; available_at: string; updated_at: string }>(
        `select status, attempts, available_at, updated_at from customers.test_delivery_history where message_id = ? order by seq`,
        [messageId],
      )
    ).map((h) => ({ ...h, availableAt: Date.parse(h.available_at), updatedAt: Date.parse(h.updated_at) }));
    expect(history.map((h) => `${h.attempts}:${h.status}`)).toEqual(['1:pending', '2:pending', '3:dead']);
    for (const [i, h] of history.slice(0, -1).entries()) {
      // Attempt n waits between half and all of base * 2^(n-1).
      const window = RETRY_BASE_MS * 2 ** i;
      const delay = h.availableAt - h.updatedAt;
      expect(delay, `backoff after attempt ${h.attempts}`).toBeGreaterThanOrEqual(window / 2 - 1);
      expect(delay, `backoff after attempt ${h.attempts}`).toBeLessThanOrEqual(window + 1);
      // The next attempt did not run before its time.
      expect(history[i + 1]!.updatedAt).toBeGreaterThanOrEqual(h.availableAt);
    }
  });

  it('is listed by GET /admin/dead-letters, the stats and the CLI', { timeout: 60_000 }, async () => {
    const res = await system.app.inject({ method: 'GET', url: `/admin/dead-letters?useCase=${RESERVE}&limit=10` });
    expect(res.statusCode).toBe(200);
    const items = (res.json() as { items: Array<Record<string, unknown>> }).items;
    expect(items).toHaveLength(1);
    expect(items[0]).toEqual({
      schema: system.runtime.routing.schemaOf(RESERVE),
      useCase: RESERVE,
      messageId,
      type: 'order.created.v1',
      correlationId: orderId,
      attempts: MAX_ATTEMPTS,
      errorCode: 'HANDLER_FAILED',
      error: expect.stringContaining('credit store unavailable'),
      deadSince: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      envelope: expect.objectContaining({ id: messageId, payload: expect.objectContaining({ orderId, customerId: victim }) }),
    });
    const other = await system.app.inject({ method: 'GET', url: '/admin/dead-letters?useCase=order.approve-order' });
    expect((other.json() as { items: unknown[] }).items).toEqual([]);

    const stats = await system.app.inject({ method: 'GET', url: '/admin/deliveries/stats' });
    expect(stats.statusCode).toBe(200);
    const schemas = (
      stats.json() as {
        schemas: Array<{
          schema: string;
          useCases: Array<{ useCase: string; counts: Record<string, number>; oldestPendingAgeMs: number | null }>;
        }>;
      }
    ).schemas;
    // Every hosted module's schema, whichever modules the composition holds.
    expect(schemas.map((s) => s.schema).sort()).toEqual(system.runtime.modules.map((m) => m.db.schema).sort());
    const reserve = schemas.find((s) => s.schema === system.runtime.routing.schemaOf(RESERVE))?.useCases.find((u) => u.useCase === RESERVE);
    expect(reserve?.counts).toMatchObject({ dead: 1, done: expect.any(Number), pending: expect.any(Number) });
    expect(reserve!.counts['done']).toBeGreaterThanOrEqual(5);
    expect((stats.json() as { deadlocks: unknown }).deadlocks).toEqual(expect.any(Number));

    const listed = await cli('list', '--use-case', RESERVE);
    expect(listed.code, listed.stderr).toBe(0);
    const printed = JSON.parse(listed.stdout) as { items: Array<{ messageId: string; errorCode: string; attempts: number }> };
    expect(printed.items.map((i) => [i.messageId, i.errorCode, i.attempts])).toEqual([[messageId, 'HANDLER_FAILED', MAX_ATTEMPTS]]);
  });

  it('is re-driven through POST /admin/dead-letters/redrive once the cause is fixed, and the saga ends', async () => {
    await customers().exec('drop trigger test_fail_reservation on customers.credit_reservations');
    const res = await system.app.inject({ method: 'POST', url: '/admin/dead-letters/redrive', payload: { messageId } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ redriven: 1 });

    expect((await waitForStatus(system.app, orderId, ['APPROVED', 'REJECTED'])).status).toBe('APPROVED');
    expect(await availableCredit(system.app, victim)).toBe(4_000);
    expect(await deliveryOf(orderId)).toMatchObject({ status: 'done', attempts: 1 });
    const again = await system.app.inject({ method: 'POST', url: '/admin/dead-letters/redrive', payload: { messageId } });
    expect(again.json()).toEqual({ redriven: 0 });
    const list = await system.app.inject({ method: 'GET', url: '/admin/dead-letters' });
    expect((list.json() as { items: unknown[] }).items).toEqual([]);
  });
});

describe('a message that breaks its contract', () => {
  it('is dead-lettered at once with INVALID_PAYLOAD and its reason, and the next messages are processed', { timeout: 60_000 }, async () => {
    const customerId = await registerCustomer(system.app, USD(1_000), 'Poisoned');
    const missingOrderId = await insertOutboxMessage('order.created.v1', { customerId, total: USD(100) });
    // A poison straight in the inbox, as an older relay or a bad repair could leave it.
    const badAmountId = uuidv7();
    await customers().exec(
      `insert into customers.inbox (use_case, message_id, type, correlation_id, envelope) values (?, ?, 'order.created.v1', ?, ?::jsonb)`,
      [
        RESERVE,
        badAmountId,
        badAmountId,
        JSON.stringify({
          id: badAmountId,
          type: 'order.created.v1',
          occurredAt: new Date().toISOString(),
          correlationId: badAmountId,
          causationId: null,
          traceparent: traceparent(),
          payload: { orderId: uuidv7(), customerId, total: { amount: 'abc', currency: 'USD' } },
        }),
      ],
    );
    const next = await placeOrder(system.app, customerId, USD(300));

    const [missing, badAmount] = await Promise.all([
      untilDelivery('message_id = ?', [missingOrderId], 'dead'),
      untilDelivery('message_id = ?', [badAmountId], 'dead'),
    ]);
    expect(missing).toMatchObject({ attempts: 1, error_code: 'INVALID_PAYLOAD', last_error: expect.stringContaining('orderId') });
    expect(badAmount).toMatchObject({ attempts: 1, error_code: 'INVALID_PAYLOAD', last_error: expect.stringContaining('total.amount') });
    expect((await waitForStatus(system.app, next, ['APPROVED', 'REJECTED'])).status).toBe('APPROVED');
    expect(await availableCredit(system.app, customerId)).toBe(700);

    const listed = await system.app.inject({ method: 'GET', url: `/admin/dead-letters?useCase=${RESERVE}` });
    const items = (listed.json() as { items: Array<{ messageId: string; errorCode: string; error: string }> }).items;
    expect(items.map((i) => i.messageId).sort()).toEqual([missingOrderId, badAmountId].sort());
    expect(items.every((i) => i.errorCode === 'INVALID_PAYLOAD')).toBe(true);

    // Re-driven from the command line, a poison is refused again at once.
    const redriven = await cli('redrive', '--message-id', missingOrderId);
    expect(redriven.code, redriven.stderr).toBe(0);
    expect(JSON.parse(redriven.stdout)).toEqual({ redriven: 1 });
    const refused = await eventually(
      async () => {
        const row = await delivery('message_id = ?', [missingOrderId]);
        return row?.status === 'dead' && Date.parse(row.updated_at) > Date.parse(missing.updated_at) ? row : undefined;
      },
      { what: 'the re-driven poison to be dead again' },
    );
    expect(refused.attempts).toBe(1);
    expect(refused.error_code).toBe('INVALID_PAYLOAD');
  });

  it('the CLI refuses wrong usage with a non-zero exit and a JSON error', { timeout: 60_000 }, async () => {
    const [noFilter, badLimit] = await Promise.all([cli('redrive'), cli('list', '--limit', '0')]);
    expect(noFilter.code).toBe(2);
    expect(JSON.parse(noFilter.stderr)).toMatchObject({ error: { code: 'USAGE' } });
    expect(noFilter.stdout).toBe('');
    expect(badLimit.code).toBe(2);
    expect(JSON.parse(badLimit.stderr)).toMatchObject({ error: { code: 'INVALID_LIMIT' } });
  });
});

describe('a message with added optional fields (a newer producer during a rolling deploy)', () => {
  it('is processed normally', async () => {
    const customerId = await registerCustomer(system.app, USD(1_000), 'Rolling deploy');
    await system.runtime.relay.stop();
    let orderId: string;
    try {
      orderId = await placeOrder(system.app, customerId, USD(250));
      const changed = await ordering().exec(
        `update ordering.outbox set payload = payload || '{"giftWrap": true, "loyalty": {"tier": "gold"}}'::jsonb where correlation_id = ? and type = 'order.created.v1'`,
        [orderId],
      );
      expect(changed).toBe(1);
    } finally {
      system.runtime.relay.start();
    }
    expect((await waitForStatus(system.app, orderId, ['APPROVED', 'REJECTED'])).status).toBe('APPROVED');
    const handled = await deliveryOf(orderId);
    expect(handled).toMatchObject({ status: 'done', attempts: 1, error_code: null });
    expect(handled?.envelope.payload).toMatchObject({ orderId, giftWrap: true, loyalty: { tier: 'gold' } });
    expect(await availableCredit(system.app, customerId)).toBe(750);
  });
});

describe('the admin routes', () => {
  it('refuse malformed requests with a problem', async () => {
    const post = (payload: unknown) =>
      system.app.inject({ method: 'POST', url: '/admin/dead-letters/redrive', payload: payload as object });
    const cases: Array<[Promise<{ statusCode: number; json(): unknown; headers: Record<string, unknown> }>, number, string]> = [
      [post({}), 400, 'VALIDATION_FAILED'],
      [post({ all: false }), 400, 'VALIDATION_FAILED'],
      [post({ messageId: 'nope' }), 400, 'VALIDATION_FAILED'],
      [post({ useCase: RESERVE, force: true }), 400, 'VALIDATION_FAILED'],
      [post({ all: true, useCase: RESERVE }), 422, 'REDRIVE_FILTER_CONFLICT'],
      [post({ useCase: 'shipping.ship-order' }), 422, 'UNKNOWN_USE_CASE'],
      [system.app.inject({ method: 'GET', url: '/admin/dead-letters?limit=0' }), 422, 'INVALID_LIMIT'],
      [system.app.inject({ method: 'GET', url: '/admin/dead-letters?limit=501' }), 422, 'INVALID_LIMIT'],
      [system.app.inject({ method: 'GET', url: '/admin/dead-letters?limit=10000' }), 422, 'INVALID_LIMIT'],
      [system.app.inject({ method: 'GET', url: '/admin/dead-letters?limit=-1' }), 422, 'INVALID_LIMIT'],
      [system.app.inject({ method: 'GET', url: '/admin/dead-letters?limit=abc' }), 422, 'INVALID_LIMIT'],
      [system.app.inject({ method: 'GET', url: '/admin/dead-letters?useCase=shipping.ship-order' }), 422, 'UNKNOWN_USE_CASE'],
      [system.app.inject({ method: 'GET', url: '/admin/dead-letters?status=dead' }), 400, 'VALIDATION_FAILED'],
    ];
    for (const [request, status, code] of cases) {
      const res = await request;
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect([res.statusCode, (res.json() as { code: string }).code]).toEqual([status, code]);
    }
  });

  it('with ADMIN_TOKEN set and AUTH_MODE=off, answer 401 without it (UNAUTHENTICATED, or INVALID_TOKEN for another)', async () => {
    const token = 'a-long-enough-admin-token-0123456789';
    const guarded = await startTestSystem({ env: { EVENT_BUS: 'memory', ADMIN_TOKEN: token }, consume: false, jobs: false });
    try {
      const call = (method: 'GET' | 'POST', url: string, authorization?: string) =>
        guarded.app.inject({
          method,
          url,
          ...(method === 'POST' ? { payload: { all: true } } : {}),
          headers: authorization ? { authorization } : {},
        });
      for (const [method, url] of [
        ['GET', '/admin/dead-letters'],
        ['POST', '/admin/dead-letters/redrive'],
        ['GET', '/admin/deliveries/stats'],
      ] as const) {
        for (const authorization of [
          undefined,
          'Bearer wrong-token',
          `Bearer ${token}x`,
          `Bearer ${token.slice(0, -1)}`,
          `Basic ${Buffer.from(`admin:${token}`).toString('base64')}`,
          token,
        ]) {
          const res = await call(method, url, authorization);
          expect([method, url, authorization, res.statusCode]).toEqual([method, url, authorization, 401]);
          expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
          expect(res.headers['www-authenticate']).toMatch(/^Bearer realm=/);
          expect(res.json()).toMatchObject({
            status: 401,
            code: authorization === undefined ? 'UNAUTHENTICATED' : 'INVALID_TOKEN',
            detail: expect.stringContaining('ADMIN_TOKEN'),
          });
        }
        expect((await call(method, url, `Bearer ${token}`)).statusCode).toBe(200);
      }
      expect((await call('POST', '/admin/dead-letters/redrive', `bearer ${token}`)).json()).toEqual({ redriven: 0 });
      // The other routes stay open to the anonymous developer.
      expect((await guarded.app.inject({ method: 'GET', url: '/orders' })).statusCode).toBe(200);
    } finally {
      await guarded.close();
    }
  });
});
