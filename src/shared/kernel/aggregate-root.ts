import type { DomainEvent } from './domain-event.js';

/**
 * Base for aggregates: records the domain events of a change so that the application service
 * can turn them into outgoing messages in the same transaction. `version` is the optimistic
 * concurrency token persisted with the aggregate.
 */
export abstract class AggregateRoot<E extends DomainEvent = DomainEvent> {
  private recorded: E[] = [];

  protected constructor(
    readonly id: string,
    protected currentVersion: number,
  ) {}

  get version(): number {
    return this.currentVersion;
  }

  /** Called by the repository once the change is stored under `version`. */
  markPersisted(version: number): void {
    this.currentVersion = version;
  }

  protected record(event: E): void {
    this.recorded.push(event);
  }

  /** The events recorded since the last call, oldest first. */
  pullEvents(): E[] {
    const events = this.recorded;
    this.recorded = [];
    return events;
  }

  peekEvents(): readonly E[] {
    return this.recorded;
  }
}
