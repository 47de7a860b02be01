import { baseLogger, configOrExit, createMonolith } from './bootstrap.js';
import { MemoryTransport } from '../shared/infrastructure/messaging/memory-transport.js';

/** One-off: applies every module's pending migrations (each in its own schema), then exits. Run before a deployment. */
const config = configOrExit();
const logger = baseLogger(config, 'migrate');
if (!config.DATABASE_URL) {
  logger.fatal('DATABASE_URL is required');
  process.exit(78);
}
const runtime = await createMonolith({ config, logger, databaseUrl: config.DATABASE_URL, transport: new MemoryTransport(logger) });
try {
  const pending = await runtime.pendingMigrations();
  await runtime.migrate();
  logger.info({ applied: pending }, pending.length ? 'migrations applied' : 'nothing to migrate');
} catch (error) {
  logger.fatal({ err: error }, 'migration failed');
  process.exitCode = 1;
} finally {
  await runtime.close();
}
