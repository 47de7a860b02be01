export {
  startLocalEcs,
  DEFAULT_FAILURE_REASONS,
  ECS_TARGET_PREFIX,
  type LocalEcs,
  type LocalEcsFaults,
  type LocalEcsFaultsInput,
  type LocalEcsProfile,
  type LocalEcsStats,
  type StartLocalEcsOptions,
} from './server.js';
export { EcsApiError, type EcsErrorType } from './errors.js';
export { silentEcsLocalLogger, type EcsLocalLogger } from './logger.js';
export {
  parseTaskDefinition,
  parseTaskDefinitionReference,
  TaskDefinitionDirectory,
  type LocalContainerDefinition,
  type LocalTaskDefinition,
} from './task-definitions.js';
