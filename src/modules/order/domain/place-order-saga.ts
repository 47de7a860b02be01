import { DomainError, transitionOf } from '../../../shared/kernel/index.js';
import type { RejectionReason } from './order-status.js';
import {
  PLACE_ORDER_SAGA_DEFINITIONS,
  type PlaceOrderSagaActionKind,
  type PlaceOrderSagaDefinition,
  type PlaceOrderSagaInput,
  type PlaceOrderSagaState,
} from './place-order-saga.definitions.js';

export type { PlaceOrderSagaState } from './place-order-saga.definitions.js';

/** What the orchestrator must do after a transition; the application turns it into order changes and commands. */
export type SagaAction =
  | { readonly kind: 'approve-order' }
  | { readonly kind: 'reject-order'; readonly reason: RejectionReason }
  | { readonly kind: 'reserve-credit' }
  | { readonly kind: 'release-credit' }
  | { readonly kind: 'none' };

export interface PlaceOrderSagaSnapshot {
  readonly id: string;
  readonly state: PlaceOrderSagaState;
  readonly deadlineAt: Date;
  readonly version: number;
  /** The version of the saga's definition it started under, and follows to its end (ADR 37). */
  readonly definitionVersion: number;
}

const NONE: SagaAction = { kind: 'none' };

/** An instance whose definition version this release no longer handles. */
export class SagaDefinitionRetiredError extends DomainError {
  constructor(sagaId: string, definitionVersion: number, handled: readonly number[]) {
    super(
      'SAGA_DEFINITION_RETIRED',
      `place-order saga ${sagaId} started under definition v${definitionVersion}, which this release no longer handles (it handles v${handled.join(', v')}): deploy a release that still handles it`,
      'unavailable',
      { sagaId, definitionVersion },
    );
  }
}

/**
 * The orchestrator of an order's credit (orchestration style). Its id is the order's id, which
 * every command carries as correlationId and every reply echoes. A state machine following the
 * definition version it started under: each input moves it at most one step and names the action
 * to take; inputs that no longer apply (a duplicate or late reply) return `none`, except a
 * reservation that arrives after the saga gave up, which must be compensated.
 */
export class PlaceOrderSaga {
  private constructor(
    readonly id: string,
    private current: PlaceOrderSagaState,
    readonly deadlineAt: Date,
    readonly version: number,
    readonly definition: PlaceOrderSagaDefinition,
  ) {}

  /** Starts under the newest definition of `definitions` (this release's, unless a test passes its own). */
  static start(
    orderId: string,
    deadlineAt: Date,
    definitions: readonly PlaceOrderSagaDefinition[] = PLACE_ORDER_SAGA_DEFINITIONS,
  ): { saga: PlaceOrderSaga; action: SagaAction } {
    const definition = definitions[definitions.length - 1];
    if (!definition) throw new Error('no place-order saga definition');
    return { saga: new PlaceOrderSaga(orderId, definition.initial, deadlineAt, 0, definition), action: { kind: 'reserve-credit' } };
  }

  static rehydrate(
    s: PlaceOrderSagaSnapshot,
    definitions: readonly PlaceOrderSagaDefinition[] = PLACE_ORDER_SAGA_DEFINITIONS,
  ): PlaceOrderSaga {
    const definition = definitions.find((d) => d.version === s.definitionVersion);
    if (!definition)
      throw new SagaDefinitionRetiredError(
        s.id,
        s.definitionVersion,
        definitions.map((d) => d.version),
      );
    return new PlaceOrderSaga(s.id, s.state, s.deadlineAt, s.version, definition);
  }

  get state(): PlaceOrderSagaState {
    return this.current;
  }

  isFinished(): boolean {
    return this.current === 'REJECTED' || this.current === 'CANCELLED' || this.current === 'COMPENSATED';
  }

  onCreditReserved(): SagaAction {
    return this.fire('credit-reserved');
  }

  onCreditReservationFailed(reason: RejectionReason): SagaAction {
    return this.fire('credit-reservation-failed', reason);
  }

  onCreditReleased(): SagaAction {
    return this.fire('credit-released');
  }

  onDeadline(now: Date): SagaAction {
    return now.getTime() >= this.deadlineAt.getTime() ? this.fire('deadline', 'TIMEOUT') : NONE;
  }

  /** The order was cancelled after approval: its credit must be given back. */
  onOrderCancelled(): SagaAction {
    return this.fire('order-cancelled');
  }

  snapshot(): PlaceOrderSagaSnapshot {
    return {
      id: this.id,
      state: this.current,
      deadlineAt: this.deadlineAt,
      version: this.version,
      definitionVersion: this.definition.version,
    };
  }

  private fire(input: PlaceOrderSagaInput, reason?: RejectionReason): SagaAction {
    const transition = transitionOf(this.definition, this.current, input);
    if (!transition) return NONE;
    this.current = transition.to;
    return actionOf(transition.action, reason);
  }
}

function actionOf(kind: PlaceOrderSagaActionKind, reason: RejectionReason | undefined): SagaAction {
  if (kind !== 'reject-order') return { kind };
  if (reason === undefined) throw new Error('a place-order saga definition rejects on an input that carries no reason');
  return { kind, reason };
}
