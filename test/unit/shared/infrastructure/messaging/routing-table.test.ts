import { describe, expect, it } from 'vitest';
import { ALL_INBOXES, ALL_MODULES } from '../../../../../src/entrypoints/composition/all-modules.js';
import { assertSubscriptionsMatchInbox, type Subscription } from '../../../../../src/shared/infrastructure/messaging/subscription.js';
import { RoutingTable } from '../../../../../src/shared/infrastructure/messaging/routing-table.js';
import { SAGA_STYLES, type ModuleInbox } from '../../../../../src/shared/contract/routing.js';
import { ok, type MessageDefinition } from '../../../../../src/shared/kernel/index.js';
import { customerInbox } from '../../../../../src/modules/customer/contract/index.js';
import { orderInbox } from '../../../../../src/modules/order/contract/index.js';
import { testConfig, unqueriedContainer } from '../../../../support/fakes/module-containers.js';

const INBOXES: readonly ModuleInbox[] = ALL_INBOXES;

/** Every message definition a module subscribes to (from its subscriptions: the contract it validates with), by type. */
const MESSAGES = new Map(
  ALL_MODULES.flatMap((m) => m.subscriptions(unqueriedContainer(m, testConfig('choreography')))).map((s) => [s.message.type, s.message]),
);

describe('delivery keys', () => {
  it.each(INBOXES.flatMap((i) => i.routes.map((r) => [r.useCase, r.messageType, r.key] as const)))(
    '%s <- %s is keyed by a required field of the payload (%s)',
    (_useCase, type, key) => {
      const message = MESSAGES.get(type);
      expect(message, `a subscription validates ${type} with its contract`).toBeDefined();
      const result = message!.parse({});
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.error.message).toMatch(new RegExp(`(^|; )${key}: `));
    },
  );
});

describe('RoutingTable', () => {
  it('routes order.created.v1 to the Customer module’s reserve-credit only under choreography', () => {
    expect(new RoutingTable(INBOXES, 'choreography').consumersOf('order.created.v1')).toEqual([
      { useCase: 'customer.reserve-credit', schema: 'customers', key: 'customerId' },
    ]);
    expect(new RoutingTable(INBOXES, 'orchestration').consumersOf('order.created.v1')).toEqual([]);
  });

  it('routes the saga’s commands only under orchestration', () => {
    const choreography = new RoutingTable(INBOXES, 'choreography');
    const orchestration = new RoutingTable(INBOXES, 'orchestration');
    expect(choreography.consumersOf('customer.reserve-credit.v1')).toEqual([]);
    expect(orchestration.consumersOf('customer.reserve-credit.v1')).toEqual([
      { useCase: 'customer.reserve-credit', schema: 'customers', key: 'customerId' },
    ]);
    expect(orchestration.consumersOf('customer.credit-reserved.v1')).toEqual([
      { useCase: 'order.place-order-saga', schema: 'ordering', key: 'orderId' },
    ]);
    expect(choreography.consumersOf('customer.credit-reserved.v1')).toEqual([
      { useCase: 'order.approve-order', schema: 'ordering', key: 'orderId' },
    ]);
  });

  it('routes a type nobody subscribes to nowhere', () => {
    expect(new RoutingTable(INBOXES, 'choreography').consumersOf('nobody.listens-to-this.v1')).toEqual([]);
  });

  it('lists the use cases active under its style, and all of them', () => {
    const fixture: ModuleInbox[] = [
      {
        module: 'a',
        schema: 'a',
        routes: [
          { useCase: 'a.both', messageType: 'b.done.v1', styles: ['choreography', 'orchestration'], key: 'id' },
          { useCase: 'a.told', messageType: 'a.do.v1', styles: ['orchestration'], key: 'id' },
        ],
        publishes: ['a.done.v1'],
      },
      {
        module: 'b',
        schema: 'b',
        routes: [{ useCase: 'b.react', messageType: 'a.done.v1', styles: ['choreography'], key: 'id' }],
        publishes: [],
      },
    ];
    expect(new RoutingTable(fixture, 'choreography').activeUseCases()).toEqual(['a.both', 'b.react']);
    expect(new RoutingTable(fixture, 'orchestration').activeUseCases()).toEqual(['a.both', 'a.told']);
    expect(new RoutingTable(fixture, 'orchestration').allUseCases()).toEqual(['a.both', 'a.told', 'b.react']);
    // The composition's: each style activates the routes that name it; every use case is known.
    for (const style of SAGA_STYLES) {
      const table = new RoutingTable(INBOXES, style);
      const routed = INBOXES.flatMap((i) => i.routes.filter((r) => r.styles.includes(style)).map((r) => r.useCase));
      expect(table.activeUseCases()).toEqual([...new Set(routed)].sort());
      expect(table.allUseCases()).toEqual([...new Set(INBOXES.flatMap((i) => i.routes.map((r) => r.useCase)))].sort());
    }
  });

  it('lists every active (message type, consumer) pair', () => {
    const key = (r: { messageType: string; useCase: string; schema: string }) => `${r.messageType} -> ${r.useCase}@${r.schema}`;
    for (const style of ['choreography', 'orchestration'] as const) {
      const declared = INBOXES.flatMap((inbox) =>
        inbox.routes.filter((r) => r.styles.includes(style)).map((r) => key({ ...r, schema: inbox.schema })),
      );
      expect(new RoutingTable(INBOXES, style).routes().map(key).sort()).toEqual(declared.sort());
    }
    expect(new RoutingTable(INBOXES, 'orchestration').routes()).toContainEqual({
      messageType: 'customer.release-credit.v1',
      useCase: 'customer.release-credit',
      schema: 'customers',
      key: 'customerId',
    });
  });

  it('knows the schema of every use case, active or not', () => {
    const table = new RoutingTable(INBOXES, 'orchestration');
    expect(table.schemaOf('order.approve-order')).toBe('ordering');
    expect(table.schemaOf('customer.reserve-credit')).toBe('customers');
    expect(() => table.schemaOf('order.nope')).toThrow('unknown use case order.nope');
  });

  it('lists a use case once per message type even when declared twice', () => {
    const inbox: ModuleInbox = {
      module: 'm',
      schema: 's',
      routes: [
        { useCase: 'm.do-it', messageType: 'x.happened.v1', styles: ['choreography'], key: 'xId' },
        { useCase: 'm.do-it', messageType: 'x.happened.v1', styles: ['choreography', 'orchestration'], key: 'xId' },
      ],
      publishes: [],
    };
    expect(new RoutingTable([inbox], 'choreography').consumersOf('x.happened.v1')).toEqual([
      { useCase: 'm.do-it', schema: 's', key: 'xId' },
    ]);
  });

  it('refuses one use case declared by two modules', () => {
    const clash: ModuleInbox = {
      module: 'other',
      schema: 'other',
      routes: [{ useCase: 'customer.reserve-credit', messageType: 'x.happened.v1', styles: ['choreography'], key: 'xId' }],
      publishes: [],
    };
    expect(() => new RoutingTable([...INBOXES, clash], 'choreography')).toThrow(
      'use case customer.reserve-credit is declared by two modules (customers, other)',
    );
  });
});

function definition(type: string): MessageDefinition<unknown> {
  return { type, kind: 'event', parse: (p) => ok(p) };
}

function subscriptionsFor(inbox: ModuleInbox): Subscription[] {
  return inbox.routes.map((r) => ({
    useCase: r.useCase,
    message: definition(r.messageType),
    styles: r.styles,
    handle: async () => undefined,
  }));
}

describe('assertSubscriptionsMatchInbox', () => {
  it('accepts subscriptions that are exactly the declared routes, and returns nothing', () => {
    expect(assertSubscriptionsMatchInbox(customerInbox, subscriptionsFor(customerInbox))).toBeUndefined();
  });

  it('names a declared route without a handler', () => {
    const subs = subscriptionsFor(orderInbox).filter((s) => !(s.useCase === 'order.reject-order'));
    expect(() => assertSubscriptionsMatchInbox(orderInbox, subs)).toThrow(
      'module order: subscriptions and contract routes differ. Declared without a handler: order.reject-order <- customer.credit-reservation-failed.v1 [choreography].',
    );
  });

  it('names a handler the contract does not declare', () => {
    const extra: Subscription = {
      useCase: 'customer.reserve-credit',
      message: definition('order.approved.v1'),
      styles: ['choreography'],
      handle: async () => undefined,
    };
    expect(() => assertSubscriptionsMatchInbox(customerInbox, [...subscriptionsFor(customerInbox), extra])).toThrow(
      'Handled but not declared in the contract: customer.reserve-credit <- order.approved.v1 [choreography].',
    );
  });

  it('tells a handler active under another style than declared', () => {
    const subs = subscriptionsFor(customerInbox).map((s) =>
      s.message.type === 'order.created.v1' ? { ...s, styles: ['choreography', 'orchestration'] as const } : s,
    );
    let message = '';
    try {
      assertSubscriptionsMatchInbox(customerInbox, subs);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('Declared without a handler: customer.reserve-credit <- order.created.v1 [choreography].');
    expect(message).toContain(
      'Handled but not declared in the contract: customer.reserve-credit <- order.created.v1 [choreography,orchestration].',
    );
  });
});
