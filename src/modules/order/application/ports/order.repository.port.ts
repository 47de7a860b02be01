import type { Order } from '../../domain/order.aggregate.js';

export interface OrderPage {
  readonly orders: Order[];
  readonly hasMore: boolean;
}

export interface OrderRepositoryPort {
  add(order: Order): Promise<void>;
  findById(id: string): Promise<Order | null>;
  /** Loads and locks the order until the transaction ends. */
  findByIdForUpdate(id: string): Promise<Order | null>;
  /** Persists a change; throws ConcurrencyError when the stored version moved on. */
  save(order: Order): Promise<void>;
  /** Ids of choreography orders still PENDING past their deadline, oldest deadline first. */
  findOverdue(now: Date, limit: number): Promise<string[]>;
  /** Newest first; `beforeId` is the keyset cursor (ids are time-ordered UUIDv7). */
  list(filter: { customerId?: string; beforeId?: string; limit: number }): Promise<OrderPage>;
}
