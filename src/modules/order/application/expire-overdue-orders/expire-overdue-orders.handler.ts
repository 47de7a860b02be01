import { traceparent, type Clock, type TransactionPort } from '../../../../shared/kernel/index.js';
import type { SagaCoordinatorPort, SagaCoordinatorsPort } from '../ports/saga-coordinator.port.js';

export interface ExpiryFailure {
  readonly id: string;
  readonly error: unknown;
}

/**
 * Every order ends: a saga past its deadline rejects its order with TIMEOUT, in every style
 * (an order keeps the style it was placed under, so both styles' deadlines are kept whatever is
 * configured now). The deadlines are rows in PostgreSQL; any process that runs this job (the dev
 * server's scheduler, the sweeper task) finds them. Each order expires in its own transaction, so
 * one that fails (and is retried on the next run) never holds back the others.
 */
export class ExpireOverdueOrdersHandler {
  constructor(
    private readonly tx: TransactionPort,
    private readonly sagas: SagaCoordinatorsPort,
    private readonly clock: Clock,
    private readonly onFailure: (failure: ExpiryFailure) => void = () => undefined,
    private readonly batchSize = 100,
  ) {}

  async execute(): Promise<number> {
    let expired = 0;
    for (;;) {
      const now = this.clock.now();
      const coordinators = this.sagas.all;
      const batches = await Promise.all(coordinators.map((saga) => saga.findOverdue(now, this.batchSize)));
      let round = 0;
      for (const [i, ids] of batches.entries()) round += await this.expireAll(coordinators[i]!, ids);
      expired += round;
      // Another full batch may wait; stop when the backlog is gone or nothing moved (failures retry next run).
      if (batches.every((ids) => ids.length < this.batchSize) || round === 0) return expired;
    }
  }

  private async expireAll(saga: SagaCoordinatorPort, ids: readonly string[]): Promise<number> {
    let expired = 0;
    for (const id of ids) {
      try {
        if (await this.tx.run(() => saga.expire(id, { correlationId: id, causationId: null, traceparent: traceparent() }))) expired += 1;
      } catch (error) {
        this.onFailure({ id, error });
      }
    }
    return expired;
  }
}
