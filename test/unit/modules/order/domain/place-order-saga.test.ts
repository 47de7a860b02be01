import { describe, expect, it } from 'vitest';
import { PlaceOrderSaga, type PlaceOrderSagaState, type SagaAction } from '../../../../../src/modules/order/domain/place-order-saga.js';
import {
  PLACE_ORDER_SAGA_V1,
  type PlaceOrderSagaDefinition,
} from '../../../../../src/modules/order/domain/place-order-saga.definitions.js';

const SAGA = '01900000-0000-7000-8000-00000000000a';
const DEADLINE = new Date('2026-03-01T09:01:00.000Z');
const BEFORE_DEADLINE = new Date(DEADLINE.getTime() - 1);

type Input =
  'credit-reserved' | 'credit-reservation-failed' | 'credit-released' | 'deadline-passed' | 'deadline-not-yet' | 'order-cancelled';

function apply(saga: PlaceOrderSaga, input: Input): SagaAction {
  switch (input) {
    case 'credit-reserved':
      return saga.onCreditReserved();
    case 'credit-reservation-failed':
      return saga.onCreditReservationFailed('CREDIT_LIMIT_EXCEEDED');
    case 'credit-released':
      return saga.onCreditReleased();
    case 'deadline-passed':
      return saga.onDeadline(DEADLINE);
    case 'deadline-not-yet':
      return saga.onDeadline(BEFORE_DEADLINE);
    case 'order-cancelled':
      return saga.onOrderCancelled();
  }
}

const NONE: SagaAction = { kind: 'none' };
const STATES: PlaceOrderSagaState[] = [
  'AWAITING_CREDIT',
  'APPROVED',
  'REJECTED',
  'AWAITING_CREDIT_RELEASE',
  'CANCELLED',
  'COMPENSATING',
  'COMPENSATED',
];
const INPUTS: Input[] = [
  'credit-reserved',
  'credit-reservation-failed',
  'credit-released',
  'deadline-passed',
  'deadline-not-yet',
  'order-cancelled',
];

/** The whole machine: for each state and input, the action and the next state. Unlisted pairs do nothing. */
const TRANSITIONS: Partial<Record<PlaceOrderSagaState, Partial<Record<Input, [SagaAction, PlaceOrderSagaState]>>>> = {
  AWAITING_CREDIT: {
    'credit-reserved': [{ kind: 'approve-order' }, 'APPROVED'],
    'credit-reservation-failed': [{ kind: 'reject-order', reason: 'CREDIT_LIMIT_EXCEEDED' }, 'REJECTED'],
    'deadline-passed': [{ kind: 'reject-order', reason: 'TIMEOUT' }, 'REJECTED'],
  },
  APPROVED: {
    'order-cancelled': [{ kind: 'release-credit' }, 'AWAITING_CREDIT_RELEASE'],
  },
  REJECTED: {
    // The reservation arrived after the saga gave up: it must be given back.
    'credit-reserved': [{ kind: 'release-credit' }, 'COMPENSATING'],
  },
  AWAITING_CREDIT_RELEASE: {
    'credit-released': [NONE, 'CANCELLED'],
  },
  COMPENSATING: {
    'credit-released': [NONE, 'COMPENSATED'],
  },
};

function sagaIn(state: PlaceOrderSagaState): PlaceOrderSaga {
  return PlaceOrderSaga.rehydrate({ id: SAGA, state, deadlineAt: DEADLINE, version: 2, definitionVersion: 1 });
}

describe('PlaceOrderSaga', () => {
  it('starts AWAITING_CREDIT by asking for the credit', () => {
    const { saga, action } = PlaceOrderSaga.start(SAGA, DEADLINE);
    expect(action).toEqual({ kind: 'reserve-credit' });
    expect(saga.snapshot()).toEqual({ id: SAGA, state: 'AWAITING_CREDIT', deadlineAt: DEADLINE, version: 0, definitionVersion: 1 });
  });

  describe.each(STATES)('in state %s', (state) => {
    it.each(INPUTS)('on %s', (input) => {
      const [action, next] = TRANSITIONS[state]?.[input] ?? [NONE, state];
      const saga = sagaIn(state);
      expect(apply(saga, input)).toEqual(action);
      expect(saga.state).toBe(next);
      expect(saga.version).toBe(2);
    });
  });

  it('does nothing on a duplicate of an input it already acted on', () => {
    for (const [state, byInput] of Object.entries(TRANSITIONS)) {
      for (const input of Object.keys(byInput) as Input[]) {
        const saga = sagaIn(state as PlaceOrderSagaState);
        apply(saga, input);
        const moved = saga.state;
        expect(apply(saga, input), `${state} + ${input} twice`).toEqual(NONE);
        expect(saga.state).toBe(moved);
      }
    }
  });

  it('gives back a reservation that arrives after the TIMEOUT, then completes the compensation', () => {
    const { saga } = PlaceOrderSaga.start(SAGA, DEADLINE);
    expect(saga.onDeadline(DEADLINE)).toEqual({ kind: 'reject-order', reason: 'TIMEOUT' });
    expect(saga.onCreditReserved()).toEqual({ kind: 'release-credit' });
    expect(saga.onCreditReserved()).toEqual(NONE);
    expect(saga.onCreditReleased()).toEqual(NONE);
    expect(saga.state).toBe('COMPENSATED');
    expect(saga.isFinished()).toBe(true);
  });

  it.each<[PlaceOrderSagaState, boolean]>([
    ['AWAITING_CREDIT', false],
    ['APPROVED', false],
    ['REJECTED', true],
    ['AWAITING_CREDIT_RELEASE', false],
    ['CANCELLED', true],
    ['COMPENSATING', false],
    ['COMPENSATED', true],
  ])('%s is finished: %s', (state, finished) => {
    expect(sagaIn(state).isFinished()).toBe(finished);
  });
});

describe('PlaceOrderSaga definition versions', () => {
  // A later release that approves only after a second look: instances started under v1 must not see it.
  const V2: PlaceOrderSagaDefinition = {
    ...PLACE_ORDER_SAGA_V1,
    version: 2,
    transitions: PLACE_ORDER_SAGA_V1.transitions.map((t) =>
      t.from === 'AWAITING_CREDIT' && t.on === 'credit-reserved' ? { ...t, action: 'none' as const } : t,
    ),
  };

  it('starts new instances under the newest definition it handles', () => {
    expect(PlaceOrderSaga.start(SAGA, DEADLINE, [PLACE_ORDER_SAGA_V1, V2]).saga.snapshot().definitionVersion).toBe(2);
  });

  it('keeps an instance on the definition it started under', () => {
    const old = PlaceOrderSaga.rehydrate({ id: SAGA, state: 'AWAITING_CREDIT', deadlineAt: DEADLINE, version: 1, definitionVersion: 1 }, [
      PLACE_ORDER_SAGA_V1,
      V2,
    ]);
    expect(old.onCreditReserved()).toEqual({ kind: 'approve-order' });
    const current = PlaceOrderSaga.rehydrate(
      { id: SAGA, state: 'AWAITING_CREDIT', deadlineAt: DEADLINE, version: 1, definitionVersion: 2 },
      [PLACE_ORDER_SAGA_V1, V2],
    );
    expect(current.onCreditReserved()).toEqual(NONE);
  });

  it('refuses an instance of a version this release no longer handles, naming it', () => {
    expect(() =>
      PlaceOrderSaga.rehydrate({ id: SAGA, state: 'APPROVED', deadlineAt: DEADLINE, version: 1, definitionVersion: 1 }, [V2]),
    ).toThrow(/definition v1, which this release no longer handles \(it handles v2\)/);
  });
});
