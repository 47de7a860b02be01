import { AggregateRoot, Money } from '../../../shared/kernel/index.js';
import { CreditReservation } from './credit-reservation.entity.js';
import { creditRefusal, type CreditRefusal } from './credit-rules.js';
import { InvalidCustomerNameError, NegativeCreditLimitError, NonPositiveReservationError } from './customer.errors.js';
import type { CustomerEvent } from './customer.events.js';

/** A name is shown to people; a control character (NUL cannot even be stored) is never part of one. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

export interface CustomerSnapshot {
  readonly id: string;
  readonly name: string;
  readonly creditLimit: Money;
  readonly availableCredit: Money;
  readonly version: number;
}

export type ReservationOutcome =
  { readonly reserved: true; readonly reservation: CreditReservation } | { readonly reserved: false; readonly reason: CreditRefusal };

/**
 * A customer and its credit. Invariant: 0 <= available credit <= credit limit, in the limit's
 * currency. Reserving takes credit for an order; releasing gives it back.
 */
export class Customer extends AggregateRoot<CustomerEvent> {
  private constructor(
    id: string,
    readonly name: string,
    readonly creditLimit: Money,
    private available: Money,
    version: number,
  ) {
    super(id, version);
  }

  static register(id: string, name: string, creditLimit: Money, at: Date): Customer {
    const trimmed = name.trim();
    if (trimmed.length === 0 || name.length > 200 || CONTROL_CHARACTER.test(name)) throw new InvalidCustomerNameError();
    if (creditLimit.isNegative()) throw new NegativeCreditLimitError();
    const customer = new Customer(id, trimmed, creditLimit, creditLimit, 0);
    customer.record({ name: 'CustomerRegistered', occurredAt: at, customerId: id, creditLimit });
    return customer;
  }

  static rehydrate(snapshot: CustomerSnapshot): Customer {
    return new Customer(snapshot.id, snapshot.name, snapshot.creditLimit, snapshot.availableCredit, snapshot.version);
  }

  get availableCredit(): Money {
    return this.available;
  }

  reserveCredit(orderId: string, amount: Money, at: Date): ReservationOutcome {
    if (!amount.isPositive()) throw new NonPositiveReservationError();
    const refusal = creditRefusal(this.available, amount);
    if (refusal) {
      this.record({ name: 'CreditReservationRefused', occurredAt: at, customerId: this.id, orderId, reason: refusal });
      return { reserved: false, reason: refusal };
    }
    this.available = this.available.subtract(amount);
    this.record({ name: 'CreditReserved', occurredAt: at, customerId: this.id, orderId, amount });
    return { reserved: true, reservation: CreditReservation.reserved(orderId, this.id, amount) };
  }

  /** Gives back a reservation's credit; a reservation already released gives nothing back twice. */
  releaseCredit(reservation: CreditReservation, at: Date): boolean {
    if (reservation.customerId !== this.id || !reservation.isReserved()) return false;
    const restored = this.available.add(reservation.amount);
    // Never above the limit, whatever the history.
    this.available = restored.greaterThan(this.creditLimit) ? this.creditLimit : restored;
    reservation.markReleased();
    this.record({ name: 'CreditReleased', occurredAt: at, customerId: this.id, orderId: reservation.orderId, amount: reservation.amount });
    return true;
  }

  snapshot(): CustomerSnapshot {
    return { id: this.id, name: this.name, creditLimit: this.creditLimit, availableCredit: this.available, version: this.version };
  }
}
