import {
  MESSAGE_TYPE,
  parseEnvelope,
  type Envelope,
  type EventBusPort,
  type MessageDefinition,
  type MessageHandler,
} from '../../../src/shared/kernel/index.js';

export type InMemoryHandler<P> = MessageHandler<P> | ((message: Envelope<P>) => Promise<void>);

export interface InMemorySubscribeOptions {
  /** Names the subscriber in dead letters and failures, like a use-case id does in the inbox. */
  readonly name?: string;
}

export interface InMemoryEventBusOptions {
  /** How many times each message reaches each subscriber; above 1 it simulates at-least-once redelivery. */
  readonly deliveriesPerMessage?: number;
  /** drain() gives up after this many deliveries: a handler that answers its own message would otherwise never settle. */
  readonly maxDeliveriesPerDrain?: number;
}

export interface InMemoryDeadLetter {
  readonly subscriber: string;
  readonly message: unknown;
  readonly code: string;
  readonly reason: string;
}

export interface InMemoryDeliveryFailure {
  readonly subscriber: string;
  readonly message: Envelope;
  readonly error: unknown;
}

interface Subscriber {
  readonly name: string;
  readonly messageType: string;
  readonly definition: MessageDefinition<unknown> | undefined;
  readonly handle: (message: Envelope) => Promise<void>;
}

/**
 * The event-bus port for unit tests, with the semantics of the real transports:
 * - asynchronous: a message reaches its subscribers on a later turn of the event loop, never
 *   inside the publisher's call stack, as a copy that went through JSON (as through PostgreSQL);
 * - at-least-once: `redeliver` (or `deliveriesPerMessage`) hands a message to its subscribers
 *   again, so tests can prove a second delivery has no second effect;
 * - errors surface: a subscriber that throws is recorded in `failures` and makes the next
 *   `drain()` reject with that error; nothing is retried behind the test's back;
 * - a subscription by contract validates the envelope and the payload first: an invalid
 *   message is recorded in `deadLetters` with the reason and never reaches the handler.
 * It is not transactional: put it behind a transaction that publishes only on commit.
 */
export class InMemoryEventBus implements EventBusPort {
  private readonly subscribers: Subscriber[] = [];
  private readonly log: Envelope[] = [];
  private readonly dead: InMemoryDeadLetter[] = [];
  private readonly failed: InMemoryDeliveryFailure[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private reportedFailures = 0;
  private deliveriesStarted = 0;
  private readonly deliveriesPerMessage: number;
  private readonly maxDeliveriesPerDrain: number;

  constructor(options: InMemoryEventBusOptions = {}) {
    this.deliveriesPerMessage = options.deliveriesPerMessage ?? 1;
    this.maxDeliveriesPerDrain = options.maxDeliveriesPerDrain ?? 10_000;
    if (!Number.isInteger(this.deliveriesPerMessage) || this.deliveriesPerMessage < 1) {
      throw new RangeError(`deliveriesPerMessage must be a positive integer, got ${String(options.deliveriesPerMessage)}`);
    }
  }

  /** Every message published so far, oldest first. */
  get published(): readonly Envelope[] {
    return this.log;
  }

  get deadLetters(): readonly InMemoryDeadLetter[] {
    return this.dead;
  }

  get failures(): readonly InMemoryDeliveryFailure[] {
    return this.failed;
  }

  /** The published messages of one contract message, typed by it. */
  publishedOf<P>(definition: MessageDefinition<P>): Envelope<P>[] {
    return this.log.filter((m) => m.type === definition.type) as Envelope<P>[];
  }

  subscribe<P>(message: MessageDefinition<P>, handler: InMemoryHandler<P>, options?: InMemorySubscribeOptions): () => void;
  subscribe(messageType: string, handler: InMemoryHandler<unknown>, options?: InMemorySubscribeOptions): () => void;
  subscribe<P>(message: MessageDefinition<P> | string, handler: InMemoryHandler<P>, options: InMemorySubscribeOptions = {}): () => void {
    const messageType = typeof message === 'string' ? message : message.type;
    if (!MESSAGE_TYPE.test(messageType))
      throw new Error(`cannot subscribe to ${JSON.stringify(messageType)}: not a versioned message type`);
    const handle = typeof handler === 'function' ? handler : (m: Envelope<P>) => handler.handle(m);
    const subscriber: Subscriber = {
      name: options.name ?? `${messageType}#${this.subscribers.length + 1}`,
      messageType,
      definition: typeof message === 'string' ? undefined : (message as MessageDefinition<unknown>),
      handle: handle as (m: Envelope) => Promise<void>,
    };
    this.subscribers.push(subscriber);
    return () => {
      const index = this.subscribers.indexOf(subscriber);
      if (index >= 0) this.subscribers.splice(index, 1);
    };
  }

  async publish(messages: readonly Envelope[]): Promise<void> {
    for (const message of messages) {
      this.log.push(message);
      for (let i = 0; i < this.deliveriesPerMessage; i++) this.schedule(message);
    }
  }

  /** Hands a published message to its current subscribers once more, as a transport does after a lost acknowledgement. */
  redeliver(messageId: string): void {
    const message = this.log.find((m) => m.id === messageId);
    if (!message) throw new Error(`no published message ${messageId} to redeliver`);
    this.schedule(message);
  }

  /**
   * Waits until no delivery is in flight, including those that deliveries caused, then rejects
   * with the failures not reported by an earlier drain: the error itself when there is one,
   * an AggregateError when there are several.
   */
  async drain(): Promise<void> {
    const startedBefore = this.deliveriesStarted;
    while (this.inFlight.size > 0) {
      if (this.deliveriesStarted - startedBefore > this.maxDeliveriesPerDrain) {
        throw new Error(`drain: more than ${this.maxDeliveriesPerDrain} deliveries without settling; do handlers publish in a loop?`);
      }
      await Promise.all([...this.inFlight]);
    }
    const fresh = this.failed.slice(this.reportedFailures);
    this.reportedFailures = this.failed.length;
    if (fresh.length === 1) throw fresh[0]!.error;
    if (fresh.length > 1) {
      const summary = fresh.map(
        (f) => `${f.subscriber} <- ${f.message.type}: ${f.error instanceof Error ? f.error.message : String(f.error)}`,
      );
      throw new AggregateError(
        fresh.map((f) => f.error),
        `${fresh.length} deliveries failed: ${summary.join('; ')}`,
      );
    }
  }

  private schedule(message: Envelope): void {
    const wire = JSON.stringify(message);
    for (const subscriber of this.subscribers.filter((s) => s.messageType === message.type)) {
      // Errors never escape `run`, so the promise in `inFlight` always fulfils.
      const run = new Promise<void>((resolve) => setImmediate(resolve))
        .then(() => this.deliver(subscriber, JSON.parse(wire) as unknown))
        .finally(() => this.inFlight.delete(run));
      this.inFlight.add(run);
    }
  }

  private async deliver(subscriber: Subscriber, raw: unknown): Promise<void> {
    this.deliveriesStarted += 1;
    const envelope = parseEnvelope(raw);
    if (!envelope.ok) {
      this.dead.push({ subscriber: subscriber.name, message: raw, code: envelope.error.code, reason: envelope.error.message });
      return;
    }
    let message: Envelope = envelope.value;
    if (subscriber.definition) {
      const payload = subscriber.definition.parse(message.payload);
      if (!payload.ok) {
        this.dead.push({
          subscriber: subscriber.name,
          message: raw,
          code: payload.error.code,
          reason: `${message.type}: ${payload.error.message}`,
        });
        return;
      }
      message = { ...message, payload: payload.value };
    }
    try {
      await subscriber.handle(message);
    } catch (error) {
      this.failed.push({ subscriber: subscriber.name, message, error });
    }
  }
}
