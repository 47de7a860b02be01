import '../shared/infrastructure/observability/tracing-preload.js';
import { baseLogger, configOrExit, listenOrExit, onShutdown, orExit, requiredSetting } from './process.js';
import { createApi, declaredScopeNames, monolithOrExit, refuseRetiredSagaVersions } from './composition/monolith.js';
import { exitWithHelpIfAsked } from './cli-help.js';
import { apiSecurityFrom } from '../shared/infrastructure/http/security/security-config.js';
import { OutageTolerance } from '../shared/infrastructure/persistence/outage-tolerance.js';
import { isConnectionLoss } from '../shared/infrastructure/persistence/pg-connections.js';

/**
 * Production API: HTTP and the relay of the outbox rows it writes. No workers (use cases run as
 * ECS tasks, or in `worker.js`), no embedded services and no automatic migration: it refuses to
 * start while migrations are pending (run `migrate.js` first).
 */
exitWithHelpIfAsked(
  process.argv.slice(2),
  `usage: api-server (npm start)
  serves the HTTP API on HOST:PORT (127.0.0.1:3000) and relays the outbox; runs no use case (see worker).
  Needs DATABASE_URL, REDIS_URL with EVENT_BUS=bullmq (the default), and the AUTH_* settings
  (README, Configuration and Authentication); refuses to start while migrations are pending.`,
);
const config = configOrExit();
const logger = baseLogger(config, 'api');
const databaseUrl = requiredSetting(config.DATABASE_URL, 'DATABASE_URL', 'the PostgreSQL the modules live in');
// Before any connection: production refuses to start without a complete AUTH_* configuration.
const security = orExit(() => apiSecurityFrom(config, { scopes: declaredScopeNames() }));
const runtime = await monolithOrExit({ config, logger, databaseUrl, redisUrl: config.REDIS_URL });
// PostgreSQL restarting or failing over as the API starts: wait for it (DB_OUTAGE_TOLERANCE_MS), not a crash loop.
const pending = await new OutageTolerance(config.DB_OUTAGE_TOLERANCE_MS, logger, 'the API start')
  .run(() => runtime.pendingMigrations())
  .catch(async (error: unknown) => {
    logger.fatal({ err: error }, 'PostgreSQL unreachable at start');
    await runtime.close();
    process.exit(isConnectionLoss(error) ? 75 : 1);
  });
if (pending.length > 0) {
  logger.fatal({ pending }, 'database migrations are pending: run `node dist/entrypoints/migrate.js` before starting the API');
  await runtime.close();
  process.exit(1);
}
await refuseRetiredSagaVersions(runtime);
runtime.startRelay();
// ECS: the launched tasks watched until they stop, so a dead task is replaced within seconds (ADR 36).
runtime.startTransportUpkeep(config.ECS_OBSERVE_INTERVAL_MS);
const app = await createApi(runtime, security);
await listenOrExit(app, { host: config.HOST, port: config.PORT, variable: 'PORT', hint: 'choose a free PORT' }, async () => {
  await app.close();
  await runtime.close();
});
logger.info({ port: config.PORT, eventBus: config.EVENT_BUS, sagaStyle: config.SAGA_STYLE }, 'api ready');

onShutdown(logger, async () => {
  await app.close();
  await runtime.close();
});
