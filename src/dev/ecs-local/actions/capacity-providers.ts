import type { LocalEcsFaults } from '../faults.js';
import { invalidParameter } from '../errors.js';
import type { LocalTaskDefinition } from '../task-definitions.js';

const NOT_ASSOCIATED =
  'The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. ' +
  'Associate the capacity provider with the cluster or specify a valid capacity provider and try again.';

/**
 * RunTask's checks of a capacity-provider strategy, with ECS's words: every provider must be
 * associated with the cluster, and (when the endpoint is told to behave as Fargate did before
 * Graviton Spot) FARGATE_SPOT refuses an ARM64 task definition.
 */
export function checkCapacityProviders(providers: readonly string[], definition: LocalTaskDefinition, faults: LocalEcsFaults): void {
  if (providers.some((p) => !faults.clusterCapacityProviders.includes(p))) throw invalidParameter(NOT_ASSOCIATED);
  if (faults.refuseSpotOnArm64 && providers.includes('FARGATE_SPOT') && definition.cpuArchitecture === 'ARM64') {
    throw invalidParameter('FARGATE_SPOT capacity provider is not supported when using ARM architecture.');
  }
}
