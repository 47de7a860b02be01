import { AggregateRoot, type Money } from '../../../shared/kernel/index.js';
import { NonPositiveOrderTotalError, OrderCannotBeCancelledError } from './order.errors.js';
import type { OrderEvent } from './order.events.js';

import type { OrderStatus, RejectionReason } from './order-status.js';

export type { OrderStatus, RejectionReason } from './order-status.js';

export interface OrderSnapshot {
  readonly id: string;
  readonly customerId: string;
  readonly total: Money;
  readonly status: OrderStatus;
  readonly rejectionReason: RejectionReason | null;
  readonly sagaStyle: string;
  readonly deadlineAt: Date;
  readonly createdAt: Date;
  readonly decidedAt: Date | null;
  readonly version: number;
}

/**
 * An order and its life: PENDING until the credit decision, then APPROVED or REJECTED;
 * an APPROVED order may be CANCELLED. Every order ends: a deadline turns a PENDING order
 * into REJECTED (TIMEOUT). Transitions that no longer apply (a late reply) change nothing.
 */
export class Order extends AggregateRoot<OrderEvent> {
  private constructor(
    id: string,
    readonly customerId: string,
    readonly total: Money,
    private currentStatus: OrderStatus,
    private reason: RejectionReason | null,
    /**
     * The saga style that drives this order, kept for its whole life so that a change of
     * configuration leaves it with the style it started under. The domain stores it and never
     * branches on it: the application resolves the style's saga coordinator (ADR 21).
     */
    readonly sagaStyle: string,
    readonly deadlineAt: Date,
    readonly createdAt: Date,
    private decided: Date | null,
    version: number,
  ) {
    super(id, version);
  }

  static place(id: string, customerId: string, total: Money, sagaStyle: string, deadlineAt: Date, at: Date): Order {
    if (!total.isPositive()) throw new NonPositiveOrderTotalError();
    const order = new Order(id, customerId, total, 'PENDING', null, sagaStyle, deadlineAt, at, null, 0);
    order.record({ name: 'OrderPlaced', occurredAt: at, orderId: id, customerId, total });
    return order;
  }

  static rehydrate(s: OrderSnapshot): Order {
    return new Order(
      s.id,
      s.customerId,
      s.total,
      s.status,
      s.rejectionReason,
      s.sagaStyle,
      s.deadlineAt,
      s.createdAt,
      s.decidedAt,
      s.version,
    );
  }

  get status(): OrderStatus {
    return this.currentStatus;
  }

  get rejectionReason(): RejectionReason | null {
    return this.reason;
  }

  get decidedAt(): Date | null {
    return this.decided;
  }

  isPending(): boolean {
    return this.currentStatus === 'PENDING';
  }

  isOverdue(now: Date): boolean {
    return this.isPending() && now.getTime() >= this.deadlineAt.getTime();
  }

  /** Credit was reserved. Returns false (and changes nothing) unless the order is still PENDING. */
  approve(at: Date): boolean {
    if (!this.isPending()) return false;
    this.currentStatus = 'APPROVED';
    this.decided = at;
    this.record({ name: 'OrderApproved', occurredAt: at, orderId: this.id, customerId: this.customerId, total: this.total });
    return true;
  }

  /** Returns false (and changes nothing) unless the order is still PENDING. */
  reject(reason: RejectionReason, at: Date): boolean {
    if (!this.isPending()) return false;
    this.currentStatus = 'REJECTED';
    this.reason = reason;
    this.decided = at;
    this.record({ name: 'OrderRejected', occurredAt: at, orderId: this.id, customerId: this.customerId, reason });
    return true;
  }

  cancel(at: Date): void {
    if (this.currentStatus !== 'APPROVED') throw new OrderCannotBeCancelledError(this.id, this.currentStatus);
    this.currentStatus = 'CANCELLED';
    this.record({ name: 'OrderCancelled', occurredAt: at, orderId: this.id, customerId: this.customerId, total: this.total });
  }

  snapshot(): OrderSnapshot {
    return {
      id: this.id,
      customerId: this.customerId,
      total: this.total,
      status: this.currentStatus,
      rejectionReason: this.reason,
      sagaStyle: this.sagaStyle,
      deadlineAt: this.deadlineAt,
      createdAt: this.createdAt,
      decidedAt: this.decided,
      version: this.version,
    };
  }
}
