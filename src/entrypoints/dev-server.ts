import './observability/tracing-preload.js';
import { localJwks, localKeys } from '../dev/auth/local-issuer.js';
import { databaseNameOf, ensureDatabase, resolveEndpoints } from '../dev/provisioning/index.js';
import { PUBLIC } from '../shared/infrastructure/http/route-config.js';
import {
  baseLogger,
  configOrExit,
  createApi,
  declaredScopeNames,
  listenOrExit,
  monolithOrExit,
  onShutdown,
  orExit,
  refuseRetiredSagaVersions,
} from './bootstrap.js';
import { apiSecurityFrom, authMode } from './http/security/security-config.js';

/**
 * `npm run dev`: the whole system in one process: HTTP API, outbox relay, workers for every use
 * case, the delivery sweeper and the modules' jobs. Finds (or starts) PostgreSQL and Redis and
 * applies migrations first.
 */
const config = configOrExit();
const logger = baseLogger(config, 'dev-server');

const endpoints = await resolveEndpoints(config, { allowEmbedded: true, log: (msg, data) => logger.info(data ?? {}, msg) });
// A module in a database of its own (<MODULE>_DATABASE_URL): created on its server when missing, like DATABASE_URL's.
for (const url of config.MODULE_DATABASE_URLS.values()) await ensureDatabase(url, databaseNameOf(url) ?? 'postgres');
// AUTH_MODE=jwt without an issuer of its own: the local issuer (npm run -s auth:token signs with it).
const ownIssuer = config.AUTH_JWKS_URL !== undefined || config.AUTH_PUBLIC_KEY !== undefined;
const local = authMode(config) === 'jwt' && !ownIssuer ? await localKeys(config.DATA_DIR) : undefined;
const security = orExit(() =>
  apiSecurityFrom(config, { ...(local ? { local } : {}), redisUrl: endpoints.redisUrl, scopes: declaredScopeNames() }),
);
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
