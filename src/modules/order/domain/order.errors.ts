import { ConflictError, ValidationError } from '../../../shared/kernel/index.js';
import type { OrderStatus } from './order-status.js';

export class OrderCannotBeCancelledError extends ConflictError {
  constructor(orderId: string, status: OrderStatus) {
    super('ORDER_NOT_CANCELLABLE', `order ${orderId} is ${status}; only an APPROVED order can be cancelled`, { orderId, status });
  }
}

export class NonPositiveOrderTotalError extends ValidationError {
  constructor() {
    super('INVALID_AMOUNT', 'an order total must be positive');
  }
}
