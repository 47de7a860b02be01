import { Money } from '../../../shared/kernel/index.js';

export type CreditReservationStatus = 'RESERVED' | 'RELEASED';

/**
 * The credit set aside for one order. Keyed by the order's id, so a second reservation for the
 * same order is recognised, and a release that arrives first leaves a RELEASED marker that stops
 * a late reservation (the saga's messages may arrive in any order).
 */
export class CreditReservation {
  private constructor(
    readonly orderId: string,
    readonly customerId: string,
    readonly amount: Money,
    private currentStatus: CreditReservationStatus,
    readonly isNew: boolean,
  ) {}

  static reserved(orderId: string, customerId: string, amount: Money): CreditReservation {
    return new CreditReservation(orderId, customerId, amount, 'RESERVED', true);
  }

  /** Marks an order whose credit must never be reserved: it was released (rejected, cancelled) before any reservation. */
  static releasedBeforeReservation(orderId: string, customerId: string, currency: string): CreditReservation {
    return new CreditReservation(orderId, customerId, Money.zero(currency), 'RELEASED', true);
  }

  static rehydrate(orderId: string, customerId: string, amount: Money, status: CreditReservationStatus): CreditReservation {
    return new CreditReservation(orderId, customerId, amount, status, false);
  }

  get status(): CreditReservationStatus {
    return this.currentStatus;
  }

  isReserved(): boolean {
    return this.currentStatus === 'RESERVED';
  }

  markReleased(): void {
    this.currentStatus = 'RELEASED';
  }
}
