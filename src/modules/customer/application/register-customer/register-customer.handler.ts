import { Money, traceparent, uuidv7, type Clock, type MoneyJson, type TransactionPort } from '../../../../shared/kernel/index.js';
import { Customer } from '../../domain/customer.aggregate.js';
import type { CustomerChanges } from '../customer-changes.js';
import { toCustomerView, type CustomerView } from '../customer.view.js';

export interface RegisterCustomerCommand {
  readonly name: string;
  readonly creditLimit: MoneyJson;
}

/** Registers a customer with its credit limit, all of it available. */
export class RegisterCustomerHandler {
  constructor(
    private readonly tx: TransactionPort,
    private readonly changes: CustomerChanges,
    private readonly clock: Clock,
  ) {}

  async execute(command: RegisterCustomerCommand): Promise<CustomerView> {
    // Invalid input is refused before a transaction opens, as in PlaceOrderHandler.
    const customer = Customer.register(uuidv7(), command.name, Money.fromJson(command.creditLimit), this.clock.now());
    const context = { correlationId: customer.id, causationId: null, traceparent: traceparent() };
    await this.tx.run(() => this.changes.commit(customer, context, { isNew: true }));
    return toCustomerView(customer);
  }
}
