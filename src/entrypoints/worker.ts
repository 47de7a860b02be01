import { baseLogger, configOrExit, monolithOrExit, onShutdown } from './bootstrap.js';

/**
 * Always-on worker for the BullMQ transport (e.g. docker compose): every use case's worker,
 * the relay, the delivery sweeper and the modules' jobs; no HTTP.
 */
const config = configOrExit();
const logger = baseLogger(config, 'worker');
if (!config.DATABASE_URL || !config.REDIS_URL) {
  logger.fatal('DATABASE_URL and REDIS_URL are required');
  process.exit(78);
}
const runtime = await monolithOrExit({ config, logger, databaseUrl: config.DATABASE_URL, redisUrl: config.REDIS_URL });
await runtime.startConsumers();
runtime.startRelay();
runtime.startJobs();
logger.info({ useCases: runtime.useCases() }, 'worker ready');
onShutdown(logger, () => runtime.close());
