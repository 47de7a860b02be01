import { Money, uuidv7, type Clock, type MoneyJson, type TransactionPort } from '../../../../shared/kernel/index.js';
import { Customer } from '../../domain/customer.aggregate.js';
import type { CustomerRepositoryPort } from '../ports/customer.repository.port.js';
import { toCustomerView, type CustomerView } from '../customer.view.js';

export interface RegisterCustomerCommand {
  readonly name: string;
  readonly creditLimit: MoneyJson;
}

export class RegisterCustomerHandler {
  constructor(
    private readonly tx: TransactionPort,
    private readonly customers: CustomerRepositoryPort,
    private readonly clock: Clock,
  ) {}

  async execute(command: RegisterCustomerCommand): Promise<CustomerView> {
    const customer = Customer.register(uuidv7(), command.name, Money.fromJson(command.creditLimit), this.clock.now());
    await this.tx.run(() => this.customers.add(customer));
    customer.pullEvents();
    return toCustomerView(customer);
  }
}
