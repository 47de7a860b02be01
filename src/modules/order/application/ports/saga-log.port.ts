export type SagaStepOutcome = 'done' | 'sent' | 'received' | 'failed' | 'ignored';

export interface SagaStep {
  readonly name: string;
  readonly at: Date;
  readonly outcome: SagaStepOutcome;
  readonly detail?: string;
}

/** The history of an order's saga, in both styles, so a user can see how an order got where it is. */
export interface SagaLogPort {
  append(orderId: string, steps: readonly SagaStep[]): Promise<void>;
  list(orderId: string): Promise<SagaStep[]>;
}
