import type { Delivery } from './subscription.js';

/**
 * Processes pending deliveries of one use case; what a transport calls when it carries a signal.
 * Several ids are processed in one transaction (the inbox falls back to one per transaction when
 * one of them fails).
 */
export interface DeliveryDispatcher {
  useCases(): readonly string[];
  process(useCase: string, messageIds: readonly string[]): Promise<unknown>;
}

/**
 * Splits signalled deliveries into batches: by use case, at most `max` ids each, in the order
 * given (the relay's order). What one transport call (a job, an in-process call) carries.
 */
export function batchesOf(
  deliveries: readonly Delivery[],
  max: number,
): Array<{ readonly useCase: string; readonly messageIds: string[] }> {
  const byUseCase = new Map<string, string[]>();
  for (const d of deliveries) {
    const ids = byUseCase.get(d.useCase);
    if (ids) ids.push(d.messageId);
    else byUseCase.set(d.useCase, [d.messageId]);
  }
  const batches: Array<{ useCase: string; messageIds: string[] }> = [];
  for (const [useCase, ids] of byUseCase) {
    for (let i = 0; i < ids.length; i += Math.max(1, max)) batches.push({ useCase, messageIds: ids.slice(i, i + Math.max(1, max)) });
  }
  return batches;
}

/** A dependency /health/ready waits for besides PostgreSQL; its name is what the probe reports. */
export interface ReadinessCheck {
  readonly name: string;
  check(): Promise<void>;
}

/** Where a queue-backed transport keeps its queues, for operators' tools (bull-board, queue depth). */
export interface InspectableQueues {
  readonly redisUrl: string;
  readonly prefix: string;
}

/**
 * Carries "a delivery is pending" signals to whatever runs the use case: an in-process call,
 * a BullMQ job, or an ECS task launch. PostgreSQL holds the deliveries; a lost signal costs
 * time (the sweeper signals again), never a message.
 */
export interface DeliveryTransport {
  readonly name: 'memory' | 'bullmq' | 'ecs';
  /** Start consuming for these use cases (workers); producers-only processes never call it. */
  startConsumers(dispatcher: DeliveryDispatcher): Promise<void>;
  /**
   * `redelivery`: the sweeper signals again a delivery an earlier signal did not bring to an end;
   * a transport that deduplicates signals must not swallow this one.
   */
  signal(deliveries: readonly Delivery[], options?: { readonly redelivery?: boolean }): Promise<void>;
  ping(): Promise<void>;
  /** What /health/ready checks for this transport: the broker a signal must reach (none for ECS, whose work waits in PostgreSQL). */
  readiness(): readonly ReadinessCheck[];
  /**
   * Whether a signal starts a short-lived task (ECS): the relay then wakes a running task of the
   * use case with NOTIFY (TASK_WAKE_NOTIFY), and the console reads the launch attempts.
   */
  readonly launchesTasks: boolean;
  /** The queues operators may inspect; only a queue-backed transport (BullMQ) has them. */
  readonly inspectableQueues?: InspectableQueues;
  /**
   * Decides whether the use case needs a consumer started now (ECS: a task launch through the
   * lease), for a task that stops with work left (its time limit, a SIGTERM).
   */
  relaunch?(useCase: string): Promise<void>;
  /** Periodic upkeep the sweeper runs (e.g. relaunching for ECS leases whose tasks died). */
  maintain?(schemas: readonly string[]): Promise<unknown>;
  close(): Promise<void>;
}
