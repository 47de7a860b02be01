import { describe, expect, it } from 'vitest';
import * as customerContract from '../../../../../src/modules/customer/contract/index.js';
import * as orderContract from '../../../../../src/modules/order/contract/index.js';
import {
  assertSubscriptionsMatchInbox,
  RoutingTable,
  type Subscription,
} from '../../../../../src/shared/infrastructure/messaging/subscription.js';
import type { ModuleInbox } from '../../../../../src/shared/contract/routing.js';
import { ok, type MessageDefinition } from '../../../../../src/shared/kernel/index.js';

const { customerInbox } = customerContract;
const { orderInbox } = orderContract;
const INBOXES: readonly ModuleInbox[] = [orderInbox, customerInbox];

/** Every message definition the contracts export, by type. */
const MESSAGES = new Map(
  ([...Object.values(customerContract), ...Object.values(orderContract)] as unknown[])
    .filter((v): v is MessageDefinition<unknown> => typeof v === 'object' && v !== null && 'type' in v && 'parse' in v)
    .map((d) => [d.type, d]),
);

describe('delivery keys', () => {
  it.each(INBOXES.flatMap((i) => i.routes.map((r) => [r.useCase, r.messageType, r.key] as const)))(
    '%s <- %s is keyed by a required field of the payload (%s)',
    (_useCase, type, key) => {
      const message = MESSAGES.get(type);
      expect(message, `the contracts define ${type}`).toBeDefined();
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
    expect(new RoutingTable(INBOXES, 'choreography').consumersOf('order.approved.v1')).toEqual([]);
  });

  it('lists the use cases active under its style, and all of them', () => {
    expect(new RoutingTable(INBOXES, 'choreography').activeUseCases()).toEqual([
      'customer.release-credit',
      'customer.reserve-credit',
      'order.approve-order',
      'order.record-credit-release',
      'order.reject-order',
    ]);
    const orchestration = new RoutingTable(INBOXES, 'orchestration');
    expect(orchestration.activeUseCases()).toEqual(['customer.release-credit', 'customer.reserve-credit', 'order.place-order-saga']);
    expect(orchestration.allUseCases()).toEqual([
      'customer.release-credit',
      'customer.reserve-credit',
      'order.approve-order',
      'order.place-order-saga',
      'order.record-credit-release',
      'order.reject-order',
    ]);
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
