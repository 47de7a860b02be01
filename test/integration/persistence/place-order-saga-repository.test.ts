import { describe } from 'vitest';
import { PgPlaceOrderSagaRepository } from '../../../src/modules/order/infrastructure/persistence/pg-place-order-saga.repository.js';
import { orderModule } from '../../../src/modules/order/order.module.js';
import { InMemoryPlaceOrderSagaRepository } from '../../support/fakes/index.js';
import { placeOrderSagaRepositoryContract } from './place-order-saga-repository.contract.js';
import { inMemory, inPostgres } from './store.js';

describe('PlaceOrderSagaRepositoryPort: the in-memory fake', () => {
  placeOrderSagaRepositoryContract(inMemory((db) => ({ port: new InMemoryPlaceOrderSagaRepository(db), transaction: db })));
});

describe('PlaceOrderSagaRepositoryPort: PostgreSQL', () => {
  placeOrderSagaRepositoryContract(
    inPostgres(orderModule, ['saga_instances'], (db) => ({ port: new PgPlaceOrderSagaRepository(db), transaction: db })),
  );
});
