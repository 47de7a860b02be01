import type { Scenario } from '../harness/scenario.js';
import { processCrash } from './01-process-crash.js';
import { redisRestartAndFlush } from './02-redis-restart-and-flush.js';
import { postgresRestart } from './03-postgres-restart.js';
import { ecsAdapter } from './04-ecs-adapter.js';
import { poisonAndFailingHandlers } from './05-poison-and-failing-handlers.js';
import { badInput } from './06-bad-input.js';
import { hotCustomers } from './07-hot-customers.js';
import { ecsAwsTerms } from './08-ecs-aws-terms.js';
import { postgresOutages } from './09-postgres-outages.js';
import { ecsTaskLiveness } from './10-ecs-task-liveness.js';

/** The suite's scenarios, in the order they run. */
export const SCENARIOS: readonly Scenario[] = [
  processCrash,
  redisRestartAndFlush,
  postgresRestart,
  ecsAdapter,
  poisonAndFailingHandlers,
  badInput,
  hotCustomers,
  ecsAwsTerms,
  postgresOutages,
  ecsTaskLiveness,
];
