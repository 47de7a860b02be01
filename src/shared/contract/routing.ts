/**
 * How messages reach a module and leave it: the use cases it runs for each message type, the
 * schema whose inbox holds their pending deliveries, and the message types it writes. A module
 * publishes this in its contract, so a process that loads only one module can still route what it
 * writes to every consumer, and the ECS task role of a module may launch exactly the use cases
 * its messages route to.
 */

/** The two ways the order/credit saga runs; a route of a module's inbox is active under some of them. */
export type SagaStyle = 'choreography' | 'orchestration';

export const SAGA_STYLES = ['choreography', 'orchestration'] as const satisfies readonly SagaStyle[];

export interface InboundRoute {
  /** e.g. `customer.reserve-credit`: names the application folder, the queue and the task. */
  readonly useCase: string;
  readonly messageType: string;
  /** The saga styles under which this route is active. */
  readonly styles: readonly SagaStyle[];
  /**
   * The payload field naming the aggregate the handler locks (e.g. `customerId`): the delivery's
   * key. Consumers never handle two deliveries of one key at once, and handle a key's deliveries
   * in the order they arrived (the message-group idea of SQS FIFO).
   */
  readonly key: string;
  /**
   * A compensation, or a reply or reaction a saga waits on to move on: its deliveries are never
   * dead-lettered because the use case's task cannot start; they wait for it (alarmed). Routes
   * that only begin work may be dead-lettered after repeated permanent start failures (ADR 36).
   */
  readonly unblocksSaga?: boolean;
}

export interface ModuleInbox {
  readonly module: string;
  readonly schema: string;
  readonly routes: readonly InboundRoute[];
  /**
   * Every message type the module writes to its outbox: its events, and the commands it sends to
   * other modules. The outbox refuses any other (so the declaration cannot lie), and what a
   * module's tasks may launch on ECS follows from it.
   */
  readonly publishes: readonly string[];
}
