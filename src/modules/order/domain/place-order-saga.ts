import type { RejectionReason } from './order-status.js';

export type PlaceOrderSagaState =
  'AWAITING_CREDIT' | 'APPROVED' | 'REJECTED' | 'AWAITING_CREDIT_RELEASE' | 'CANCELLED' | 'COMPENSATING' | 'COMPENSATED';

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
}

const NONE: SagaAction = { kind: 'none' };

/**
 * The orchestrator of an order's credit (orchestration style). Its id is the order's id, which
 * every command carries as correlationId and every reply echoes. A state machine: each input
 * moves it at most one step and names the action to take; inputs that no longer apply (a
 * duplicate or late reply) return `none`, except a reservation that arrives after the saga gave
 * up, which must be compensated by releasing the credit.
 */
export class PlaceOrderSaga {
  private constructor(
    readonly id: string,
    private current: PlaceOrderSagaState,
    readonly deadlineAt: Date,
    readonly version: number,
  ) {}

  static start(orderId: string, deadlineAt: Date): { saga: PlaceOrderSaga; action: SagaAction } {
    return { saga: new PlaceOrderSaga(orderId, 'AWAITING_CREDIT', deadlineAt, 0), action: { kind: 'reserve-credit' } };
  }

  static rehydrate(s: PlaceOrderSagaSnapshot): PlaceOrderSaga {
    return new PlaceOrderSaga(s.id, s.state, s.deadlineAt, s.version);
  }

  get state(): PlaceOrderSagaState {
    return this.current;
  }

  isFinished(): boolean {
    return this.current === 'REJECTED' || this.current === 'CANCELLED' || this.current === 'COMPENSATED';
  }

  onCreditReserved(): SagaAction {
    if (this.current === 'AWAITING_CREDIT') return this.move('APPROVED', { kind: 'approve-order' });
    if (this.current === 'REJECTED') return this.move('COMPENSATING', { kind: 'release-credit' });
    return NONE;
  }

  onCreditReservationFailed(reason: RejectionReason): SagaAction {
    if (this.current === 'AWAITING_CREDIT') return this.move('REJECTED', { kind: 'reject-order', reason });
    return NONE;
  }

  onCreditReleased(): SagaAction {
    if (this.current === 'AWAITING_CREDIT_RELEASE') return this.move('CANCELLED', NONE);
    if (this.current === 'COMPENSATING') return this.move('COMPENSATED', NONE);
    return NONE;
  }

  onDeadline(now: Date): SagaAction {
    if (this.current === 'AWAITING_CREDIT' && now.getTime() >= this.deadlineAt.getTime()) {
      return this.move('REJECTED', { kind: 'reject-order', reason: 'TIMEOUT' });
    }
    return NONE;
  }

  /** The order was cancelled after approval: its credit must be given back. */
  onOrderCancelled(): SagaAction {
    if (this.current === 'APPROVED') return this.move('AWAITING_CREDIT_RELEASE', { kind: 'release-credit' });
    return NONE;
  }

  snapshot(): PlaceOrderSagaSnapshot {
    return { id: this.id, state: this.current, deadlineAt: this.deadlineAt, version: this.version };
  }

  private move(to: PlaceOrderSagaState, action: SagaAction): SagaAction {
    this.current = to;
    return action;
  }
}
