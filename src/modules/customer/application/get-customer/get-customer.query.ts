import { NotFoundError } from '../../../../shared/kernel/index.js';
import type { CustomerRepositoryPort } from '../ports/customer.repository.port.js';
import { toCustomerView, type CustomerView } from '../customer.view.js';

export class GetCustomerQuery {
  constructor(private readonly customers: CustomerRepositoryPort) {}

  async execute(id: string): Promise<CustomerView> {
    const customer = await this.customers.findById(id);
    if (!customer) throw new NotFoundError('CUSTOMER_NOT_FOUND', `customer ${id} does not exist`, { customerId: id });
    return toCustomerView(customer);
  }
}
