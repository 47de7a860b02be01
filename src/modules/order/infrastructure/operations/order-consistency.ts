import type { CheckContext, ConsistencyCheck, ModuleConsistency } from '../../../../shared/infrastructure/operations/consistency-check.js';
import { quoteIdent } from '../../../../shared/infrastructure/persistence/sql-identifier.js';
import { CreditReservedV1, ReleaseCreditV1 } from '../../../customer/contract/index.js';
import { OrderApprovedV1, OrderCancelledV1, OrderRejectedV1 } from '../../contract/order.messages.js';

/**
 * The Order module's invariants, each read from its own schema: orders and sagas end and agree,
 * each saga step is recorded once, and what crosses to the Customer module is checked against the
 * messages of its own inbox and outbox (an approval follows a credit reservation received for the
 * order's total; a closed order asks for its credit back). The Customer module checks its side
 * against its own messages, and the platform checks that every message reached its consumers.
 */

/** `? * 1 ms`: a duration parameter. */
const DURATION = `(?::float8 * interval '1 millisecond')`;

const ordersReachAnEnd: ConsistencyCheck = {
  name: 'orders-reach-an-end',
  kind: 'progress',
  description: (mode) =>
    mode === 'live'
      ? 'every order ends: none is still PENDING longer than the grace after its deadline'
      : 'every order ends: none is PENDING',
  query: ({ schema: o, mode, deadlineGraceMs }) => ({
    sql: `select id as "orderId", customer_id as "customerId", saga_style as "sagaStyle", created_at as "createdAt", deadline_at as "deadlineAt"
          from ${o}.orders where status = 'PENDING' ${mode === 'live' ? `and deadline_at < now() - ${DURATION}` : ''}
          order by deadline_at`,
    params: mode === 'live' ? [deadlineGraceMs] : [],
  }),
};

const sagasReachAnEnd: ConsistencyCheck = {
  name: 'sagas-reach-an-end',
  kind: 'progress',
  description: (mode) =>
    mode === 'live'
      ? 'no orchestrated saga awaits credit longer than the grace after its deadline, and no compensation stays unfinished'
      : 'every orchestrated saga is APPROVED or finished',
  query: ({ schema: o, mode, deadlineGraceMs, pendingAfterMs }) => ({
    sql: `select id as "sagaId", state, deadline_at as "deadlineAt", updated_at as "updatedAt"
          from ${o}.saga_instances
          where ${
            mode === 'live'
              ? `(state = 'AWAITING_CREDIT' and deadline_at < now() - ${DURATION})
                 or (state in ('COMPENSATING', 'AWAITING_CREDIT_RELEASE') and updated_at < now() - ${DURATION})`
              : `state in ('AWAITING_CREDIT', 'COMPENSATING', 'AWAITING_CREDIT_RELEASE')`
          }
          order by updated_at`,
    params: mode === 'live' ? [deadlineGraceMs, pendingAfterMs] : [],
  }),
};

const sagasMatchOrders: ConsistencyCheck = {
  name: 'sagas-match-orders',
  kind: 'invariant',
  description: () => "an orchestrated saga's state agrees with its order's status",
  query: ({ schema: o }) => ({
    sql: `select coalesce(s.id, o.id) as "orderId", s.state as "sagaState", o.status as "orderStatus"
          from ${o}.saga_instances s full join (select * from ${o}.orders where saga_style = 'orchestration') o on o.id = s.id
          where s.id is null or o.id is null or not (
               (s.state = 'AWAITING_CREDIT' and o.status = 'PENDING')
            or (s.state = 'APPROVED' and o.status = 'APPROVED')
            or (s.state in ('REJECTED', 'COMPENSATING', 'COMPENSATED') and o.status = 'REJECTED')
            or (s.state in ('AWAITING_CREDIT_RELEASE', 'CANCELLED') and o.status = 'CANCELLED'))
          order by 1`,
  }),
};

const sagaStepsRecordedOnce: ConsistencyCheck = {
  name: 'saga-steps-recorded-once',
  kind: 'invariant',
  description: () => 'no saga decision or step is recorded twice for an order, and no order is both approved and rejected',
  query: ({ schema: o }) => ({
    sql: `select order_id as "orderId", 'saga step ' || name || ' (' || outcome || ')' as "what", count(*) as "times"
            from ${o}.saga_steps where outcome in ('done', 'received', 'sent') group by order_id, name, outcome having count(*) > 1
          union all
          select order_id, 'both approved and rejected', count(*)
            from ${o}.saga_steps where outcome = 'done' and name in ('order-approved', 'order-rejected')
            group by order_id having count(distinct name) > 1
          order by 1, 2`,
  }),
};

/** Orders decided within the messages' retention: their messages are still there to compare with. */
function decidedRecently(context: CheckContext): { readonly where: string; readonly params: readonly unknown[] } {
  return { where: `o.decided_at > now() - ${DURATION}`, params: [context.messagesKeptMs] };
}

/** The amount and currency of a message's payload field, compared with an order's total. */
const sameTotal = (field: string) =>
  `(i.envelope->'payload'->'${field}'->>'amount')::bigint = o.total_amount and i.envelope->'payload'->'${field}'->>'currency' = o.currency`;

const approvalsFollowReservations: ConsistencyCheck = {
  name: 'approvals-follow-credit-reservations',
  kind: 'invariant',
  description: () =>
    `an order approved (APPROVED, or CANCELLED after approval) received ${CreditReservedV1.type} for its total and published ${OrderApprovedV1.type}`,
  query: (context) => {
    const o = context.schema;
    const recent = decidedRecently(context);
    return {
      sql: `select o.id as "orderId", o.status, o.total_amount as "total", o.currency,
                   exists (select 1 from ${o}.inbox i where i.correlation_id = o.id and i.type = ? and i.status = 'done') as "reservationReceived"
            from ${o}.orders o
            where o.status in ('APPROVED', 'CANCELLED') and ${recent.where}
              and (not exists (select 1 from ${o}.inbox i where i.correlation_id = o.id and i.type = ? and i.status = 'done' and ${sameTotal('amount')})
                or not exists (select 1 from ${o}.outbox m where m.correlation_id = o.id and m.type = ?))
            order by o.decided_at`,
      params: [CreditReservedV1.type, ...recent.params, CreditReservedV1.type, OrderApprovedV1.type],
    };
  },
};

const closedOrdersReleaseCredit: ConsistencyCheck = {
  name: 'closed-orders-release-their-credit',
  kind: 'invariant',
  description: () =>
    `a closed order asks for its credit back: choreography publishes ${OrderRejectedV1.type} or ${OrderCancelledV1.type}; ` +
    `orchestration sends ${ReleaseCreditV1.type} on a cancellation or a reservation that came after the rejection`,
  query: (context) => {
    const o = context.schema;
    const recent = decidedRecently(context);
    const published = (type: string) => `exists (select 1 from ${o}.outbox m where m.correlation_id = o.id and m.type = '${type}')`;
    const received = `exists (select 1 from ${o}.inbox i where i.correlation_id = o.id and i.type = '${CreditReservedV1.type}' and i.status = 'done')`;
    return {
      sql: `select o.id as "orderId", o.status, o.saga_style as "sagaStyle", o.rejection_reason as "reason"
            from ${o}.orders o
            where o.status in ('REJECTED', 'CANCELLED') and ${recent.where}
              and not case
                when o.saga_style = 'choreography' and o.status = 'REJECTED' then ${published(OrderRejectedV1.type)}
                when o.saga_style = 'choreography' then ${published(OrderCancelledV1.type)}
                when o.status = 'CANCELLED' or ${received} then ${published(ReleaseCreditV1.type)}
                else true
              end
            order by o.decided_at`,
      params: recent.params,
    };
  },
};

export const orderConsistency: ModuleConsistency = {
  checks: [
    ordersReachAnEnd,
    sagasReachAnEnd,
    sagasMatchOrders,
    sagaStepsRecordedOnce,
    approvalsFollowReservations,
    closedOrdersReleaseCredit,
  ],
  summary: (schema) =>
    `select 'orders ' || status as label, count(*)::int as n from ${quoteIdent(schema)}.orders group by status order by status`,
  sagaStyles: (schema) => `select id as correlation_id, saga_style as style from ${quoteIdent(schema)}.orders where id = any(?::uuid[])`,
};
