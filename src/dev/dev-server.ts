import '../shared/infrastructure/observability/tracing-preload.js';
import { localJwks, localKeys } from './auth/local-issuer.js';
import { databaseNameOf, ensureDatabase, resolveEndpoints, withEndpoints } from './provisioning/index.js';
import { featuresOff } from './optional-features.js';
import { fallbackWarning } from './node-version.js';
import { PUBLIC } from '../shared/infrastructure/http/route-config.js';
import { baseLogger, configOrExit, listenOrExit, onShutdown, orExit } from '../entrypoints/process.js';
import { createApi, declaredScopeNames, monolithOrExit, refuseRetiredSagaVersions } from '../entrypoints/composition/monolith.js';
import { apiSecurityFrom, authMode } from '../shared/infrastructure/http/security/security-config.js';
import { exitWithHelpIfAsked } from '../entrypoints/cli-help.js';

/**
 * `npm run dev`: the whole system in one process: HTTP API, outbox relay, workers for every use
 * case, the delivery sweeper and the modules' jobs. Finds (or starts) PostgreSQL and Redis and
 * applies migrations first.
 */
exitWithHelpIfAsked(
  process.argv.slice(2),
  `usage: dev-server (npm run dev)
  the whole system in one process on HOST:PORT (127.0.0.1:3000): the API, the outbox relay, every
  use case's worker, the sweeper and the jobs. Finds PostgreSQL and Redis (DATABASE_URL, REDIS_URL,
  .data/endpoints.json, PROBE_DATABASE_URL, PROBE_REDIS_URL) or starts them under DATA_DIR, and
  applies the migrations. Settings: README, Configuration.`,
);
const settings = configOrExit();
const logger = baseLogger(settings, 'dev-server');

const endpoints = await resolveEndpoints(settings, { allowEmbedded: true, log: (msg, data) => logger.info(data ?? {}, msg) });
// One configuration from here on: the addresses found, for every part that reads them.
const config = withEndpoints(settings, endpoints);
const fallback = fallbackWarning();
if (fallback) logger.warn(fallback);
for (const off of featuresOff(config)) logger.info({ feature: off.feature, why: off.why }, `${off.feature} off: ${off.why}`);
// A module in a database of its own (<MODULE>_DATABASE_URL): created on its server when missing, like DATABASE_URL's.
for (const url of config.MODULE_DATABASE_URLS.values()) await ensureDatabase(url, databaseNameOf(url) ?? 'postgres');
// AUTH_MODE=jwt without an issuer of its own: the local issuer (npm run -s auth:token signs with it).
const ownIssuer = config.AUTH_JWKS_URL !== undefined || config.AUTH_PUBLIC_KEY !== undefined;
const local = authMode(config) === 'jwt' && !ownIssuer ? await localKeys(config.DATA_DIR) : undefined;
const security = orExit(() => apiSecurityFrom(config, { ...(local ? { local } : {}), scopes: declaredScopeNames() }));
const runtime = await monolithOrExit({ config, logger, databaseUrl: endpoints.databaseUrl, redisUrl: endpoints.redisUrl });
await runtime.migrate();
await refuseRetiredSagaVersions(runtime);
await runtime.startConsumers();
runtime.startRelay();
runtime.startJobs();
const app = await createApi(runtime, security);
if (local) {
  const jwks = await localJwks(local);
  app.get('/.well-known/jwks.json', { config: PUBLIC, schema: { hide: true } }, async () => jwks);
  logger.info(
    { issuer: local.issuer, audience: local.audience, jwks: '/.well-known/jwks.json' },
    'AUTH_MODE=jwt with the local issuer: `npm run -s auth:token` prints a token',
  );
}
await listenOrExit(
  app,
  { host: config.HOST, port: config.PORT, variable: 'PORT', hint: 'is another dev server running? choose a free PORT' },
  async () => {
    await app.close();
    await runtime.close();
  },
);
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
