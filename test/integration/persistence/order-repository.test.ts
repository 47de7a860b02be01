import { describe } from 'vitest';
import { PgOrderRepository } from '../../../src/modules/order/infrastructure/persistence/pg-order.repository.js';
import { orderModule } from '../../../src/modules/order/order.module.js';
import { InMemoryOrderRepository } from '../../support/fakes/index.js';
import { orderRepositoryContract } from './order-repository.contract.js';
import { inMemory, inPostgres } from './store.js';

describe('OrderRepositoryPort: the in-memory fake', () => {
  orderRepositoryContract(inMemory((db) => ({ port: new InMemoryOrderRepository(db), transaction: db })));
});

describe('OrderRepositoryPort: PostgreSQL', () => {
  orderRepositoryContract(inPostgres(orderModule, ['orders'], (db) => ({ port: new PgOrderRepository(db), transaction: db })));
});
