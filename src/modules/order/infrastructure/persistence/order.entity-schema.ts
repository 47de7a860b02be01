import { BigIntType, EntitySchema } from '@mikro-orm/core';

/**
 * The two MikroORM mappings left (ADR 20): the reads off the saga's path that use them, a page of
 * orders (`PgOrderRepository.list`) and an order's saga history (`PgSagaLog.list`). Every other
 * table is written and read with hand-written SQL, and needs no mapping.
 */

export interface OrderRow {
  id: string;
  customerId: string;
  totalAmount: number;
  currency: string;
  status: 'PENDING' | 'APPROVED' | 'REJECTED' | 'CANCELLED';
  rejectionReason: string | null;
  sagaStyle: 'choreography' | 'orchestration';
  deadlineAt: Date;
  createdAt: Date;
  decidedAt: Date | null;
  updatedAt: Date;
  version: number;
}

export const OrderSchema = new EntitySchema<OrderRow>({
  name: 'OrderRow',
  tableName: 'orders',
  properties: {
    id: { type: 'uuid', primary: true },
    customerId: { type: 'uuid', fieldName: 'customer_id' },
    totalAmount: { type: new BigIntType('number'), fieldName: 'total_amount' },
    currency: { type: 'string', length: 3 },
    status: { type: 'string' },
    rejectionReason: { type: 'string', fieldName: 'rejection_reason', nullable: true },
    sagaStyle: { type: 'string', fieldName: 'saga_style' },
    deadlineAt: { type: 'Date', fieldName: 'deadline_at' },
    createdAt: { type: 'Date', fieldName: 'created_at' },
    decidedAt: { type: 'Date', fieldName: 'decided_at', nullable: true },
    updatedAt: { type: 'Date', fieldName: 'updated_at' },
    version: { type: 'integer' },
  },
});

export interface SagaStepRow {
  seq?: number;
  orderId: string;
  name: string;
  outcome: string;
  detail: string | null;
  at: Date;
}

export const SagaStepSchema = new EntitySchema<SagaStepRow>({
  name: 'SagaStepRow',
  tableName: 'saga_steps',
  properties: {
    seq: { type: new BigIntType('number'), primary: true, autoincrement: true },
    orderId: { type: 'uuid', fieldName: 'order_id' },
    name: { type: 'string' },
    outcome: { type: 'string' },
    detail: { type: 'string', nullable: true },
    at: { type: 'Date' },
  },
});
