/**
 * An orchestrated saga's steps as data (ADR 37): the states it can be in and, for each input, the
 * state it moves to and the action it takes. Each definition has a version; a saga instance
 * records the version it started under and keeps following it, so a release that changes the
 * steps adds a version beside the old one instead of editing it under instances in flight. The
 * contract lock (`npm run contracts:check`) compares every version with the one released before.
 */
export interface SagaTransition<S extends string = string, I extends string = string, A extends string = string> {
  readonly from: S;
  readonly on: I;
  readonly to: S;
  readonly action: A;
}

export interface SagaDefinition<S extends string = string, I extends string = string, A extends string = string> {
  /** The saga's name, as recorded with its instances (`place-order`). */
  readonly saga: string;
  readonly version: number;
  readonly initial: S;
  readonly states: readonly S[];
  readonly transitions: readonly SagaTransition<S, I, A>[];
}

/** The transition of `definition` for `input` in `state`, or undefined when the input no longer applies there. */
export function transitionOf<S extends string, I extends string, A extends string>(
  definition: SagaDefinition<S, I, A>,
  state: S,
  input: I,
): SagaTransition<S, I, A> | undefined {
  return definition.transitions.find((t) => t.from === state && t.on === input);
}
