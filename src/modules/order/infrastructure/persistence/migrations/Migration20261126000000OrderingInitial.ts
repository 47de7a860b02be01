import { Migration } from '@mikro-orm/migrations';
import { messagingTablesSql } from '../../../../../shared/infrastructure/persistence/messaging-tables.js';

/** The Order module's tables, in its own schema; customer ids are plain values, never foreign keys. */
export class Migration20261126000000OrderingInitial extends Migration {
  override async up(): Promise<void> {
    this.addSql('create schema if not exists "ordering"');
    this.addSql(`create table "ordering"."orders" (
      id uuid primary key,
      customer_id uuid not null,
      total_amount bigint not null check (total_amount > 0),
      currency char(3) not null,
      status text not null check (status in ('PENDING', 'APPROVED', 'REJECTED', 'CANCELLED')),
      rejection_reason text,
      saga_style text not null check (saga_style in ('choreography', 'orchestration')),
      deadline_at timestamptz not null,
      created_at timestamptz not null,
      decided_at timestamptz,
      updated_at timestamptz not null,
      version integer not null,
      constraint rejected_has_reason check ((status = 'REJECTED') = (rejection_reason is not null))
    )`);
    this.addSql('create index orders_customer_idx on "ordering"."orders" (customer_id, id desc)');
    this.addSql(
      `create index orders_pending_deadline_idx on "ordering"."orders" (deadline_at) where status = 'PENDING' and saga_style = 'choreography'`,
    );
    this.addSql(`create table "ordering"."saga_instances" (
      id uuid primary key,
      type text not null,
      state text not null,
      deadline_at timestamptz not null,
      version integer not null,
      created_at timestamptz not null,
      updated_at timestamptz not null
    )`);
    this.addSql(`create index saga_instances_awaiting_idx on "ordering"."saga_instances" (deadline_at) where state = 'AWAITING_CREDIT'`);
    this.addSql(`create table "ordering"."saga_steps" (
      seq bigserial primary key,
      order_id uuid not null,
      name text not null,
      outcome text not null,
      detail text,
      at timestamptz not null
    )`);
    this.addSql('create index saga_steps_order_idx on "ordering"."saga_steps" (order_id, seq)');
    this.addSql(`create table "ordering"."idempotency_keys" (
      key text primary key,
      request_hash text not null,
      order_id uuid not null,
      created_at timestamptz not null
    )`);
    this.addSql('create index idempotency_keys_created_idx on "ordering"."idempotency_keys" (created_at)');
    for (const sql of messagingTablesSql('ordering')) this.addSql(sql);
  }

  override async down(): Promise<void> {
    this.addSql('drop schema if exists "ordering" cascade');
  }
}
