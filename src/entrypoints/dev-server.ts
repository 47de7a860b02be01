import { resolveEndpoints } from '../dev/provisioning/index.js';
import { baseLogger, configOrExit, createApi, monolithOrExit, onShutdown } from './bootstrap.js';

/**
 * `npm run dev`: the whole system in one process: HTTP API, outbox relay, workers for every use
 * case, the delivery sweeper and the modules' jobs. Finds (or starts) PostgreSQL and Redis and
 * applies migrations first.
 */
const config = configOrExit();
const logger = baseLogger(config, 'dev-server');

const endpoints = await resolveEndpoints(config, { allowEmbedded: true, log: (msg, data) => logger.info(data ?? {}, msg) });
const runtime = await monolithOrExit({ config, logger, databaseUrl: endpoints.databaseUrl, redisUrl: endpoints.redisUrl });
await runtime.migrate();
await runtime.startConsumers();
runtime.startRelay();
runtime.startJobs();
const app = await createApi(runtime);
await app.listen({ host: config.HOST, port: config.PORT });
logger.info(
  {
    url: `http://${config.HOST}:${config.PORT}`,
    docs: `http://${config.HOST}:${config.PORT}/docs`,
    eventBus: config.EVENT_BUS,
    sagaStyle: config.SAGA_STYLE,
    sources: endpoints.sources,
  },
  'dev server ready',
);

onShutdown(logger, async () => {
  await app.close();
  await runtime.close();
});
