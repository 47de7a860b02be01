import { quoteIdent } from './sql-identifier.js';

/**
 * The messaging tables every module owns in its own schema: the outbox it writes, the inbox
 * (one pending delivery per message and subscribing use case) it consumes, and the lease and
 * launch-attempt rows the ECS transport coordinates task launches with, so a module never
 * depends on another module's tables. The platform creates them in every hosted module's schema
 * (messaging-migrations.ts); every statement here is idempotent, because the first two modules'
 * own early migrations created the same tables before the platform did.
 */
export function messagingTablesSql(schema: string): string[] {
  const s = quoteIdent(schema);
  return [
    `create table if not exists ${s}.outbox (
      seq bigserial primary key,
      id uuid not null unique,
      type text not null,
      correlation_id uuid not null,
      causation_id uuid,
      traceparent text not null,
      occurred_at timestamptz not null,
      payload jsonb not null,
      produced_by text not null,
      created_at timestamptz not null default now(),
      relayed_at timestamptz
    )`,
    `create index if not exists outbox_unrelayed_idx on ${s}.outbox (seq) where relayed_at is null`,
    `create index if not exists outbox_producer_unrelayed_idx on ${s}.outbox (produced_by, seq) where relayed_at is null`,
    `create index if not exists outbox_relayed_idx on ${s}.outbox (relayed_at) where relayed_at is not null`,
    `create table if not exists ${s}.inbox (
      use_case text not null,
      message_id uuid not null,
      type text not null,
      correlation_id uuid not null,
      envelope jsonb not null,
      status text not null default 'pending' check (status in ('pending', 'done', 'dead')),
      attempts integer not null default 0,
      available_at timestamptz not null default now(),
      signaled_at timestamptz,
      last_error text,
      error_code text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      done_at timestamptz,
      primary key (use_case, message_id)
    )`,
    `create index if not exists inbox_pending_idx on ${s}.inbox (use_case, available_at) where status = 'pending'`,
    `create index if not exists inbox_dead_idx on ${s}.inbox (updated_at) where status = 'dead'`,
    `create index if not exists inbox_done_idx on ${s}.inbox (done_at) where status = 'done'`,
    `create index if not exists inbox_correlation_idx on ${s}.inbox (correlation_id)`,
    `create table if not exists ${s}.task_leases (
      use_case text primary key,
      holder text,
      tasks integer not null default 0,
      expires_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`,
    `create table if not exists ${s}.launch_attempts (
      id uuid primary key,
      use_case text not null,
      client_token text not null unique check (char_length(client_token) <= 64),
      task_count integer not null,
      status text not null default 'pending' check (status in ('pending', 'started', 'failed')),
      attempts integer not null default 0,
      task_arns text[] not null default '{}',
      last_error text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`,
    `create index if not exists launch_attempts_pending_idx on ${s}.launch_attempts (use_case) where status = 'pending'`,
  ];
}

/**
 * Delivery keys (ADR 16): each delivery names the aggregate its handler locks, so consumers can
 * keep two transactions off one key. Rows written before this migration have none; they are keyed
 * by their message id (the SQL reads `coalesce(delivery_key, message_id::text)`).
 */
export function deliveryKeysSql(schema: string): string[] {
  const s = quoteIdent(schema);
  return [
    `alter table ${s}.inbox add column if not exists delivery_key text`,
    `create index if not exists inbox_pending_key_idx on ${s}.inbox (use_case, delivery_key) where status = 'pending'`,
  ];
}

/**
 * Launches on AWS's terms (ADR 18): the lease carries the use case's launch breaker (consecutive
 * failures, no launch before `retry_at`), and a launch attempt records which task definition it
 * ran and what DescribeTasks later saw of its tasks.
 */
export function launchBreakerSql(schema: string): string[] {
  const s = quoteIdent(schema);
  return [
    `alter table ${s}.task_leases add column if not exists failures integer not null default 0`,
    `alter table ${s}.task_leases add column if not exists retry_at timestamptz`,
    `alter table ${s}.task_leases add column if not exists last_failure text`,
    `alter table ${s}.launch_attempts add column if not exists task_definition text`,
    `alter table ${s}.launch_attempts add column if not exists observed_at timestamptz`,
    `alter table ${s}.launch_attempts add column if not exists outcome text`,
    `create index if not exists launch_attempts_unobserved_idx on ${s}.launch_attempts (created_at) where status = 'started' and observed_at is null`,
  ];
}

/**
 * The breaker's second step (ADR 19): start failures counted apart from launch failures (only they
 * lead to dead letters), when the breaker last opened (only a task launched after that closes it),
 * when the lease was last reset (a crashed task is not subtracted twice), and on each launch
 * attempt when its task first heartbeated (a task that exits before is a start failure) and which
 * maintenance pass is looking at it (one at a time).
 */
export function launchProbeSql(schema: string): string[] {
  const s = quoteIdent(schema);
  return [
    `alter table ${s}.task_leases add column if not exists start_failures integer not null default 0`,
    `alter table ${s}.task_leases add column if not exists failed_at timestamptz`,
    `alter table ${s}.task_leases add column if not exists reset_at timestamptz`,
    `alter table ${s}.launch_attempts add column if not exists running_at timestamptz`,
    `alter table ${s}.launch_attempts add column if not exists observing_until timestamptz`,
    // Launched by a launcher whose tasks mark their first heartbeat: attempts of an older release
    // (its tasks still launching successors during a roll-out) are judged by ECS's RUNNING instead.
    `alter table ${s}.launch_attempts add column if not exists marks_running boolean not null default false`,
  ];
}

/**
 * Every launch's liveness is its own (ADR 36): a launch attempt holds `live_tasks` of its use
 * case's tasks until its own `expires_at` (its launch plus the start timeout, then its tasks'
 * heartbeats), so a dead task's share lapses whatever its siblings of other launches do;
 * `stopped_arns` are its tasks already seen stopped (each accounted once). The lease row keeps
 * the breaker and the lock, and counts only tasks launched by an older release or by hand; its
 * breaker learns whether its last failure was a task's start (then only a heartbeat closes it, not
 * a RunTask that placed tasks) and since when permanent start failures go on (dead letters wait
 * for a time as well as a count).
 */
export function taskLivenessSql(schema: string): string[] {
  const s = quoteIdent(schema);
  return [
    `alter table ${s}.launch_attempts add column if not exists live_tasks integer not null default 0`,
    `alter table ${s}.launch_attempts add column if not exists expires_at timestamptz`,
    `alter table ${s}.launch_attempts add column if not exists stopped_arns text[] not null default '{}'`,
    // The exact RunTask input of the attempt: a call sent again after an unknown outcome is byte-identical, with the same token.
    `alter table ${s}.launch_attempts add column if not exists request text`,
    `create index if not exists launch_attempts_live_idx on ${s}.launch_attempts (use_case, expires_at) where live_tasks > 0`,
    `alter table ${s}.task_leases add column if not exists failed_starting boolean not null default false`,
    `alter table ${s}.task_leases add column if not exists start_failing_since timestamptz`,
  ];
}

/**
 * Each task's give-back recorded by its ARN (ADR 39): a task gives its launch's share back once,
 * however often it retries after a lost connection, and the observer never releases a share a
 * second time for a task that gave it back and was then killed (SIGKILL at the stop timeout).
 */
export function taskReturnsSql(schema: string): string[] {
  return [`alter table ${quoteIdent(schema)}.launch_attempts add column if not exists returned_arns text[] not null default '{}'`];
}
