import type { CheckContext, ConsistencyCheck, ModuleConsistency } from '../../../../shared/infrastructure/operations/consistency-check.js';
import { quoteIdent } from '../../../../shared/infrastructure/persistence/sql-identifier.js';
import { CUSTOMER_USE_CASES, customerInbox } from '../../contract/customer.inbox.js';
import { CreditReservedV1 } from '../../contract/customer.messages.js';

/**
 * The Customer module's invariants, each read from its own schema: a customer's available credit
 * is its limit less what it holds reserved, and each reservation follows the messages of its own
 * inbox (made for a request of that amount, replied to, released exactly when a release arrived).
 * The Order module checks its side against its own messages, and the platform checks that every
 * message reached its consumers.
 */

/** The message types that ask the use case for something: what its contract's inbox routes to it. */
const requestsOf = (useCase: string): string[] => [
  ...new Set(customerInbox.routes.filter((r) => r.useCase === useCase).map((r) => r.messageType)),
];
const RESERVE_REQUESTS = requestsOf(CUSTOMER_USE_CASES.reserveCredit);
const RELEASE_REQUESTS = requestsOf(CUSTOMER_USE_CASES.releaseCredit);

/** `? * 1 ms`: a duration parameter. */
const DURATION = `(?::float8 * interval '1 millisecond')`;

const creditMatchesReservations: ConsistencyCheck = {
  name: 'credit-matches-reservations',
  kind: 'invariant',
  description: () => "every customer's available credit = its credit limit - the amounts it holds RESERVED, never negative",
  query: ({ schema: c }) => ({
    sql: `select c.id as "customerId", c.currency, c.credit_limit as "creditLimit", c.available_credit as "availableCredit",
                 coalesce(r.total, 0) as "reservedTotal", c.credit_limit - coalesce(r.total, 0) as "expectedAvailable"
          from ${c}.customers c
          left join (select customer_id, sum(amount) as total from ${c}.credit_reservations where status = 'RESERVED' group by customer_id) r
            on r.customer_id = c.id
          where c.available_credit <> c.credit_limit - coalesce(r.total, 0) or c.available_credit < 0
          order by c.id`,
  }),
};

/** Reservations changed within the messages' retention: the messages behind them are still there. */
function changedRecently(context: CheckContext): { readonly where: string; readonly params: readonly unknown[] } {
  return { where: `r.updated_at > now() - ${DURATION}`, params: [context.messagesKeptMs] };
}

/** A request's amount, whichever field its type carries it in (`total` for an order placed, `amount` for the command). */
const requestedAmount = `coalesce(i.envelope->'payload'->'total', i.envelope->'payload'->'amount')`;

const reservationsFollowRequests: ConsistencyCheck = {
  name: 'reservations-follow-requests',
  kind: 'invariant',
  description: () =>
    `a reservation was made for a request received for its customer and amount (${RESERVE_REQUESTS.join(', ')}) and answered with ${CreditReservedV1.type} of that amount; every such answer has its reservation`,
  query: (context) => {
    const c = context.schema;
    const recent = changedRecently(context);
    return {
      sql: `select r.order_id as "orderId", r.customer_id as "customerId", r.status, r.amount, 'no request or no answer of its amount' as "problem"
            from ${c}.credit_reservations r
            where r.amount > 0 and ${recent.where}
              and (not exists (select 1 from ${c}.inbox i where i.correlation_id = r.order_id and i.type = any(?::text[]) and i.status = 'done'
                                 and (i.envelope->'payload'->>'customerId')::uuid = r.customer_id
                                 and (${requestedAmount}->>'amount')::bigint = r.amount and ${requestedAmount}->>'currency' = r.currency)
                or not exists (select 1 from ${c}.outbox m where m.correlation_id = r.order_id and m.type = ?
                                 and (m.payload->'amount'->>'amount')::bigint = r.amount and m.payload->'amount'->>'currency' = r.currency))
            union all
            select (m.payload->>'orderId')::uuid, (m.payload->>'customerId')::uuid, null, (m.payload->'amount'->>'amount')::bigint,
                   'answered without a reservation of its amount'
            from ${c}.outbox m
            where m.type = ? and not exists (select 1 from ${c}.credit_reservations r where r.order_id = (m.payload->>'orderId')::uuid
                                               and r.amount = (m.payload->'amount'->>'amount')::bigint)
            order by 1`,
      params: [...recent.params, RESERVE_REQUESTS, CreditReservedV1.type, CreditReservedV1.type],
    };
  },
};

const reservationsFollowReleases: ConsistencyCheck = {
  name: 'reservations-follow-releases',
  kind: 'invariant',
  description: () =>
    `no reservation stays RESERVED once a release of its order arrived (${RELEASE_REQUESTS.join(', ')}), and none is RELEASED without one`,
  query: (context) => {
    const c = context.schema;
    const recent = changedRecently(context);
    return {
      sql: `select r.order_id as "orderId", r.customer_id as "customerId", r.status, r.amount, r.updated_at as "updatedAt"
            from ${c}.credit_reservations r
            where case
              when r.status = 'RESERVED' then exists (select 1 from ${c}.inbox i where i.correlation_id = r.order_id and i.type = any(?::text[]) and i.status = 'done')
              else ${recent.where} and not exists (select 1 from ${c}.inbox i where i.correlation_id = r.order_id and i.type = any(?::text[]) and i.status = 'done')
            end
            order by r.updated_at`,
      params: [RELEASE_REQUESTS, ...recent.params, RELEASE_REQUESTS],
    };
  },
};

export const customerConsistency: ModuleConsistency = {
  checks: [creditMatchesReservations, reservationsFollowRequests, reservationsFollowReleases],
  summary: (schema) => `select 'customers' as label, count(*)::int as n from ${quoteIdent(schema)}.customers`,
};
