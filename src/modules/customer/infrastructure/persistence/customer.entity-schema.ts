import { BigIntType, EntitySchema } from '@mikro-orm/core';

export interface CustomerRow {
  id: string;
  name: string;
  currency: string;
  creditLimit: number;
  availableCredit: number;
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

export const CustomerSchema = new EntitySchema<CustomerRow>({
  name: 'CustomerRow',
  tableName: 'customers',
  properties: {
    id: { type: 'uuid', primary: true },
    name: { type: 'string' },
    currency: { type: 'string', length: 3 },
    creditLimit: { type: new BigIntType('number'), fieldName: 'credit_limit' },
    availableCredit: { type: new BigIntType('number'), fieldName: 'available_credit' },
    version: { type: 'integer' },
    createdAt: { type: 'Date', fieldName: 'created_at' },
    updatedAt: { type: 'Date', fieldName: 'updated_at' },
  },
});

export interface CreditReservationRow {
  orderId: string;
  customerId: string;
  amount: number;
  currency: string;
  status: 'RESERVED' | 'RELEASED';
  createdAt: Date;
  updatedAt: Date;
}

export const CreditReservationSchema = new EntitySchema<CreditReservationRow>({
  name: 'CreditReservationRow',
  tableName: 'credit_reservations',
  properties: {
    orderId: { type: 'uuid', primary: true, fieldName: 'order_id' },
    customerId: { type: 'uuid', fieldName: 'customer_id' },
    amount: { type: new BigIntType('number') },
    currency: { type: 'string', length: 3 },
    status: { type: 'string' },
    createdAt: { type: 'Date', fieldName: 'created_at' },
    updatedAt: { type: 'Date', fieldName: 'updated_at' },
  },
});
