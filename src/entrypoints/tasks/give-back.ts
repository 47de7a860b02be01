import type { Logger } from '../../shared/infrastructure/logging/logger.js';
import { giveBackIfIdle, givesBackOnce, type TaskLaunch } from '../../shared/infrastructure/messaging/ecs/task-lease.js';
import { OutageTolerance } from '../../shared/infrastructure/persistence/outage-tolerance.js';
import { onOneConnection } from '../../shared/infrastructure/persistence/pg-connections.js';

export interface GiveBack {
  readonly databaseUrl: string;
  readonly applicationName: string;
  readonly schema: string;
  readonly useCase: string;
  readonly launch: TaskLaunch;
  readonly logger: Logger;
  /** How long PostgreSQL being away is waited out (DB_OUTAGE_TOLERANCE_MS, as for the task's work). */
  readonly toleranceMs: number;
}

/**
 * A drained task's share, given back on one connection of its own once its pools are closed
 * (false: work arrived, nothing given back). PostgreSQL away (a restart, a failover) is waited out
 * like the task's work is, when the give-back is recorded by the task's ARN (ADR 39: its launch's
 * share, and its ARN known): a retry after a commit whose answer was lost finds it recorded and
 * gives nothing back twice. Otherwise (no ARN, or the lease row's share) the task does not retry:
 * it exits with the error, and the observer gives its share back once it is seen stopped.
 */
export function giveBackLast(g: GiveBack): Promise<boolean> {
  const once = () =>
    onOneConnection({ connectionString: g.databaseUrl, application_name: g.applicationName, connectionTimeoutMillis: 5_000 }, (query) =>
      giveBackIfIdle(query, g.schema, g.useCase, g.launch),
    );
  if (!givesBackOnce(g.launch)) return once();
  return new OutageTolerance(g.toleranceMs, g.logger, 'the give-back of its share').run(once);
}
