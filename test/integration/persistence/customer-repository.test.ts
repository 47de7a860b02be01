import { describe } from 'vitest';
import { customerModule } from '../../../src/modules/customer/customer.module.js';
import { PgCustomerRepository } from '../../../src/modules/customer/infrastructure/persistence/pg-customer.repository.js';
import { InMemoryCustomerRepository } from '../../support/fakes/index.js';
import { customerRepositoryContract } from './customer-repository.contract.js';
import { inMemory, inPostgres } from './store.js';

describe('CustomerRepositoryPort: the in-memory fake', () => {
  customerRepositoryContract(inMemory((db) => ({ port: new InMemoryCustomerRepository(db), transaction: db })));
});

describe('CustomerRepositoryPort: PostgreSQL', () => {
  customerRepositoryContract(
    inPostgres(customerModule, ['credit_reservations', 'customers'], (db) => ({ port: new PgCustomerRepository(db), transaction: db })),
  );
});
