import type { MoneyJson } from '../../../shared/kernel/index.js';
import type { Customer } from '../domain/customer.aggregate.js';

export interface CustomerView {
  readonly id: string;
  readonly name: string;
  readonly creditLimit: MoneyJson;
  readonly availableCredit: MoneyJson;
}

export function toCustomerView(customer: Customer): CustomerView {
  return {
    id: customer.id,
    name: customer.name,
    creditLimit: customer.creditLimit.toJSON(),
    availableCredit: customer.availableCredit.toJSON(),
  };
}
