import type { DomainEvent, Money } from '../../../shared/kernel/index.js';
import type { CreditRefusal } from './credit-rules.js';

export interface CustomerRegistered extends DomainEvent {
  readonly name: 'CustomerRegistered';
  readonly customerId: string;
  readonly creditLimit: Money;
}

export interface CreditReserved extends DomainEvent {
  readonly name: 'CreditReserved';
  readonly customerId: string;
  readonly orderId: string;
  readonly amount: Money;
}

export interface CreditReservationRefused extends DomainEvent {
  readonly name: 'CreditReservationRefused';
  readonly customerId: string;
  readonly orderId: string;
  readonly reason: CreditRefusal;
}

export interface CreditReleased extends DomainEvent {
  readonly name: 'CreditReleased';
  readonly customerId: string;
  readonly orderId: string;
  readonly amount: Money;
}

export type CustomerEvent = CustomerRegistered | CreditReserved | CreditReservationRefused | CreditReleased;
