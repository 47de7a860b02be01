import type { Envelope } from '../message.js';

/**
 * Where application services put the messages a change produces. Adapters must publish them
 * only if the surrounding transaction commits (the transactional outbox), and deliver them
 * at least once to every subscribing use case.
 */
export interface EventBusPort {
  publish(messages: readonly Envelope[]): Promise<void>;
}
