import type { MoneyJson } from '../../../shared/kernel/index.js';
import type { Order, OrderStatus, RejectionReason } from '../domain/order.aggregate.js';
import type { SagaStep, SagaStepOutcome } from './ports/saga-log.port.js';

export interface SagaView {
  /** The style the order was placed under: `choreography` or `orchestration`. */
  readonly style: string;
  readonly state: string;
  readonly steps: ReadonlyArray<{
    readonly name: string;
    readonly at: string;
    readonly outcome: SagaStepOutcome;
    readonly detail?: string;
  }>;
}

export interface OrderView {
  readonly id: string;
  readonly customerId: string;
  readonly total: MoneyJson;
  readonly status: OrderStatus;
  readonly rejectionReason?: RejectionReason;
  readonly saga?: SagaView;
}

export function toOrderView(order: Order, saga?: { state: string; steps: readonly SagaStep[] }): OrderView {
  return {
    id: order.id,
    customerId: order.customerId,
    total: order.total.toJSON(),
    status: order.status,
    ...(order.rejectionReason ? { rejectionReason: order.rejectionReason } : {}),
    ...(saga
      ? {
          saga: {
            style: order.sagaStyle,
            state: saga.state,
            steps: saga.steps.map((s) => ({
              name: s.name,
              at: s.at.toISOString(),
              outcome: s.outcome,
              ...(s.detail ? { detail: s.detail } : {}),
            })),
          },
        }
      : {}),
  };
}
