import type { DeploySettings } from './settings.js';

/**
 * The connection arithmetic of docs/deployment.md (Connections), for this deployment. Connections
 * follow databases, not modules (ADR 32): every module of this app lives in its one database.
 *
 *   long-lived processes = API tasks at their autoscaling maximum + workers (BullMQ) or the sweeper (ECS)
 *   per long-lived       = DB_POOL_SIZE (one pool per database, shared by the modules and the ECS launcher)
 *   per use-case task    = TASK_CONCURRENCY + 2 (pool: claimers + 1 for relay, heartbeat and launches; LISTEN 1)
 *   needed               = long-lived × per long-lived + active use cases × per task   (one task each, at least)
 *
 * and it must fit the budget (about 90 % of the database's max_connections). The processes get
 * DB_CONNECTION_BUDGET and DB_LONG_LIVED_PROCESSES, and derive ECS_MAX_TASKS from what is left.
 * Where even one task per use case does not fit, the tasks' connections go through RDS Proxy
 * (settings.taskProxy), which the budget then no longer counts (see database.ts).
 */
export interface ConnectionPlan {
  readonly budget: number;
  readonly longLivedProcesses: number;
  readonly perLongLived: number;
  readonly perTask: number;
  readonly minimumTasks: number;
  /** What is left for tasks once the long-lived processes have their pools, in whole tasks. */
  readonly maxTasks: number;
}

export function connectionPlan(settings: DeploySettings, activeUseCases: number, budget: number): ConnectionPlan {
  const ecs = settings.eventBus === 'ecs';
  const longLivedProcesses = settings.apiMaxTasks + (ecs ? 1 : settings.workerTasks);
  const perLongLived = settings.dbPoolSize;
  const perTask = settings.taskConcurrency + 2;
  const minimumTasks = ecs ? activeUseCases : 0;
  const left = budget - longLivedProcesses * perLongLived;
  const plan = { budget, longLivedProcesses, perLongLived, perTask, minimumTasks, maxTasks: ecs ? Math.floor(left / perTask) : 0 };
  if (left < minimumTasks * perTask)
    throw new Error(
      `connection budget ${budget} is too small: ${longLivedProcesses} long-lived processes × ${perLongLived} + ${minimumTasks} tasks × ${perTask} = ` +
        `${longLivedProcesses * perLongLived + minimumTasks * perTask}; use a larger database, a smaller dbPoolSize or fewer apiMaxTasks`,
    );
  return plan;
}
