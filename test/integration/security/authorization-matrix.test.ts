import { afterEach, describe, expect, it } from 'vitest';
import { eventually, sql, systemsClosedAfterEach, type TestSystem } from '../../support/system.js';
import { bearer, jwtEnv, sign, testIssuer, type TestIssuer } from '../../support/tokens.js';

/**
 * Every route × every kind of caller: anonymous, customer A, customer B (tokens with customer_id),
 * staff (every business scope, no customer_id) and admin (the admin scope only). Where a call is
 * refused, nothing changed.
 */
const start = systemsClosedAfterEach(afterEach);

const CALLERS = ['anonymous', 'A', 'B', 'staff', 'admin'] as const;
type Caller = (typeof CALLERS)[number];
const usd = (amount: number) => ({ amount, currency: 'USD' });

interface World {
  readonly system: TestSystem;
  readonly headers: Record<Caller, Record<string, string>>;
  readonly customerA: string;
  readonly customerB: string;
  /** An APPROVED order of A's (cancellable), one of B's. */
  readonly orderA: string;
  readonly orderB: string;
}

async function tokens(issuer: TestIssuer, a: string, b: string): Promise<Record<Caller, Record<string, string>>> {
  return {
    anonymous: {},
    A: bearer(await sign(issuer, { sub: 'alice', scope: 'orders:read orders:write', customer_id: a })),
    B: bearer(await sign(issuer, { sub: 'bob', scope: 'orders:read orders:write', customer_id: b })),
    staff: bearer(await sign(issuer, { sub: 'clerk', scope: 'orders:read orders:write customers:read customers:write' })),
    admin: bearer(await sign(issuer, { sub: 'operator', scope: 'admin' })),
  };
}

async function world(): Promise<World> {
  const issuer = await testIssuer();
  const system = await start({ env: { EVENT_BUS: 'memory', ...jwtEnv(issuer) } });
  const staff = bearer(await sign(issuer, { sub: 'setup', scope: 'orders:write customers:write' }));
  const register = async (name: string) =>
    (
      (
        await system.app.inject({ method: 'POST', url: '/customers', headers: staff, payload: { name, creditLimit: usd(100_000) } })
      ).json() as {
        id: string;
      }
    ).id;
  const customerA = await register('A');
  const customerB = await register('B');
  const place = async (customerId: string) =>
    (
      (await system.app.inject({ method: 'POST', url: '/orders', headers: staff, payload: { customerId, total: usd(100) } })).json() as {
        id: string;
      }
    ).id;
  const orderA = await place(customerA);
  const orderB = await place(customerB);
  const headers = await tokens(issuer, customerA, customerB);
  for (const id of [orderA, orderB]) {
    await eventually(
      async () => {
        const res = await system.app.inject({ method: 'GET', url: `/orders/${id}`, headers: headers.staff });
        return (res.json() as { status: string }).status === 'APPROVED' ? true : undefined;
      },
      { what: `order ${id} APPROVED` },
    );
  }
  return { system, headers, customerA, customerB, orderA, orderB };
}

/** The expected status per caller, in CALLERS order. */
type Row = readonly [
  method: 'GET' | 'POST',
  url: (w: World) => string,
  body: ((w: World) => object) | null,
  expected: Record<Caller, number>,
];

const ROWS: readonly Row[] = [
  ['GET', () => '/health/live', null, { anonymous: 200, A: 200, B: 200, staff: 200, admin: 200 }],
  ['POST', () => '/customers', () => ({ name: 'New', creditLimit: usd(1) }), { anonymous: 401, A: 403, B: 403, staff: 201, admin: 403 }],
  ['GET', (w) => `/customers/${w.customerA}`, null, { anonymous: 401, A: 200, B: 404, staff: 200, admin: 403 }],
  ['GET', () => '/orders', null, { anonymous: 401, A: 200, B: 200, staff: 200, admin: 403 }],
  ['GET', (w) => `/orders?customerId=${w.customerA}`, null, { anonymous: 401, A: 200, B: 403, staff: 200, admin: 403 }],
  ['GET', (w) => `/orders/${w.orderA}`, null, { anonymous: 401, A: 200, B: 404, staff: 200, admin: 403 }],
  [
    'POST',
    () => '/orders',
    (w) => ({ customerId: w.customerA, total: usd(1) }),
    { anonymous: 401, A: 202, B: 403, staff: 202, admin: 403 },
  ],
  ['POST', (w) => `/orders/${w.orderB}/cancel`, null, { anonymous: 401, A: 404, B: 202, staff: 409, admin: 403 }],
  ['GET', () => '/admin/deliveries/stats', null, { anonymous: 401, A: 403, B: 403, staff: 403, admin: 200 }],
  ['GET', () => '/admin/dead-letters', null, { anonymous: 401, A: 403, B: 403, staff: 403, admin: 200 }],
  ['GET', () => '/admin/saga-versions', null, { anonymous: 401, A: 403, B: 403, staff: 403, admin: 200 }],
  ['POST', () => '/admin/dead-letters/redrive', () => ({ all: true }), { anonymous: 401, A: 403, B: 403, staff: 403, admin: 200 }],
  ['GET', () => '/metrics', null, { anonymous: 401, A: 403, B: 403, staff: 403, admin: 200 }],
];

/** Waits until no saga has a step left to take, so what follows changes only what its request does. */
async function settled(system: TestSystem): Promise<void> {
  await eventually(
    async () => {
      const [row] = await sql<{ busy: string }>(
        system,
        `select (select count(*) from ordering.orders where status = 'PENDING')
              + (select count(*) from ordering.outbox where relayed_at is null) + (select count(*) from customers.outbox where relayed_at is null)
              + (select count(*) from ordering.inbox where status = 'pending') + (select count(*) from customers.inbox where status = 'pending') as busy`,
      );
      return Number(row!.busy) === 0 ? true : undefined;
    },
    { what: 'every saga to settle' },
  );
}

async function snapshot(system: TestSystem): Promise<unknown> {
  await settled(system);
  return sql(
    system,
    `select (select json_agg(o order by o.id) from (select id, customer_id, status from ordering.orders) o) as orders,
            (select json_agg(c order by c.id) from (select id, available_credit from customers.customers) c) as customers,
            (select count(*) from ordering.idempotency_keys) as keys`,
  );
}

describe('authorization matrix', () => {
  it('answers every route × caller as expected, and a refused call changes nothing', { timeout: 60_000 }, async () => {
    const w = await world();
    const results: string[] = [];
    const expected: string[] = [];
    // B cancels its own order last: staff's cancel of it must meet an APPROVED order (staff: 202 then).
    for (const [method, url, body, want] of ROWS) {
      for (const caller of CALLERS) {
        const before = want[caller] >= 400 ? await snapshot(w.system) : undefined;
        const res = await w.system.app.inject({ method, url: url(w), headers: w.headers[caller], ...(body ? { payload: body(w) } : {}) });
        results.push(`${caller} ${method} ${url(w)} → ${res.statusCode}`);
        expected.push(`${caller} ${method} ${url(w)} → ${want[caller]}`);
        if (before !== undefined) expect(await snapshot(w.system)).toEqual(before);
      }
    }
    expect(results).toEqual(expected);
  });

  it('lists only the caller’s own orders, and names no other customer’s', async () => {
    const w = await world();
    for (const [caller, own] of [
      ['A', w.customerA],
      ['B', w.customerB],
    ] as const) {
      const res = await w.system.app.inject({ method: 'GET', url: '/orders', headers: w.headers[caller] });
      const items = (res.json() as { items: Array<{ customerId: string }> }).items;
      expect(items.length).toBeGreaterThan(0);
      expect(items.every((o) => o.customerId === own)).toBe(true);
    }
    const all = await w.system.app.inject({ method: 'GET', url: '/orders', headers: w.headers.staff });
    expect(new Set((all.json() as { items: Array<{ customerId: string }> }).items.map((o) => o.customerId))).toEqual(
      new Set([w.customerA, w.customerB]),
    );
  });

  it('keeps Idempotency-Keys per caller: A replaying B’s key gets its own order, never B’s', async () => {
    const w = await world();
    const key = { 'idempotency-key': 'checkout-42' };
    const post = (caller: Caller, customerId: string) =>
      w.system.app.inject({
        method: 'POST',
        url: '/orders',
        headers: { ...w.headers[caller], ...key },
        payload: { customerId, total: usd(7) },
      });
    const b = await post('B', w.customerB);
    expect(b.statusCode).toBe(202);
    // Same key, same body: A may not act for B at all.
    expect((await post('A', w.customerB)).statusCode).toBe(403);
    // Same key, A's own body: a new order of A's, not a replay of B's.
    const a = await post('A', w.customerA);
    expect(a.statusCode).toBe(202);
    expect(a.headers['idempotent-replayed']).toBeUndefined();
    expect((a.json() as { id: string; customerId: string }).customerId).toBe(w.customerA);
    expect((a.json() as { id: string }).id).not.toBe((b.json() as { id: string }).id);
    // And B's retry still replays B's.
    const again = await post('B', w.customerB);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect((again.json() as { id: string }).id).toBe((b.json() as { id: string }).id);
  });
});
