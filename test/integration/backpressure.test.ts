import { afterEach, describe, expect, it } from 'vitest';
import { placeOrder, registerCustomer, systemsClosedAfterEach } from '../support/system.js';

/**
 * Backpressure: while the consumers lag more than OVERLOAD_LAG_SHARE of the order deadline, an
 * order accepted now would end REJECTED with TIMEOUT; POST /orders refuses it with 503
 * OVERLOADED and Retry-After instead, and accepts orders again once the backlog drained.
 */

const USD = (amount: number) => ({ amount, currency: 'USD' });
const start = systemsClosedAfterEach(afterEach);

describe('POST /orders under backlog', () => {
  it('answers 503 OVERLOADED with Retry-After while the oldest due delivery is older than the share of the deadline', async () => {
    // Nothing consumes: the relayed order waits, and its wait is the consumers' lag.
    const system = await start({ consume: false, env: { EVENT_BUS: 'memory', ORDER_DEADLINE_MS: '60000', OVERLOAD_LAG_SHARE: '0.02' } });
    const customerId = await registerCustomer(system.app, USD(10_000));
    await placeOrder(system.app, customerId, USD(100));
    await system.runtime.relay.drainAll();
    // 2 % of 60 s: after 1.2 s of waiting the next order is refused.
    await new Promise((r) => setTimeout(r, 1_500));
    const refused = await system.app.inject({ method: 'POST', url: '/orders', payload: { customerId, total: USD(100) } });
    expect(refused.statusCode).toBe(503);
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(refused.json()).toMatchObject({ status: 503, code: 'OVERLOADED', instance: '/orders' });
    // Nothing was written for the refused order.
    const orders = await system.app.inject({ method: 'GET', url: `/orders?customerId=${customerId}` });
    expect((orders.json() as { items: unknown[] }).items).toHaveLength(1);
    // Other routes are served as usual.
    expect((await system.app.inject({ method: 'GET', url: `/customers/${customerId}` })).statusCode).toBe(200);

    // The backlog drains: orders are accepted again.
    expect(await system.runtime.inboxOf('customer.reserve-credit').processNextBatch('customer.reserve-credit', 16)).toEqual(['done']);
    await new Promise((r) => setTimeout(r, 300));
    expect((await system.app.inject({ method: 'POST', url: '/orders', payload: { customerId, total: USD(100) } })).statusCode).toBe(202);
  });

  it('never refuses with OVERLOAD_LAG_SHARE=0', async () => {
    const system = await start({ consume: false, env: { EVENT_BUS: 'memory', ORDER_DEADLINE_MS: '1000', OVERLOAD_LAG_SHARE: '0' } });
    const customerId = await registerCustomer(system.app, USD(10_000));
    await placeOrder(system.app, customerId, USD(100));
    await system.runtime.relay.drainAll();
    await new Promise((r) => setTimeout(r, 600));
    expect((await system.app.inject({ method: 'POST', url: '/orders', payload: { customerId, total: USD(100) } })).statusCode).toBe(202);
  });
});
