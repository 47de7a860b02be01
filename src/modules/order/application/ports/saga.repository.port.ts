import type { PlaceOrderSaga } from '../../domain/place-order-saga.js';

export interface PlaceOrderSagaRepositoryPort {
  add(saga: PlaceOrderSaga): Promise<void>;
  findById(id: string): Promise<PlaceOrderSaga | null>;
  /** Saves the new state if the stored version is still the loaded one; throws ConcurrencyError otherwise. */
  save(saga: PlaceOrderSaga): Promise<void>;
  /** Ids of sagas still awaiting a reply past their deadline, oldest deadline first. */
  findOverdue(now: Date, limit: number): Promise<string[]>;
}
