import { describe, expect, it } from 'vitest';
import { sagaPage } from '../../../src/shared/infrastructure/http/console/pages.js';
import { buildTimeline, processOf, type SagaDelivery, type SagaRecord } from '../../../src/shared/infrastructure/http/console/timeline.js';

const ORDER = '01a23fc6-1ebf-7180-b0cd-7c2a6ff06ae1';
const TRACE = '7c8185c7e4cf663db9aa2246f62baa50';
const tp = (span: string) => `00-${TRACE}-${span}-01`;
const at = (ms: number) => new Date(Date.UTC(2026, 11, 4, 6, 0, 0, ms));

const reserve: SagaDelivery = {
  schema: 'customers',
  useCase: 'customer.reserve-credit',
  messageId: 'm-created',
  type: 'order.created.v1',
  status: 'done',
  attempts: 2,
  traceparent: tp('1111111111111111'),
  createdAt: at(40),
  updatedAt: at(90),
  doneAt: at(90),
  errorCode: null,
  lastError: null,
};
const approve: SagaDelivery = {
  ...reserve,
  schema: 'ordering',
  useCase: 'order.approve-order',
  messageId: 'm-reserved',
  type: 'customer.credit-reserved.v1',
  attempts: 1,
  createdAt: at(100),
  updatedAt: at(130),
  doneAt: at(130),
};

function record(detail: string | null = null): SagaRecord {
  return {
    id: ORDER,
    summary: {
      subject: 'order',
      status: 'APPROVED',
      statusDetail: null,
      facts: [
        { label: 'Saga style', value: 'choreography' },
        { label: 'Customer', value: 'c', code: true },
        { label: 'Placed', value: at(0) },
        { label: 'Decided', value: at(120) },
      ],
      steps: [
        { name: 'order-placed', outcome: 'done', detail: null, at: at(0) },
        { name: 'credit-reserved', outcome: 'received', detail, at: at(120) },
        { name: 'order-approved', outcome: 'done', detail: null, at: at(120) },
      ],
    },
    messages: [
      {
        schema: 'ordering',
        id: 'm-created',
        type: 'order.created.v1',
        causationId: null,
        traceparent: tp('2222222222222222'),
        occurredAt: at(0),
        producedBy: 'order.api',
        relayedAt: at(30),
      },
      {
        schema: 'customers',
        id: 'm-reserved',
        type: 'customer.credit-reserved.v1',
        causationId: 'm-created',
        traceparent: tp('3333333333333333'),
        occurredAt: at(85),
        producedBy: 'customer.reserve-credit',
        relayedAt: at(95),
      },
      {
        schema: 'ordering',
        id: 'm-approved',
        type: 'order.approved.v1',
        causationId: 'm-reserved',
        traceparent: tp('4444444444444444'),
        occurredAt: at(120),
        producedBy: 'order.approve-order',
        relayedAt: at(140),
      },
    ],
    deliveries: [reserve, approve],
    launches: [],
  };
}

describe('buildTimeline', () => {
  it('attributes each step to the use case and delivery of the event it published, in time order', () => {
    const entries = buildTimeline(record(), 'bullmq');
    expect(entries.map((e) => [e.kind, e.title, e.useCase, e.attempts])).toEqual([
      ['step', 'order-placed', 'order.api', null],
      ['delivery', 'customer.reserve-credit handled order.created.v1', 'customer.reserve-credit', 2],
      ['step', 'credit-reserved', 'order.approve-order', 1],
      ['step', 'order-approved', 'order.approve-order', 1],
    ]);
    expect(entries[0]?.process).toBe('API request');
    expect(entries.every((e) => e.traceId === TRACE)).toBe(true);
  });

  it("keeps the saga log's order for its steps, whatever clock stamped them, and merges the deliveries in by time", () => {
    const base = record();
    // Two steps of one transaction: the received one stamped 4 ms after the decision by another clock.
    const steps = [
      { name: 'order-placed', outcome: 'done', detail: null, at: at(0) },
      { name: 'credit-reserved', outcome: 'received', detail: null, at: at(124) },
      { name: 'order-approved', outcome: 'done', detail: null, at: at(120) },
    ];
    const entries = buildTimeline({ ...base, summary: { ...base.summary, steps } }, 'bullmq');
    expect(entries.map((e) => e.title)).toEqual([
      'order-placed',
      'customer.reserve-credit handled order.created.v1',
      'credit-reserved',
      'order-approved',
    ]);
  });

  it('falls back to the delivery in flight when no event marks the step, and shows a dead one with its error', () => {
    const base = record();
    const dead = { ...approve, status: 'dead', attempts: 8, doneAt: null, errorCode: 'BOOM', lastError: 'it broke' };
    const entries = buildTimeline({ ...base, messages: base.messages.slice(0, 2), deliveries: [reserve, dead] }, 'memory');
    const step = entries.find((e) => e.title === 'credit-reserved');
    expect(step).toMatchObject({ useCase: 'order.approve-order', attempts: 8, process: 'in-process (memory transport)' });
  });

  it('lists an unattributed dead delivery with its error code and reason', () => {
    const base = record();
    const dead = { ...reserve, status: 'dead', doneAt: null, errorCode: 'BOOM', lastError: 'it broke' };
    const entry = buildTimeline({ ...base, deliveries: [dead, approve] }, 'bullmq').find((e) => e.kind === 'delivery');
    expect(entry).toMatchObject({ outcome: 'dead', error: 'BOOM: it broke' });
  });
});

describe('processOf', () => {
  it('names the latest ECS launch of the use case before the delivery finished', () => {
    const launches = [
      { schema: 'customers', useCase: 'customer.reserve-credit', createdAt: at(200), taskArns: ['arn:later'] },
      { schema: 'customers', useCase: 'customer.reserve-credit', createdAt: at(10), taskArns: ['arn:task/1'] },
      { schema: 'customers', useCase: 'customer.reserve-credit', createdAt: at(0), taskArns: ['arn:earlier'] },
    ];
    expect(processOf(reserve, { launches }, 'ecs')).toContain('arn:task/1');
    expect(processOf(reserve, { launches: [] }, 'ecs')).toBe('ECS task (no launch recorded)');
  });
});

describe('sagaPage', () => {
  it('escapes a hostile step detail', () => {
    const hostile = '<script>alert(1)</script><img src=x onerror="alert(2)">';
    const page = sagaPage(record(hostile), buildTimeline(record(hostile), 'bullmq'), { traceUiUrl: undefined, queues: true });
    expect(page).not.toContain('<script>alert');
    expect(page).not.toContain('<img src=x');
    expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=&quot;alert(2)&quot;&gt;');
    expect(page).toContain('<a href="/admin/queues">Queues</a>');
  });
});
