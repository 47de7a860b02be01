import { randomBytes } from 'node:crypto';
import type { Logger } from '../../shared/infrastructure/logging/logger.js';
import { readTaskMetadata } from '../../shared/infrastructure/messaging/ecs/task-metadata.js';

/** Who a task is: its ARN, and the tag its connections carry. */
export interface TaskIdentity {
  /** From the task metadata endpoint; null off ECS (run by hand) or when the endpoint did not answer. */
  readonly taskArn: string | null;
  /**
   * Names the task's connections apart from its siblings' in pg_stat_activity (`#<tag>`): what an
   * operator, and the connection-budget tests, count as one task. Its task id's tail, or a random
   * one off ECS.
   */
  readonly tag: string;
}

/**
 * Reads the task's identity from the task metadata endpoint (v4), as Fargate gives it: its ARN
 * records its give-back (ADR 39). An endpoint that does not answer costs the record, not the task.
 */
export async function taskIdentity(logger: Logger): Promise<TaskIdentity> {
  const metadata = await readTaskMetadata().catch((error: unknown) => {
    logger.warn({ err: error }, 'task metadata unreadable: the share is given back without the record of this task');
    return null;
  });
  const taskArn = metadata?.taskArn ?? null;
  return { taskArn, tag: (taskArn?.split('/').pop() ?? randomBytes(4).toString('hex')).slice(-8) };
}
