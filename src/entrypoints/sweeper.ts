import './observability/tracing-preload.js';
import { shutdownTracing } from '../shared/infrastructure/observability/tracing.js';
import { baseLogger, configOrExit, monolithOrExit } from './bootstrap.js';

/**
 * One pass of upkeep, meant to run every minute as its own ECS task (an EventBridge schedule):
 * relays whatever outbox rows are left, signals again the pending deliveries no transport
 * carried (which launches their tasks), relaunches for use cases whose task died without
 * releasing its lease, rejects orders past their deadline, and purges old messaging rows.
 */
const config = configOrExit();
const logger = baseLogger(config, 'sweeper');
if (!config.DATABASE_URL) {
  logger.fatal('DATABASE_URL is required');
  process.exit(78);
}
const runtime = await monolithOrExit({ config, logger, databaseUrl: config.DATABASE_URL, redisUrl: config.REDIS_URL });
let failed = false;
try {
  const relayed = await runtime.relay.drainAll();
  await runtime.runJobsOnce();
  logger.info({ relayed }, 'sweep done');
} catch (error) {
  failed = true;
  logger.error({ err: error }, 'sweep failed');
} finally {
  await runtime.close();
  await shutdownTracing();
}
process.exit(failed ? 1 : 0);
