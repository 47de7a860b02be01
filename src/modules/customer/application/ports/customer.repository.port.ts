import type { Customer } from '../../domain/customer.aggregate.js';

export interface CustomerRepositoryPort {
  add(customer: Customer): Promise<void>;
  findById(id: string): Promise<Customer | null>;
  /** Loads the customer and locks it until the transaction ends: reservations on one customer run one at a time. */
  findByIdForUpdate(id: string): Promise<Customer | null>;
  /** Persists a change; throws ConcurrencyError when the stored version moved on. */
  save(customer: Customer): Promise<void>;
}
