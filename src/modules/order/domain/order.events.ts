import type { DomainEvent, Money } from '../../../shared/kernel/index.js';
import type { RejectionReason } from './order-status.js';

interface OrderEventBase extends DomainEvent {
  readonly orderId: string;
  readonly customerId: string;
}

export interface OrderPlaced extends OrderEventBase {
  readonly name: 'OrderPlaced';
  readonly total: Money;
}

export interface OrderApproved extends OrderEventBase {
  readonly name: 'OrderApproved';
  readonly total: Money;
}

export interface OrderRejected extends OrderEventBase {
  readonly name: 'OrderRejected';
  readonly reason: RejectionReason;
}

export interface OrderCancelled extends OrderEventBase {
  readonly name: 'OrderCancelled';
  readonly total: Money;
}

export type OrderEvent = OrderPlaced | OrderApproved | OrderRejected | OrderCancelled;
