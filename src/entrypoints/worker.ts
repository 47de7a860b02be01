import './observability/tracing-preload.js';
import {
  baseLogger,
  configOrExit,
  listenOrExit,
  monolithOrExit,
  onShutdown,
  orExit,
  refuseRetiredSagaVersions,
  packageVersion,
} from './bootstrap.js';
import { apiSecurityFrom } from './http/security/security-config.js';
import { createMetricsServer } from './observability/metrics-server.js';

/**
 * Always-on worker for the BullMQ transport (e.g. docker compose): every use case's worker,
 * the relay, the delivery sweeper and the modules' jobs; HTTP only for GET /metrics and the
 * health probes on METRICS_PORT (0: none).
 */
const config = configOrExit();
const logger = baseLogger(config, 'worker');
if (!config.DATABASE_URL || !config.REDIS_URL) {
  logger.fatal('DATABASE_URL and REDIS_URL are required');
  process.exit(78);
}
const runtime = await monolithOrExit({ config, logger, databaseUrl: config.DATABASE_URL, redisUrl: config.REDIS_URL });
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
