import helmet from '@fastify/helmet';
import type { SessionStore } from '@fastify/session';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { isIsoCurrency, uuidv7 } from '../../kernel/index.js';
import { withLogContext, type Logger } from '../logging/logger.js';
import { nameActiveSpan } from '../observability/tracing.js';
import { BEARER_SCHEME, registerApiSecurity, type ApiSecurity } from './security/api-security.js';
import type { TrustedHop } from './security/trusted-hop.js';
import { answerClientError, answerExpectation } from './client-errors.js';
import { limitConnectionsPerAddress } from './connection-limits.js';
import { answerFrameworkError, problem, problemSchema, PROBLEM_CONTENT_TYPE, registerProblemHandlers } from './problem.js';
import { registerHealthRoutes, type ReadinessCheck } from './health.js';
import { PLATFORM_SCOPES, requires } from './route-config.js';
import type { ScopeDeclarations } from '../../contract/scopes.js';
import { describeScopes } from './declared-scopes.js';
import { CURRENCY_FORMAT } from './schemas.js';
import { Registry } from 'prom-client';
import type { ObservedRequest, ServerMetrics } from '../observability/metrics.js';

export type { ReadinessCheck } from './health.js';

/** Whether a route that starts a saga (`config: { startsSaga: true }`) may run now. */
export interface AdmissionCheck {
  check(): Promise<{ readonly overloaded: boolean; readonly lagMs: number; readonly retryAfterSeconds: number }>;
}

/** The Node server's bounds (HTTP_* settings): slow or idle clients are cut off, connections capped. */
export interface HttpLimits {
  readonly requestTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly maxConnections: number;
  /** Connections (or, through a trusted proxy, requests in flight) per client address; 0: unbounded. */
  readonly maxConnectionsPerAddress: number;
  /** Which hops of X-Forwarded-For are proxies (TRUST_PROXY); false: the socket's peer is the client. */
  readonly trustProxy: TrustedHop | false;
}

export interface HttpServerOptions {
  readonly logger: Logger;
  readonly security: ApiSecurity;
  readonly limits: HttpLimits;
  readonly admission?: AdmissionCheck;
  readonly bodyLimit: number;
  readonly readiness: readonly ReadinessCheck[];
  readonly title: string;
  readonly version: string;
  /** The process's metrics: GET /metrics exposes them with the security counters; each request is timed into them. */
  readonly metrics?: ServerMetrics;
  /** Where operators' console sessions are kept (with `security.consoleSignIn`). */
  readonly sessions?: SessionStore;
  /** Every scope the routes may require, described in the document (default: the platform's alone). */
  readonly scopes?: ScopeDeclarations;
}

/** The HTTP instrumentation names its server span by the method only: name it by the route template. */
function nameServerSpan(request: FastifyRequest): void {
  const route = request.routeOptions.url;
  if (route !== undefined) nameActiveSpan(`${request.method} ${route}`, { 'http.route': route });
}

/**
 * Helmet's headers on every response. The policy lets /docs work (Swagger UI's scripts and styles
 * are served from here; it sets inline styles and draws data: images) and nothing else: no
 * third-party origin, no framing, no plugins.
 */
async function registerSecurityHeaders(app: FastifyInstance, formTargets: readonly string[]): Promise<void> {
  await app.register(helmet, {
    global: true,
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        baseUri: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        fontSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        frameAncestors: ["'none'"],
        formAction: ["'self'", ...formTargets],
      },
    },
    // The API is called cross-origin by storefronts only through their own backends; no CORS here.
    crossOriginResourcePolicy: { policy: 'same-origin' },
  });
}

/** The OpenAPI document (/openapi.json) and its page (/docs), with the Problem schema every route refers to. */
async function registerDocumentation(
  app: FastifyInstance,
  options: Pick<HttpServerOptions, 'title' | 'version' | 'scopes'>,
): Promise<void> {
  app.addSchema(problemSchema);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: options.title, version: options.version, license: { name: 'MIT', identifier: 'MIT' } },
      // Relative: the server that serves this document, whatever its host.
      servers: [{ url: '/', description: 'this server' }],
      components: {
        securitySchemes: {
          [BEARER_SCHEME]: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description: `An access token of the OpenID Connect provider (AUTH_ISSUER, AUTH_AUDIENCE) with one of the scopes the operation lists; \`customer_id\` limits a token to one customer's objects. The /admin routes also take ADMIN_TOKEN (break-glass). The scopes:\n${describeScopes(options.scopes ?? PLATFORM_SCOPES)}`,
          },
        },
      },
      // Each operation lists its own requirement (from its route's config.access); none means public.
      security: [],
    },
    // Shared schemas by their $id (Problem), not swagger's def-0.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json['$id'] === 'string' ? json['$id'] : `def-${i}`) },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}

/** While the server closes (SIGTERM), requests still arriving are answered 503 SHUTTING_DOWN and their connection closed. */
function refuseWhileClosing(app: FastifyInstance): void {
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onRequest', (request, reply, done) => {
    if (!closing) return done();
    void reply
      .status(503)
      .header('connection', 'close')
      .type(PROBLEM_CONTENT_TYPE)
      .send({ ...problem(503, 'SHUTTING_DOWN', 'This server is shutting down; retry, another one answers'), instance: request.url });
  });
}

/** Routes that start a saga (STARTS_SAGA) are refused with 503 OVERLOADED while the consumers lag. */
function admitSagas(app: FastifyInstance, admission: AdmissionCheck): void {
  // Before the body is read: a refused order costs the server nothing.
  app.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.config.startsSaga !== true) return;
    const { overloaded, lagMs, retryAfterSeconds } = await admission.check();
    if (!overloaded) return;
    request.log.warn({ lagMs: Math.round(lagMs), retryAfterSeconds }, 'saga refused: the consumers lag behind');
    return reply
      .status(503)
      .header('retry-after', String(retryAfterSeconds))
      .type(PROBLEM_CONTENT_TYPE)
      .send({
        ...problem(
          503,
          'OVERLOADED',
          `Orders are waiting ${Math.round(lagMs / 1000)} s for their next step; retry in ${retryAfterSeconds} s rather than have this one time out`,
        ),
        instance: request.url,
      });
  });
}

/** A finished request for the duration histogram: the route's template, never the URL (one series per route, whatever ids callers send). */
function observedRequest(request: FastifyRequest, reply: FastifyReply): ObservedRequest {
  return {
    method: request.method,
    route: request.is404 ? 'unmatched' : (request.routeOptions.url ?? 'unmatched'),
    status: reply.statusCode,
    seconds: reply.elapsedTime / 1000,
  };
}

/**
 * The Fastify instance every HTTP entrypoint starts from: strict JSON validation (unknown
 * properties and wrong types are refused, never coerced or dropped), a body size limit,
 * problem+json for every error, health endpoints and the OpenAPI document.
 */
export async function createHttpServer(options: HttpServerOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    bodyLimit: options.bodyLimit,
    // One structured line per request comes from the onResponse hook below.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => uuidv7(),
    // Answered by refuseWhileClosing instead: problem+json, like every other error.
    return503OnClosing: false,
    clientErrorHandler: answerClientError,
    frameworkErrors: answerFrameworkError,
    trustProxy: options.limits.trustProxy,
    requestTimeout: options.limits.requestTimeoutMs,
    keepAliveTimeout: options.limits.keepAliveTimeoutMs,
    // Node checks both timeouts every connectionsCheckingInterval (default 30 s): check every second,
    // so a client sending its headers a byte at a time is cut off close to HTTP_HEADERS_TIMEOUT_MS.
    http: {
      headersTimeout: options.limits.headersTimeoutMs,
      requestTimeout: options.limits.requestTimeoutMs,
      connectionsCheckingInterval: 1_000,
    },
    ajv: {
      customOptions: {
        removeAdditional: false,
        coerceTypes: false,
        useDefaults: false,
        allErrors: false,
        formats: { [CURRENCY_FORMAT]: isIsoCurrency },
      },
    },
  });
  // Bodies are JSON only: Fastify's default text/plain parser would turn a 415 into a misleading 400.
  app.removeContentTypeParser('text/plain');
  // More connections than this are refused by the kernel-facing server at once.
  app.server.maxConnections = options.limits.maxConnections;
  app.server.on('checkExpectation', answerExpectation);
  limitConnectionsPerAddress(app, options.limits.maxConnectionsPerAddress, options.limits.trustProxy);
  refuseWhileClosing(app);

  app.addHook('onRequest', (request, _reply, done) => {
    nameServerSpan(request);
    withLogContext({ requestId: request.id }, done);
  });
  // What the API answers is a customer's, an order's or an operator's data: no cache keeps it,
  // unless a route says otherwise (the documentation's static files).
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (!reply.hasHeader('cache-control')) void reply.header('cache-control', 'no-store');
    done(null, payload);
  });
  app.addHook('onResponse', (request, reply, done) => {
    request.log.info({ method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
    options.metrics?.observeRequest(observedRequest(request, reply));
    done();
  });

  registerProblemHandlers(app);

  // Signing out of the console ends at the provider: its origin is where a console form may lead.
  const provider = options.security.consoleSignIn?.issuer.origin;
  await registerSecurityHeaders(app, provider ? [provider] : []);
  await registerDocumentation(app, options);
  // After the documentation's routes (public), before every other: each must declare its access.
  const metrics = await registerApiSecurity(app, options.security, options.logger, options.sessions);
  // After authorization: an unauthenticated caller learns nothing of the backlog.
  if (options.admission) admitSagas(app, options.admission);

  registerHealthRoutes(app, options.readiness, options.logger);
  app.get('/metrics', { config: requires('admin'), schema: { hide: true } }, async (_request, reply) => {
    // Merged at each scrape: collectors registered after this server was created (runtime metrics) are included.
    const registry = options.metrics ? Registry.merge([metrics.registry, options.metrics.registry]) : metrics.registry;
    return reply.type(registry.contentType).send(await registry.metrics());
  });

  return app;
}
