import '../shared/infrastructure/observability/tracing-preload.js';
import { baseLogger, configOrExit, listenOrExit, onShutdown, orExit, packageVersion, requiredSetting } from './process.js';
import { monolithOrExit, refuseRetiredSagaVersions } from './composition/monolith.js';
import { exitWithHelpIfAsked } from './cli-help.js';
import { apiSecurityFrom } from '../shared/infrastructure/http/security/security-config.js';
import { createMetricsServer } from './composition/metrics-server.js';

/**
 * Always-on worker for the BullMQ transport (e.g. docker compose): every use case's worker,
 * the relay, the delivery sweeper and the modules' jobs; HTTP only for GET /metrics and the
 * health probes on METRICS_PORT (0: none).
 */
exitWithHelpIfAsked(
  process.argv.slice(2),
  `usage: worker (npm run worker)
  runs every use case's BullMQ worker, the outbox relay, the delivery sweeper and the modules' jobs;
  GET /metrics and the health probes on HOST:METRICS_PORT (9464; 0 for none).
  Needs DATABASE_URL and REDIS_URL (README, Configuration).`,
);
const config = configOrExit();
const logger = baseLogger(config, 'worker');
const databaseUrl = requiredSetting(config.DATABASE_URL, 'DATABASE_URL', 'the PostgreSQL the modules live in');
const redisUrl = requiredSetting(config.REDIS_URL, 'REDIS_URL', 'the Redis the BullMQ queues live in');
const runtime = await monolithOrExit({ config, logger, databaseUrl, redisUrl });
const metricsServer =
  config.METRICS_PORT === 0
    ? undefined
    : await createMetricsServer(
        runtime,
        orExit(() => apiSecurityFrom(config)),
        packageVersion(),
      );
// Before any work is taken: a worker that cannot serve its metrics stops having done nothing.
if (metricsServer) {
  await listenOrExit(
    metricsServer,
    {
      host: config.HOST,
      port: config.METRICS_PORT,
      variable: 'METRICS_PORT',
      hint: 'give each worker on a host its own METRICS_PORT, or 0 for none',
    },
    async () => {
      await metricsServer.close();
      await runtime.close();
    },
  );
}
await refuseRetiredSagaVersions(runtime);
await runtime.startConsumers();
runtime.startRelay();
runtime.startJobs();
logger.info({ useCases: runtime.useCases(), metricsPort: metricsServer ? config.METRICS_PORT : null }, 'worker ready');
onShutdown(logger, async () => {
  await metricsServer?.close();
  await runtime.close();
});
