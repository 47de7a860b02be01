import { baseLogger, configOrExit, requiredSetting } from './process.js';
import { createMonolith } from './composition/monolith.js';
import { MemoryTransport } from '../shared/infrastructure/messaging/memory-transport.js';
import { exitWithHelpIfAsked } from './cli-help.js';

/** One-off: applies every module's pending migrations (each in its own schema), then exits. Run before a deployment. */
exitWithHelpIfAsked(
  process.argv.slice(2),
  "usage: migrate\n  applies every module's pending migrations to DATABASE_URL (required), then exits",
);
const config = configOrExit();
const logger = baseLogger(config, 'migrate');
const databaseUrl = requiredSetting(config.DATABASE_URL, 'DATABASE_URL', 'the PostgreSQL the migrations are applied to');
const runtime = await createMonolith({ config, logger, databaseUrl, transport: new MemoryTransport(logger) });
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
