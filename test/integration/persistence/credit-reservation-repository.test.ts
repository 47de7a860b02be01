import { describe } from 'vitest';
import { customerModule } from '../../../src/modules/customer/customer.module.js';
import { PgCreditReservationRepository } from '../../../src/modules/customer/infrastructure/persistence/pg-credit-reservation.repository.js';
import { PgCustomerRepository } from '../../../src/modules/customer/infrastructure/persistence/pg-customer.repository.js';
import { InMemoryCreditReservationRepository, InMemoryCustomerRepository } from '../../support/fakes/index.js';
import { creditReservationRepositoryContract } from './credit-reservation-repository.contract.js';
import { inMemory, inPostgres } from './store.js';

describe('CreditReservationRepositoryPort: the in-memory fake', () => {
  creditReservationRepositoryContract(
    inMemory((db) => ({
      port: new InMemoryCreditReservationRepository(db),
      customers: new InMemoryCustomerRepository(db),
      transaction: db,
    })),
  );
});

describe('CreditReservationRepositoryPort: PostgreSQL', () => {
  creditReservationRepositoryContract(
    inPostgres(customerModule, ['credit_reservations', 'customers'], (db) => ({
      port: new PgCreditReservationRepository(db),
      customers: new PgCustomerRepository(db),
      transaction: db,
    })),
  );
});
