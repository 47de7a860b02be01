import type { SagaStyle } from '../../contract/routing.js';

/**
 * A module's invariants, for `npm run check:consistency` and the reliability suite: declared by
 * the module, run by the platform in one read-only repeatable-read snapshot per database. A module
 * may live in a database of its own, so each of its checks reads its own schema and nothing else:
 * an invariant that spans modules is checked by each side against the messages of its own inbox
 * and outbox, and the platform checks that every message reached its consumers.
 */
export interface ModuleConsistency {
  readonly checks: readonly ConsistencyCheck[];
  /** Counts for the report's summary line: rows `(label text, n integer)`, e.g. its aggregates by status. */
  summary?(schema: string): string;
  /**
   * For a module that starts sagas: the saga style each of its sagas runs under, so that the
   * platform knows which use cases its messages had to reach. Rows `(correlation_id uuid, style text)`
   * of the sagas whose id is in the one `?` parameter (a uuid array).
   */
  sagaStyles?(schema: string): string;
}

export type CheckMode = 'live' | 'settled';

export interface CheckContext {
  /** The module's schema, quoted (`"ordering"`): the only one its SQL may name. */
  readonly schema: string;
  /**
   * `live`: the system may be working; work in flight fails a check only once older than the
   * thresholds. `settled`: the system is idle, anything in flight is a failure.
   */
  readonly mode: CheckMode;
  /** live: an aggregate still waiting this long after its deadline is stuck. */
  readonly deadlineGraceMs: number;
  /** live: work (a compensation, a delivery) unfinished this long is stuck. */
  readonly pendingAfterMs: number;
  /**
   * Done deliveries and relayed outbox rows are purged after RETENTION_DONE_MS: a check that looks
   * for the message behind a row's state looks only at rows changed within this many milliseconds.
   */
  readonly messagesKeptMs: number;
}

export interface ConsistencyCheck {
  /** Kebab-case, unique in the system (the report and the tests name checks by it). */
  readonly name: string;
  /** What holds when the check passes, as the report prints it. */
  description(mode: CheckMode): string;
  /**
   * `progress`: fails while work is in flight and passes once it is done (an idle system passes
   * it: what "settled" waits for); `invariant`: holds at every moment.
   */
  readonly kind: 'progress' | 'invariant';
  /** The offending rows: one select over the module's own schema, `?` placeholders bound to `params`. */
  query(context: CheckContext): { readonly sql: string; readonly params?: readonly unknown[] };
}

/** A saga's style, as a module that starts sagas reports it (`sagaStyles`). */
export interface SagaStyleRow {
  readonly correlation_id: string;
  readonly style: SagaStyle;
}
