import { Migration } from '@mikro-orm/migrations';
import { messagingTablesSql } from '../../../../../shared/infrastructure/persistence/messaging-tables.js';

/** The Customer module's tables, in its own schema; no foreign key leaves the schema. */
export class Migration20261126000000CustomersInitial extends Migration {
  override async up(): Promise<void> {
    this.addSql('create schema if not exists "customers"');
    this.addSql(`create table "customers"."customers" (
      id uuid primary key,
      name text not null,
      currency char(3) not null,
      credit_limit bigint not null check (credit_limit >= 0),
      available_credit bigint not null,
      version integer not null,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      constraint available_credit_within_limit check (available_credit >= 0 and available_credit <= credit_limit)
    )`);
    this.addSql(`create table "customers"."credit_reservations" (
      order_id uuid primary key,
      customer_id uuid not null references "customers"."customers" (id),
      amount bigint not null check (amount >= 0),
      currency char(3) not null,
      status text not null check (status in ('RESERVED', 'RELEASED')),
      created_at timestamptz not null,
      updated_at timestamptz not null
    )`);
    this.addSql('create index credit_reservations_customer_idx on "customers"."credit_reservations" (customer_id)');
    for (const sql of messagingTablesSql('customers')) this.addSql(sql);
  }

  override async down(): Promise<void> {
    this.addSql('drop schema if exists "customers" cascade');
  }
}
