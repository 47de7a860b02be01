import type { SagaSummary } from '../../operations/saga-view.port.js';
import { traceIdOf } from '../html.js';

/** What the console reads of one saga across every hosted schema (see saga-reader.ts). */
export interface SagaRecord {
  /** The saga's id: the correlation id of its messages. */
  readonly id: string;
  /** What the module that runs the saga says of it, with its log of steps. */
  readonly summary: SagaSummary;
  readonly messages: readonly SagaMessage[];
  readonly deliveries: readonly SagaDelivery[];
  /** ECS launches of the saga's use cases around its time (EVENT_BUS=ecs), newest first. */
  readonly launches: readonly {
    readonly schema: string;
    readonly useCase: string;
    readonly createdAt: Date;
    readonly taskArns: readonly string[];
  }[];
}

/** An outbox row of the saga: an event some use case (or the API) published. */
export interface SagaMessage {
  readonly schema: string;
  readonly id: string;
  readonly type: string;
  readonly causationId: string | null;
  readonly traceparent: string;
  readonly occurredAt: Date;
  readonly producedBy: string;
  readonly relayedAt: Date | null;
}

/** An inbox row of the saga: one use case's delivery of one message. */
export interface SagaDelivery {
  readonly schema: string;
  readonly useCase: string;
  readonly messageId: string;
  readonly type: string;
  readonly status: string;
  readonly attempts: number;
  readonly traceparent: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly doneAt: Date | null;
  readonly errorCode: string | null;
  readonly lastError: string | null;
}

export type TransportName = 'memory' | 'bullmq' | 'ecs';

/** One line of the timeline: a saga step (with the delivery that recorded it) or a delivery that recorded none. */
export interface TimelineEntry {
  readonly kind: 'step' | 'delivery';
  readonly at: Date;
  readonly title: string;
  /** The step's outcome, or the delivery's status. */
  readonly outcome: string;
  readonly detail: string | null;
  readonly useCase: string | null;
  /** The message the delivery handled. */
  readonly handled: string | null;
  /** Where it ran: the API, an in-process or BullMQ worker, an ECS task. */
  readonly process: string;
  readonly attempts: number | null;
  readonly traceId: string | null;
  readonly error: string | null;
}

/**
 * The saga as a timeline. A step is attributed to the unit of work that recorded it: the event
 * published in the same transaction (same instant) names its use case and, through its causation
 * id, the delivery it handled; failing that, the delivery that was in flight then. Deliveries that
 * recorded no step (another module's, a dead one) get lines of their own.
 */
export function buildTimeline(record: SagaRecord, transport: TransportName): TimelineEntry[] {
  const attributed = new Set<SagaDelivery>();
  const stepEntries = record.summary.steps.map((step): TimelineEntry => {
    const message = record.messages.find((m) => m.occurredAt.getTime() === step.at.getTime());
    const delivery = message
      ? record.deliveries.find((d) => d.useCase === message.producedBy && d.messageId === message.causationId)
      : inFlightAt(record.deliveries, step.at);
    if (delivery) attributed.add(delivery);
    const useCase = message?.producedBy ?? delivery?.useCase ?? null;
    return {
      kind: 'step',
      at: step.at,
      title: step.name,
      outcome: step.outcome,
      detail: step.detail,
      useCase,
      handled: delivery?.type ?? null,
      process: delivery ? processOf(delivery, record, transport) : useCase?.endsWith('.api') ? 'API request' : 'API request or job',
      attempts: delivery?.attempts ?? null,
      traceId: traceIdOf(message?.traceparent ?? delivery?.traceparent),
      error: null,
    };
  });
  const deliveryEntries = record.deliveries
    .filter((d) => !attributed.has(d))
    .map((d): TimelineEntry => ({
      kind: 'delivery',
      at: d.doneAt ?? d.updatedAt,
      title: `${d.useCase} handled ${d.type}`,
      outcome: d.status,
      detail: null,
      useCase: d.useCase,
      handled: d.type,
      process: processOf(d, record, transport),
      attempts: d.attempts,
      traceId: traceIdOf(d.traceparent),
      error: d.errorCode || d.lastError ? [d.errorCode, d.lastError].filter(Boolean).join(': ') : null,
    }));
  return mergeByTime(stepEntries, deliveryEntries);
}

/**
 * The saga log's steps in the log's own order (its sequence: two steps of one transaction may
 * carry times from two clocks, the application's and the database's, out of order by a few ms),
 * with the other deliveries merged in where their time falls.
 */
function mergeByTime(steps: readonly TimelineEntry[], deliveries: readonly TimelineEntry[]): TimelineEntry[] {
  const pending = [...deliveries].sort((a, b) => a.at.getTime() - b.at.getTime());
  const merged: TimelineEntry[] = [];
  for (const step of steps) {
    while (pending.length > 0 && pending[0]!.at.getTime() < step.at.getTime()) merged.push(pending.shift()!);
    merged.push(step);
  }
  return [...merged, ...pending];
}

/** The delivery that had started and not finished before `at` (the first to finish after it). */
function inFlightAt(deliveries: readonly SagaDelivery[], at: Date): SagaDelivery | undefined {
  const t = at.getTime();
  return deliveries
    .filter((d) => d.createdAt.getTime() <= t && (d.doneAt ?? d.updatedAt).getTime() >= t)
    .sort((a, b) => (a.doneAt ?? a.updatedAt).getTime() - (b.doneAt ?? b.updatedAt).getTime())[0];
}

/**
 * Where a delivery ran. The inbox does not record which process claimed a delivery: BullMQ's
 * workers are named only by the transport, an ECS delivery by its use case's latest task launch
 * before the delivery finished (a task runs many deliveries; a delivery may be one of its successor's).
 */
export function processOf(delivery: SagaDelivery, record: Pick<SagaRecord, 'launches'>, transport: TransportName): string {
  switch (transport) {
    case 'memory':
      return 'in-process (memory transport)';
    case 'bullmq':
      return 'BullMQ worker (process not recorded)';
    case 'ecs': {
      const end = (delivery.doneAt ?? delivery.updatedAt).getTime();
      const launch = record.launches.find(
        (l) => l.schema === delivery.schema && l.useCase === delivery.useCase && l.createdAt.getTime() <= end && l.taskArns.length > 0,
      );
      return launch ? `ECS task ${launch.taskArns.join(', ')} (latest launch before it finished)` : 'ECS task (no launch recorded)';
    }
  }
}
