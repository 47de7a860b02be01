/** PostgreSQL's NAMEDATALEN - 1: longer channel names are truncated by LISTEN and refused by pg_notify. */
const MAX_CHANNEL_LENGTH = 63;

/**
 * The LISTEN/NOTIFY channel that announces new deliveries of one use case, e.g.
 * `saga_inbox_customer__reserve_credit` for `customer.reserve-credit` (`.` becomes `__`, `-`
 * becomes `_`: use-case ids contain no `_`, so distinct use cases get distinct names). A name cut
 * at 63 characters may be shared by two long use-case ids: that costs a spurious wake-up, no more.
 */
export function inboxChannel(useCase: string): string {
  return `saga_inbox_${useCase.replaceAll('.', '__').replaceAll('-', '_')}`.slice(0, MAX_CHANNEL_LENGTH);
}
