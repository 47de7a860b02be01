import { NotFoundError } from '../../../../shared/kernel/index.js';
import type { CustomerRepositoryPort } from '../ports/customer.repository.port.js';
import { toCustomerView, type CustomerView } from '../customer.view.js';

export class GetCustomerQuery {
  constructor(private readonly customers: CustomerRepositoryPort) {}

  /** `ownedBy`: a caller who may see only that customer gets CUSTOMER_NOT_FOUND for any other (no existence leak). */
  async execute(id: string, options: { ownedBy?: string } = {}): Promise<CustomerView> {
    const customer = options.ownedBy === undefined || options.ownedBy === id ? await this.customers.findById(id) : null;
    if (!customer) throw new NotFoundError('CUSTOMER_NOT_FOUND', `customer ${id} does not exist`, { customerId: id });
    return toCustomerView(customer);
  }
}
