import { ValidationError } from '../../../shared/kernel/index.js';

export class InvalidCustomerNameError extends ValidationError {
  constructor() {
    super('INVALID_CUSTOMER_NAME', 'a customer name must be 1 to 200 characters, not only spaces, without control characters');
  }
}

export class NegativeCreditLimitError extends ValidationError {
  constructor() {
    super('INVALID_CREDIT_LIMIT', 'a credit limit cannot be negative');
  }
}

export class NonPositiveReservationError extends ValidationError {
  constructor() {
    super('INVALID_AMOUNT', 'a credit reservation must be for a positive amount');
  }
}
