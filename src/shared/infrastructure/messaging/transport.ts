import type { Delivery } from './subscription.js';

/** Processes one pending delivery; what a transport calls when it carries a signal. */
export interface DeliveryDispatcher {
  useCases(): readonly string[];
  process(delivery: Delivery): Promise<void>;
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
  /** Periodic upkeep the sweeper runs (e.g. relaunching for ECS leases whose tasks died). */
  maintain?(schemas: readonly string[]): Promise<unknown>;
  close(): Promise<void>;
}
