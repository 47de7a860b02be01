import type { MessageContext } from '../../../../shared/kernel/index.js';
import type { Order } from '../../domain/order.aggregate.js';
import type { OrderChanges } from '../order-changes.js';
import type { PlaceOrderSagaOrchestrator } from '../place-order-saga/place-order-saga.orchestrator.js';
import type { SagaCoordinatorPort } from '../ports/saga-coordinator.port.js';
import type { PlaceOrderSagaRepositoryPort } from '../ports/saga.repository.port.js';
import { SAGA_STATE_OF_STATUS } from './choreography.saga-coordinator.js';

/**
 * Orchestration: the PlaceOrderSaga (its state in the Order schema) sends Customer commands and
 * reacts to the replies; the saga's deadline is the saga's.
 */
export class OrchestrationSagaCoordinator implements SagaCoordinatorPort {
  readonly style = 'orchestration';

  constructor(
    private readonly orchestrator: PlaceOrderSagaOrchestrator,
    private readonly sagas: PlaceOrderSagaRepositoryPort,
    private readonly changes: OrderChanges,
  ) {}

  start(order: Order, context: MessageContext): Promise<void> {
    return this.orchestrator.start(order, context);
  }

  async cancel(order: Order, context: MessageContext): Promise<void> {
    await this.changes.commit(order, context);
    await this.orchestrator.handle(order.id, { kind: 'order-cancelled' }, context);
  }

  async stateOf(order: Order): Promise<string> {
    const saga = await this.sagas.findById(order.id);
    return saga ? saga.state : SAGA_STATE_OF_STATUS[order.status];
  }

  findOverdue(now: Date, limit: number): Promise<string[]> {
    return this.sagas.findOverdue(now, limit);
  }

  async expire(orderId: string, context: MessageContext): Promise<boolean> {
    const action = await this.orchestrator.handle(orderId, { kind: 'deadline' }, context);
    return action.kind !== 'none';
  }
}
