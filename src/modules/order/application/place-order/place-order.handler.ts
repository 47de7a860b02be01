import {
  ConflictError,
  Money,
  traceparent,
  uuidv7,
  type Clock,
  type MoneyJson,
  type TransactionPort,
} from '../../../../shared/kernel/index.js';
import { Order } from '../../domain/order.aggregate.js';
import type { IdempotencyStorePort } from '../ports/idempotency.port.js';
import type { OrderRepositoryPort } from '../ports/order.repository.port.js';
import type { SagaCoordinatorsPort } from '../ports/saga-coordinator.port.js';
import { toOrderView, type OrderView } from '../order.view.js';

export interface PlaceOrderCommand {
  readonly customerId: string;
  readonly total: MoneyJson;
  /**
   * With an idempotency key, a retried request returns the order of the first one. Keys are the
   * caller's own (`principal`, an opaque id): the same key from two callers is two keys.
   */
  readonly idempotency?: { readonly principal: string; readonly key: string; readonly requestHash: string };
  readonly traceparent?: string;
}

export interface PlaceOrderSettings {
  readonly deadlineMs: number;
}

export interface PlaceOrderResult {
  readonly order: OrderView;
  readonly replayed: boolean;
}

/**
 * Places an order (PENDING) and starts its saga in the same transaction, under the configured
 * style, which the order keeps: in choreography by publishing order.created.v1, in orchestration
 * by starting the PlaceOrderSaga, which sends customer.reserve-credit.v1. The saga's id, and
 * every message's correlationId, is the order's id.
 */
export class PlaceOrderHandler {
  constructor(
    private readonly tx: TransactionPort,
    private readonly orders: OrderRepositoryPort,
    private readonly idempotency: IdempotencyStorePort,
    private readonly sagas: SagaCoordinatorsPort,
    private readonly clock: Clock,
    private readonly settings: PlaceOrderSettings,
  ) {}

  execute(command: PlaceOrderCommand): Promise<PlaceOrderResult> {
    const total = Money.fromJson(command.total);
    return this.tx.run(async () => {
      const now = this.clock.now();
      const id = uuidv7(now.getTime());
      const key = command.idempotency;
      const scopedKey = key ? `${key.principal}/${key.key}` : '';
      // Claim the key first: a concurrent request with the same key waits on the unique index,
      // then finds the winner's row and replays it.
      if (key && !(await this.idempotency.save({ key: scopedKey, requestHash: key.requestHash, orderId: id }))) {
        const previous = await this.idempotency.find(scopedKey);
        if (!previous) throw new ConflictError('IDEMPOTENCY_KEY_IN_USE', 'a request with this Idempotency-Key is being processed; retry');
        return this.replay(previous.orderId, previous.requestHash, key.requestHash);
      }
      const saga = this.sagas.current;
      const order = Order.place(id, command.customerId, total, saga.style, new Date(now.getTime() + this.settings.deadlineMs), now);
      const context = { correlationId: id, causationId: null, traceparent: traceparent(command.traceparent) };
      await saga.start(order, context);
      return { order: toOrderView(order), replayed: false };
    });
  }

  private async replay(orderId: string, storedHash: string, requestHash: string): Promise<PlaceOrderResult> {
    if (storedHash !== requestHash) {
      throw new ConflictError('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was used with a different request body');
    }
    const order = await this.orders.findById(orderId);
    if (!order) throw new Error(`idempotency key points at missing order ${orderId}`);
    return { order: toOrderView(order), replayed: true };
  }
}
