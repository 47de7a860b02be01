import { describe } from 'vitest';
import { PgIdempotencyStore } from '../../../src/modules/order/infrastructure/persistence/pg-idempotency-store.repository.js';
import { orderModule } from '../../../src/modules/order/order.module.js';
import { InMemoryIdempotencyStore } from '../../support/fakes/index.js';
import { idempotencyStoreContract } from './idempotency-store.contract.js';
import { inMemory, inPostgres } from './store.js';

describe('IdempotencyStorePort: the in-memory fake', () => {
  idempotencyStoreContract(inMemory((db) => ({ port: new InMemoryIdempotencyStore(db), transaction: db })));
});

describe('IdempotencyStorePort: PostgreSQL', () => {
  idempotencyStoreContract(inPostgres(orderModule, ['idempotency_keys'], (db) => ({ port: new PgIdempotencyStore(db), transaction: db })));
});
