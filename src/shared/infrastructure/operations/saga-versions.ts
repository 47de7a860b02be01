import type { Container } from 'inversify';
import type { SagaDefinition } from '../../kernel/index.js';

/** How many instances of a saga stand in one state under one definition version. */
export interface SagaInstanceCount {
  readonly saga: string;
  readonly definitionVersion: number;
  readonly state: string;
  readonly instances: number;
}

/** A module's count of its saga instances, read from its own schema. */
export interface SagaInstancesPort {
  countByVersion(): Promise<SagaInstanceCount[]>;
}

/**
 * The orchestrated sagas a module runs (ADR 37): every definition version this release handles
 * (the contract lock compares them with the released ones; the newest starts new instances) and
 * its instances by version, so an operator sees when an old version has drained and a process
 * refuses to start while instances of a version it no longer handles can still move.
 */
export interface ModuleSagas {
  readonly definitions: readonly SagaDefinition[];
  instances(container: Container): SagaInstancesPort;
}
