import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { compareWithLock, contractsOf, LOCK_FILE } from '../../../scripts/contracts.js';
import { findBreakingChanges, type RuleId } from '../../../scripts/contracts/compatibility.js';
import { lockOf, type Contracts } from '../../../scripts/contracts/contract-lock.js';
import { ALL_INBOXES, ALL_MODULES } from '../../../src/entrypoints/composition/all-modules.js';
import type { InboundRoute, ModuleInbox } from '../../../src/shared/contract/routing.js';
import { defineMessage, type MessageDefinition, type SagaDefinition } from '../../../src/shared/kernel/index.js';

/** A small composition standing for the released contracts: each case changes one thing in a copy. */
const money = z.object({ amount: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER), currency: z.string().regex(/^[A-Z]{3}$/) });
const createdFields = { orderId: z.uuid(), customerId: z.uuid(), total: money, reason: z.enum(['A', 'B']), note: z.string().max(100) };
const created = (fields: Record<string, z.ZodType> = createdFields, kind: 'event' | 'command' = 'event') =>
  defineMessage('shop.order-created.v1', kind, z.object(fields)) as MessageDefinition<unknown>;
const shipped = defineMessage('shop.order-shipped.v1', 'event', z.object({ orderId: z.uuid() })) as MessageDefinition<unknown>;

const route = (useCase: string, key = 'customerId', styles: InboundRoute['styles'] = ['choreography']): InboundRoute => ({
  useCase,
  messageType: 'shop.order-created.v1',
  styles,
  key,
});
const inbox = (routes: InboundRoute[]): ModuleInbox => ({ module: 'shop', schema: 'shop', routes, publishes: ['shop.order-created.v1'] });

const V1: SagaDefinition = {
  saga: 'checkout',
  version: 1,
  initial: 'WAITING',
  states: ['WAITING', 'DONE', 'FAILED'],
  transitions: [
    { from: 'WAITING', on: 'paid', to: 'DONE', action: 'ship' },
    { from: 'WAITING', on: 'refused', to: 'FAILED', action: 'cancel' },
  ],
};
const V2: SagaDefinition = {
  ...V1,
  version: 2,
  transitions: [...V1.transitions, { from: 'WAITING', on: 'timeout', to: 'FAILED', action: 'cancel' }],
};

const released: Contracts = { messages: [created(), shipped], inboxes: [inbox([route('shop.reserve')])], sagas: [V1] };
const rulesOf = (current: Partial<Contracts>) => findBreakingChanges(lockOf(released), lockOf({ ...released, ...current }));
const firedBy = (current: Partial<Contracts>): RuleId[] => rulesOf(current).map((f) => f.rule);
const without = (name: keyof typeof createdFields) => Object.fromEntries(Object.entries(createdFields).filter(([k]) => k !== name));

/** Each rule: a change it must catch, and a compatible change near it it must let pass. */
const CASES: Array<{ rule: RuleId; breaking: Partial<Contracts>; names: string; compatible: Partial<Contracts> }> = [
  {
    rule: 'message-removed',
    breaking: { messages: [created()] },
    names: 'shop.order-shipped.v1',
    compatible: {
      messages: [created(), shipped, defineMessage('shop.order-paid.v1', 'event', z.object({})) as MessageDefinition<unknown>],
    },
  },
  {
    rule: 'message-kind-changed',
    breaking: { messages: [created(createdFields, 'command'), shipped] },
    names: 'shop.order-created.v2',
    compatible: {
      messages: [created(), shipped, defineMessage('shop.ship-order.v1', 'command', z.object({})) as MessageDefinition<unknown>],
    },
  },
  {
    rule: 'field-removed',
    breaking: { messages: [created(without('customerId')), shipped] },
    names: '`customerId`',
    compatible: { messages: [created({ ...createdFields, giftWrap: z.boolean().optional() }), shipped] },
  },
  {
    rule: 'field-required-added',
    breaking: { messages: [created({ ...createdFields, giftWrap: z.boolean() }), shipped] },
    names: '`giftWrap`',
    compatible: { messages: [created({ ...createdFields, total: money.extend({ rate: z.number().optional() }) }), shipped] },
  },
  {
    rule: 'field-narrowed',
    breaking: { messages: [created({ ...createdFields, reason: z.enum(['A']) }), shipped] },
    names: '`reason`',
    compatible: { messages: [created({ ...createdFields, reason: z.enum(['A', 'B']).describe('why') }), shipped] },
  },
  {
    rule: 'field-widened',
    breaking: { messages: [created({ ...createdFields, note: z.string().max(200) }), shipped] },
    names: '`note`',
    compatible: { messages: [created({ ...createdFields, note: z.string().max(100).describe('free text') }), shipped] },
  },
  {
    rule: 'field-changed',
    breaking: { messages: [created({ ...createdFields, total: money.extend({ currency: z.string().regex(/^[a-z]{3}$/) }) }), shipped] },
    names: '`total.currency`',
    compatible: { messages: [created({ ...createdFields, total: money.extend({ currency: z.string().regex(/^[A-Z]{3}$/) }) }), shipped] },
  },
  {
    rule: 'route-removed',
    breaking: { inboxes: [inbox([])] },
    names: 'shop.reserve',
    compatible: { inboxes: [inbox([route('shop.reserve'), route('shop.notify')])] },
  },
  {
    rule: 'route-key-changed',
    breaking: { inboxes: [inbox([route('shop.reserve', 'orderId')])] },
    names: '`customerId` to `orderId`',
    compatible: { inboxes: [inbox([route('shop.reserve', 'customerId', ['choreography', 'orchestration'])])] },
  },
  { rule: 'saga-version-removed', breaking: { sagas: [V2] }, names: 'checkout definition v1', compatible: { sagas: [V1, V2] } },
  {
    rule: 'saga-version-changed',
    breaking: { sagas: [{ ...V2, version: 1 }] },
    names: '`WAITING --timeout--> FAILED / cancel` added',
    compatible: { sagas: [V1, V2] },
  },
];

describe('the contract lock: each rule catches its fixture and lets a compatible change pass', () => {
  it.each(CASES)('$rule', ({ rule, breaking, names, compatible }) => {
    const findings = rulesOf(breaking);
    expect(findings.map((f) => f.rule)).toEqual([rule]);
    const [sentence] = findings.map((f) => f.sentence);
    expect(sentence).toContain(names);
    // One sentence, pointing to the ADR.
    expect(sentence).toMatch(/^[^\n]+ \(see docs\/adr\/0037-[a-z-]+\.md\)\.$/);
    expect(firedBy(compatible)).toEqual([]);
  });

  it('every rule has a case', () => {
    const rules: RuleId[] = [
      'message-removed',
      'message-kind-changed',
      'field-removed',
      'field-required-added',
      'field-narrowed',
      'field-widened',
      'field-changed',
      'route-removed',
      'route-key-changed',
      'saga-version-removed',
      'saga-version-changed',
    ];
    expect(CASES.map((c) => c.rule).sort()).toEqual([...rules].sort());
  });

  it('an optional field that becomes required is caught too', () => {
    const before = { ...released, messages: [created({ ...createdFields, giftWrap: z.boolean().optional() }), shipped] };
    const after = { ...released, messages: [created({ ...createdFields, giftWrap: z.boolean() }), shipped] };
    expect(findBreakingChanges(lockOf(before), lockOf(after)).map((f) => f.sentence)).toEqual([
      expect.stringContaining('field `giftWrap` became required'),
    ]);
  });
});

describe('contracts:check and contracts:update', () => {
  const lock = lockOf(released);

  it('check fails on a lock not updated for a compatible change, naming it; update then writes it', () => {
    const current = lockOf({
      ...released,
      messages: [created(), shipped, defineMessage('shop.order-paid.v1', 'event', z.object({})) as MessageDefinition<unknown>],
    });
    const check = compareWithLock(lock, current, 'check');
    expect(check).toMatchObject({ ok: false, lines: [expect.stringContaining('compatible (message shop.order-paid.v1)')] });
    const update = compareWithLock(lock, current, 'update');
    expect(update.ok).toBe(true);
    expect(compareWithLock(JSON.parse(update.write!), current, 'check').ok).toBe(true);
  });

  it('update refuses a breaking change and writes nothing', () => {
    const update = compareWithLock(lock, lockOf({ ...released, messages: [created(without('note')), shipped] }), 'update');
    expect(update.ok).toBe(false);
    expect(update.write).toBeUndefined();
  });

  it('update removes what --retire names, and only that', () => {
    const current = lockOf({ ...released, sagas: [V2], inboxes: [inbox([])] });
    expect(compareWithLock(lock, current, 'update', ['saga:checkout@1']).lines).toEqual([
      expect.stringContaining('route of shop.order-created.v1 to shop.reserve was removed'),
      expect.stringContaining('1 breaking change(s)'),
    ]);
    const both = compareWithLock(lock, current, 'update', ['saga:checkout@1', 'route:choreography:shop.order-created.v1:shop.reserve']);
    expect(both.ok).toBe(true);
    expect(compareWithLock(lock, current, 'update', ['saga:checkout@3']).lines).toEqual([
      expect.stringMatching(/^--retire saga:checkout@3 names nothing the code removed/),
    ]);
  });

  it('a retirement is never accepted by check: it is an update, reviewed in the lock diff', () => {
    expect(compareWithLock(lock, lockOf({ ...released, sagas: [V2] }), 'check', ['saga:checkout@1']).ok).toBe(false);
  });
});

describe('the monolith against its committed lock', () => {
  const committed = JSON.parse(readFileSync(LOCK_FILE, 'utf8'));
  const contracts = contractsOf(ALL_MODULES, ALL_INBOXES);
  const plant = (change: Partial<Contracts>) => compareWithLock(committed, lockOf({ ...contracts, ...change }), 'check').lines;

  it('matches it', () => {
    expect(compareWithLock(committed, lockOf(contracts), 'check')).toEqual({ ok: true, lines: ['contracts.lock.json matches the code'] });
  });

  it('fails on a field of order.created.v1 renamed, naming the message and the fix', () => {
    const messages = contracts.messages.map((m) =>
      m.type === 'order.created.v1'
        ? (defineMessage(
            'order.created.v1',
            'event',
            z.object({ id: z.uuid(), customerId: z.uuid(), total: money }),
          ) as MessageDefinition<unknown>)
        : m,
    );
    expect(plant({ messages })).toContainEqual(
      expect.stringMatching(/^order\.created\.v1: field `orderId` was removed or renamed, .*order\.created\.v2 beside it/),
    );
  });

  it("fails on a route's key changed", () => {
    const inboxes = contracts.inboxes.map((i) => ({
      ...i,
      routes: i.routes.map((r) => (r.messageType === 'order.created.v1' ? { ...r, key: 'orderId' } : r)),
    }));
    expect(plant({ inboxes })).toContainEqual(
      expect.stringContaining(
        'the choreography route of order.created.v1 to customer.reserve-credit changed its key from `customerId` to `orderId`',
      ),
    );
  });

  it('fails on a step of the place-order saga edited in place', () => {
    const sagas = contracts.sagas.map((d) => ({
      ...d,
      transitions: d.transitions.map((t) => (t.on === 'deadline' ? { ...t, to: 'CANCELLED' } : t)),
    }));
    expect(plant({ sagas })).toContainEqual(
      expect.stringMatching(/^saga place-order definition v1 changed .*add the change as v2 beside it/),
    );
  });
});
