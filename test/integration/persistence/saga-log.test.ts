import { describe } from 'vitest';
import { PgSagaLog } from '../../../src/modules/order/infrastructure/persistence/pg-saga-log.repository.js';
import { orderModule } from '../../../src/modules/order/order.module.js';
import { InMemorySagaLog } from '../../support/fakes/index.js';
import { sagaLogContract } from './saga-log.contract.js';
import { inMemory, inPostgres } from './store.js';

describe('SagaLogPort: the in-memory fake', () => {
  sagaLogContract(inMemory((db) => ({ port: new InMemorySagaLog(db), transaction: db })));
});

describe('SagaLogPort: PostgreSQL', () => {
  sagaLogContract(inPostgres(orderModule, ['saga_steps'], (db) => ({ port: new PgSagaLog(db), transaction: db })));
});
