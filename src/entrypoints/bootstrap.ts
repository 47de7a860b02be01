import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { ConfigError, loadConfig, type Config } from '../shared/infrastructure/config/config.js';
import type { ModuleInbox } from '../shared/contract/routing.js';
import type { ModuleDefinition } from '../shared/infrastructure/composition/module-definition.js';
import { Runtime } from './composition/runtime.js';
import { DeliveryAdministration, registerAdminRoutes } from './http/admin.routes.js';
import { registerConsole } from './http/console/index.js';
import { registerSagaVersionsRoute } from './http/saga-versions.routes.js';
import { SESSION_SCHEMA } from './http/console/sign-in/session-schema.js';
import { PgSessionStore, type SessionDatabase } from './http/console/sign-in/pg-session-store.js';
import type { ApiSecurity } from './http/security/api-security.js';
import { apiSecurityFrom, httpLimitsFrom } from './http/security/security-config.js';
import { createHttpServer } from './http/http-server.js';
import { refuseUndeclaredScopes, scopeDeclarationsOf } from './http/declared-scopes.js';
import { createLogger, type Logger } from '../shared/infrastructure/logging/logger.js';
import { shutdownTracing } from '../shared/infrastructure/observability/tracing.js';
import { createTransport } from './composition/transports.js';
import { DeliveryLag, SagaAdmission } from '../shared/infrastructure/messaging/delivery-lag.js';
import type { DeliveryTransport } from '../shared/infrastructure/messaging/transport.js';
import { ALL_INBOXES, ALL_MODULES } from './all-modules.js';
import { ProcessMetrics } from './observability/metrics.js';
import { registerRuntimeMetrics } from './observability/runtime-metrics.js';

/** Exits 78 with the message of a ConfigError `make` throws (a setting named and refused). */
export function orExit<T>(make: () => T): T {
  try {
    return make();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }
}

export function configOrExit(env: Record<string, string | undefined> = process.env): Config {
  return orExit(() => loadConfig(env));
}

export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

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
export async function monolithOrExit(options: MonolithOptions): Promise<Runtime> {
  try {
    return await createMonolith(options);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }
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

/** Why a listen failed, as the operator fixes it; undefined for an error that is not about the address. */
function listenProblem(code: string | undefined, address: string): string | undefined {
  if (code === 'EADDRINUSE') return `${address} is already in use (another process, or a second copy of this one, listens there)`;
  if (code === 'EACCES') return `${address} may not be bound by this user (ports below 1024 need privileges)`;
  if (code === 'EADDRNOTAVAIL') return `${address} is not an address of this machine`;
  return undefined;
}

/**
 * Listens, or exits 78 with one line naming `variable` (PORT, METRICS_PORT) when the address is
 * taken or not this process's to take, after `close` released what the process opened: a second
 * worker on one host says which setting to change instead of dying with a stack trace.
 */
export async function listenOrExit(
  app: FastifyInstance,
  options: { readonly host: string; readonly port: number; readonly variable: string; readonly hint: string },
  close: () => Promise<unknown>,
): Promise<void> {
  try {
    await app.listen({ host: options.host, port: options.port });
  } catch (error) {
    const problem = listenProblem((error as NodeJS.ErrnoException).code, `${options.host}:${options.port}`);
    if (!problem) throw error;
    await close().catch(() => undefined);
    process.stderr.write(`${options.variable}: ${problem}; ${options.hint}\n`);
    process.exit(78); // EX_CONFIG
  }
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
    readiness: [
      { name: 'postgres', check: () => Promise.all(runtime.modules.map((m) => m.db.ping())).then(() => undefined) },
      // Not the ECS API: PostgreSQL holds the work, and a launch that fails only waits (its health is in /admin/deliveries/stats).
      ...(runtime.transport.name === 'ecs'
        ? []
        : [{ name: runtime.transport.name === 'bullmq' ? 'redis' : runtime.transport.name, check: () => runtime.transport.ping() }]),
    ],
  });
  refuseUndeclaredScopes(app, scopes);
  for (const m of runtime.modules) m.definition.registerRoutes?.(app, m.container);
  const administration = new DeliveryAdministration(
    runtime.modules.map((m) => ({ db: m.db, useCases: m.definition.inbox.routes.map((r) => r.useCase) })),
  );
  registerAdminRoutes(app, { administration, logger: runtime.logger, onRedriven: () => runtime.sweeper.sweepOnce() });
  registerSagaVersionsRoute(app, runtime.sagaVersions());
  await registerRuntimeMetrics(app, runtime, metrics.registry, administration);
  await registerConsole(app, runtime, administration, security);
  return app;
}

/** Where the platform's own tables are reached: their schema in DATABASE_URL's database, on its pool. */
function platformDatabase(runtime: Runtime): SessionDatabase {
  return runtime.databases.of(SESSION_SCHEMA.schema);
}

/**
 * One Ctrl-C can arrive twice: under `npm run dev`, tsx sends SIGINT to its child again when the
 * child does not acknowledge it within 30 ms. A signal this soon after the first is that echo.
 */
export const REPEATED_SIGNAL_WINDOW_MS = 1_000;

/**
 * Stops on SIGTERM/SIGINT: `stop` stops accepting work, drains and closes connections; the
 * process exits 0 when that succeeds, 1 when it fails or takes longer than `timeoutMs`.
 * A second signal exits at once, unless it comes within REPEATED_SIGNAL_WINDOW_MS of the first.
 */
export function onShutdown(logger: Logger, stop: () => Promise<void>, timeoutMs = 25_000): void {
  let stopping = false;
  let firstSignalAt = 0;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      if (Date.now() - firstSignalAt < REPEATED_SIGNAL_WINDOW_MS) {
        logger.debug({ signal }, 'repeated signal: already draining');
        return;
      }
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    firstSignalAt = Date.now();
    logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, timeoutMs);
    timer.unref();
    // The spans of the last requests and deliveries are exported before the process goes.
    stop()
      .finally(() => shutdownTracing())
      .then(
        () => {
          logger.info('stopped cleanly');
          process.exit(0);
        },
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

export function baseLogger(config: Config, name: string): Logger {
  return createLogger({ level: config.LOG_LEVEL, name });
}
