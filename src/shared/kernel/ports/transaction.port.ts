/**
 * Runs work atomically: the aggregate changes, the outgoing messages and (for a message
 * handler) the delivery's completion commit together or not at all. Nested calls join the
 * outer transaction.
 */
export interface TransactionPort {
  run<T>(work: () => Promise<T>): Promise<T>;
}
