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
 * (settings.taskProxy, ADR 34), which holds at most what the long-lived processes leave.
 */
export interface ConnectionPlan {
  readonly budget: number;
  readonly longLivedProcesses: number;
  readonly perLongLived: number;
  readonly perTask: number;
  readonly minimumTasks: number;
  /** What is left for tasks once the long-lived processes have their pools, in whole tasks (behind the proxy: how many may run). */
  readonly maxTasks: number;
  /**
   * The tasks connect through RDS Proxy, which multiplexes their transactions onto at most
   * `maxConnectionsPercent` of the database's connections (what the long-lived processes leave of
   * the budget); undefined: they connect directly.
   */
  readonly proxy?: { readonly maxConnectionsPercent: number };
}

/** Tasks per active use case behind the proxy: one, and room to scale out one more. */
const TASKS_PER_USE_CASE_BEHIND_PROXY = 2;

export function connectionPlan(settings: DeploySettings, activeUseCases: number, budget: number, maxConnections: number): ConnectionPlan {
  const ecs = settings.eventBus === 'ecs';
  const longLivedProcesses = settings.apiMaxTasks + (ecs ? 1 : settings.workerTasks);
  const perLongLived = settings.dbPoolSize;
  const perTask = settings.taskConcurrency + 2;
  const minimumTasks = ecs ? activeUseCases : 0;
  const left = budget - longLivedProcesses * perLongLived;
  const fits = left >= minimumTasks * perTask;
  const proxied = ecs && (settings.taskProxy === 'on' || (settings.taskProxy === 'auto' && !fits));
  if (proxied) {
    // Behind the proxy a task holds no LISTEN connection (TASK_WAKE_NOTIFY=false: LISTEN pins a session).
    const maxConnectionsPercent = Math.floor((left / maxConnections) * 100);
    if (maxConnectionsPercent < 1)
      throw new Error(
        `connection budget ${budget} is too small: ${longLivedProcesses} long-lived processes × ${perLongLived} leave nothing for the tasks' proxy; use a larger database, a smaller dbPoolSize or fewer apiMaxTasks`,
      );
    return {
      budget,
      longLivedProcesses,
      perLongLived,
      perTask: settings.taskConcurrency + 1,
      minimumTasks,
      maxTasks: minimumTasks * TASKS_PER_USE_CASE_BEHIND_PROXY,
      proxy: { maxConnectionsPercent },
    };
  }
  if (!fits)
    throw new Error(
      `connection budget ${budget} is too small: ${longLivedProcesses} long-lived processes × ${perLongLived} + ${minimumTasks} tasks × ${perTask} = ` +
        `${longLivedProcesses * perLongLived + minimumTasks * perTask}; use a larger database, a smaller dbPoolSize, fewer apiMaxTasks, or taskProxy=auto`,
    );
  return { budget, longLivedProcesses, perLongLived, perTask, minimumTasks, maxTasks: ecs ? Math.floor(left / perTask) : 0 };
}
