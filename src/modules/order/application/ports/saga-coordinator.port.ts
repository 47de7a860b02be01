import type { MessageContext } from '../../../../shared/kernel/index.js';
import type { Order } from '../../domain/order.aggregate.js';

/**
 * The saga that drives an order to its end, in one style (choreography or orchestration). The
 * use cases call it without knowing the style; every call runs in the caller's transaction.
 */
export interface SagaCoordinatorPort {
  /** The style it runs: what a new order records as its `sagaStyle`. */
  readonly style: string;
  /** Stores the order just placed and starts its saga (the first message to Customer). */
  start(order: Order, context: MessageContext): Promise<void>;
  /** Stores an order just cancelled and lets its saga give the credit back. */
  cancel(order: Order, context: MessageContext): Promise<void>;
  /** The saga's state, shown with the order. */
  stateOf(order: Order): Promise<string>;
  /** Ids of this style's orders whose saga is past its deadline, oldest deadline first. */
  findOverdue(now: Date, limit: number): Promise<string[]>;
  /** Ends one overdue saga (its order is rejected with TIMEOUT); false when nothing was left to do. */
  expire(orderId: string, context: MessageContext): Promise<boolean>;
}

/**
 * Which coordinator drives an order. An order keeps the style it was placed under (orders.saga_style),
 * so a change of SAGA_STYLE between deploys leaves the orders already running on their own style.
 */
export interface SagaCoordinatorsPort {
  /** The configured style's coordinator: new orders start with it. */
  readonly current: SagaCoordinatorPort;
  /** Every style's coordinator: the deadlines of each style's orders are kept whatever is configured. */
  readonly all: readonly SagaCoordinatorPort[];
  /** The coordinator of the style `order` was placed under. */
  of(order: Order): SagaCoordinatorPort;
}
