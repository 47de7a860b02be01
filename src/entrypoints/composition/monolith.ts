import type { FastifyInstance } from 'fastify';
import type { Config } from '../../shared/infrastructure/config/config.js';
import { settingsOrExitAsync } from '../cli-help.js';
import type { ModuleInbox } from '../../shared/contract/routing.js';
import type { ModuleDefinition } from '../../shared/infrastructure/composition/module-definition.js';
import { Runtime } from './runtime.js';
import { registerAdminRoutes } from '../../shared/infrastructure/http/admin.routes.js';
import { registerSagaVersionsRoute } from '../../shared/infrastructure/http/saga-versions.routes.js';
import { registerConsole, type ConsoleHost } from '../../shared/infrastructure/http/console/index.js';
import { SESSION_SCHEMA } from '../../shared/infrastructure/http/security/sign-in/session-schema.js';
import { PgSessionStore, type SessionDatabase } from '../../shared/infrastructure/http/security/sign-in/pg-session-store.repository.js';
import type { ApiSecurity } from '../../shared/infrastructure/http/security/api-security.js';
import { apiSecurityFrom, httpLimitsFrom } from '../../shared/infrastructure/http/security/security-config.js';
import { createHttpServer } from '../../shared/infrastructure/http/http-server.js';
import { refuseUndeclaredScopes, scopeDeclarationsOf } from '../../shared/infrastructure/http/declared-scopes.js';
import type { Logger } from '../../shared/infrastructure/logging/logger.js';
import { createTransport } from './transports.js';
import { DeliveryLag, SagaAdmission } from '../../shared/infrastructure/messaging/saga-admission.js';
import type { DeliveryTransport } from '../../shared/infrastructure/messaging/transport.js';
import { ALL_INBOXES, ALL_MODULES } from './all-modules.js';
import { ProcessMetrics } from '../../shared/infrastructure/observability/metrics.js';
import { packageVersion } from '../process.js';
import { registerRuntimeMetrics } from './runtime-metrics.js';

/*
 * The monolith as the process mains compose it: a Runtime over every module (or the ones a
 * process hosts) and the HTTP API over a runtime: routes, admin routes, metrics, the console.
 */
export interface MonolithOptions {
  readonly config: Config;
  readonly logger: Logger;
  readonly databaseUrl: string;
  readonly redisUrl?: string;
  /** The modules this process hosts (default: ALL_MODULES). */
  readonly modules?: readonly ModuleDefinition[];
  /** Every module's inbox, to route what the hosted modules write (default: ALL_INBOXES). */
  readonly inboxes?: readonly ModuleInbox[];
  readonly transport?: DeliveryTransport;
}

/** The monolith's runtime: every module, routed with every contract. */
export function createMonolith(options: MonolithOptions): Promise<Runtime> {
  return Runtime.create({
    config: options.config,
    logger: options.logger,
    databaseUrl: options.databaseUrl,
    modules: options.modules ?? ALL_MODULES,
    inboxes: options.inboxes ?? ALL_INBOXES,
    platformSchemas: [SESSION_SCHEMA],
    transport: (routing, databases) =>
      options.transport ??
      createTransport({
        config: options.config,
        logger: options.logger,
        databases,
        routing,
        ...(options.redisUrl ? { redisUrl: options.redisUrl } : {}),
      }),
  });
}

/**
 * createMonolith for an entrypoint: a setting the composition refuses (the transport's cross-checks,
 * the connection budget, pinned revisions) exits 78 with its message, as one loadConfig refuses.
 */
export function monolithOrExit(options: MonolithOptions): Promise<Runtime> {
  return settingsOrExitAsync(() => createMonolith(options));
}

/**
 * Exits 1, after closing the runtime, when instances of a saga definition version this release no
 * longer handles can still move (ADR 37): one fatal line per version, naming it and the count.
 */
export async function refuseRetiredSagaVersions(runtime: Runtime): Promise<void> {
  const refusals = await runtime.sagaVersions().refusals();
  if (refusals.length === 0) return;
  for (const refusal of refusals) runtime.logger.fatal({ code: 'SAGA_DEFINITION_RETIRED' }, refusal);
  await runtime.close();
  process.exit(1);
}

/** Every scope the monolith's API may require (what AUTH_MODE=off's developer holds): the platform's and every module's. */
export function declaredScopeNames(modules: readonly ModuleDefinition[] = ALL_MODULES): string[] {
  return Object.keys(scopeDeclarationsOf(modules));
}

/** How often the API reads the consumers' lag for its backpressure (between reads, requests use the last value). */
const ADMISSION_REFRESH_MS = 250;

/** The OpenAPI document's title. */
export const API_TITLE = 'Order & credit saga API';

/**
 * The HTTP API over a runtime: every hosted module's routes, health checks on PostgreSQL and the
 * transport, behind `security` (default: from the runtime's configuration, see apiSecurityFrom).
 */
export async function createApi(runtime: Runtime, apiSecurity?: ApiSecurity): Promise<FastifyInstance> {
  const metrics = new ProcessMetrics();
  const scopes = scopeDeclarationsOf(runtime.modules.map((m) => m.definition));
  const security = apiSecurity ?? apiSecurityFrom(runtime.config, { scopes: Object.keys(scopes) });
  const app = await createHttpServer({
    metrics,
    logger: runtime.logger,
    security,
    scopes,
    // Operators' sessions in PostgreSQL (DATABASE_URL's database), so that every API replica knows them.
    ...(security.consoleSignIn ? { sessions: new PgSessionStore(platformDatabase(runtime)) } : {}),
    limits: httpLimitsFrom(runtime.config),
    bodyLimit: runtime.config.BODY_LIMIT_BYTES,
    title: API_TITLE,
    version: packageVersion(),
    admission: new SagaAdmission(
      new DeliveryLag(
        runtime.modules.map((m) => ({
          db: m.db,
          useCases: m.inbox.useCases().filter((u) => runtime.routing.activeUseCases().includes(u)),
        })),
        ADMISSION_REFRESH_MS,
      ),
      runtime.config.OVERLOAD_LAG_SHARE * runtime.config.ORDER_DEADLINE_MS,
    ),
    readiness: runtime.readiness(),
  });
  refuseUndeclaredScopes(app, scopes);
  for (const m of runtime.modules) m.definition.registerRoutes?.(app, m.container);
  registerAdminRoutes(app, {
    administration: runtime.administration,
    logger: runtime.logger,
    onRedriven: () => runtime.sweeper.sweepOnce(),
  });
  registerSagaVersionsRoute(app, runtime.sagaVersions());
  await registerRuntimeMetrics(app, runtime, metrics.registry);
  await registerConsole(app, consoleHostOf(runtime), security);
  return app;
}

/** What the operator console shows of a runtime. */
function consoleHostOf(runtime: Runtime): ConsoleHost {
  return {
    logger: runtime.logger,
    administration: runtime.administration,
    sagaViews: runtime.modules.flatMap((m) => (m.definition.sagaView ? [m.definition.sagaView(m.container)] : [])),
    databases: runtime.modules.map((m) => m.db),
    transport: runtime.transport,
    useCases: runtime.routing.activeUseCases(),
    traceUiUrl: runtime.config.TRACE_UI_URL,
    queuesUi: runtime.config.REDIS_URL !== undefined && runtime.config.ADMIN_QUEUES_UI,
  };
}

/** Where the platform's own tables are reached: their schema in DATABASE_URL's database, on its pool. */
function platformDatabase(runtime: Runtime): SessionDatabase {
  return runtime.databases.of(SESSION_SCHEMA.schema);
}
