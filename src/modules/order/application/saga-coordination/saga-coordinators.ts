import type { Order } from '../../domain/order.aggregate.js';
import type { SagaCoordinatorPort, SagaCoordinatorsPort } from '../ports/saga-coordinator.port.js';

/** The coordinators by style, chosen in the module's composition (ADR 21): a lookup, never a branch. */
export class SagaCoordinators implements SagaCoordinatorsPort {
  readonly current: SagaCoordinatorPort;
  readonly all: readonly SagaCoordinatorPort[];
  private readonly byStyle: ReadonlyMap<string, SagaCoordinatorPort>;

  constructor(coordinators: readonly SagaCoordinatorPort[], configuredStyle: string) {
    this.all = coordinators;
    this.byStyle = new Map(coordinators.map((c) => [c.style, c]));
    this.current = this.named(configuredStyle, 'the configured saga style');
  }

  of(order: Order): SagaCoordinatorPort {
    return this.named(order.sagaStyle, `order ${order.id}`);
  }

  private named(style: string, of: string): SagaCoordinatorPort {
    const coordinator = this.byStyle.get(style);
    if (!coordinator) throw new Error(`${of} names saga style '${style}', which no coordinator runs`);
    return coordinator;
  }
}
