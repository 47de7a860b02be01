/**
 * The operator console's saga timeline (ADR 28), as a port: the platform reads the messages,
 * deliveries and task launches of a saga from every schema's messaging tables (its own tables),
 * and asks the hosted modules for what only the module that runs a saga knows: what the saga is,
 * where it stands and its log of steps. A module that starts sagas implements it over its own
 * tables; the saga's id is the correlation id of every message of the saga.
 */
export interface SagaViewPort {
  /** The saga with this id, or null when this module has none. */
  read(sagaId: string): Promise<SagaSummary | null>;
}

export interface SagaSummary {
  /** What the saga is about, for the page's heading (`order`: "Saga of order <id>"). */
  readonly subject: string;
  /** Where it stands (a badge): its state or its aggregate's status. */
  readonly status: string;
  /** Why it stands there, if the status needs a reason (a rejection's). */
  readonly statusDetail: string | null;
  /** The facts an operator wants beside the timeline, in order. */
  readonly facts: readonly SagaFact[];
  /** The module's saga log, in the order it was written. */
  readonly steps: readonly SagaStep[];
}

export interface SagaFact {
  readonly label: string;
  /** A time is shown as one; null as "—". */
  readonly value: string | Date | null;
  /** An identifier, shown as code. */
  readonly code?: boolean;
}

export interface SagaStep {
  readonly name: string;
  readonly outcome: string;
  readonly detail: string | null;
  readonly at: Date;
}
