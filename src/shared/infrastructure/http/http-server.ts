import helmet from '@fastify/helmet';
import type { SessionStore } from '@fastify/session';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { DomainError, isIsoCurrency, uuidv7 } from '../../kernel/index.js';
import { withLogContext, type Logger } from '../logging/logger.js';
import { activeTraceId, nameActiveSpan, spanContextOf } from '../observability/tracing.js';
import { BEARER_SCHEME, registerApiSecurity, type ApiSecurity } from './security/api-security.js';
import type { TrustedHop } from './security/trusted-hop.js';
import { answerClientError, answerExpectation } from './client-errors.js';
import { limitConnectionsPerAddress } from './connection-limits.js';
import { problem, problemFromDomainError, problemResponses, problemSchema, PROBLEM_CONTENT_TYPE, type Problem } from './problem.js';
import { PLATFORM_SCOPES, PROBE, requires } from './route-config.js';
import type { ScopeDeclarations } from '../../contract/scopes.js';
import { describeScopes } from './declared-scopes.js';
import { AccessDeniedError } from './authorization.js';
import { CURRENCY_FORMAT, SCHEMA_MEANINGS } from './schemas.js';
import { Registry } from 'prom-client';
import type { ObservedRequest, ServerMetrics } from '../observability/metrics.js';

export interface ReadinessCheck {
  readonly name: string;
  check(): Promise<void>;
}

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

const READINESS_TIMEOUT_MS = 2_000;

/** PostgreSQL went away: its codes, and the messages pg and knex give when a connection (or the transaction on it) was lost. */
function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (
    (typeof code === 'string' &&
      (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P03', '08006', '08001', '08003', '53300'].includes(code) ||
        /^08/.test(code))) ||
    (error instanceof Error &&
      /Connection terminated|Connection ended unexpectedly|Client has encountered a connection error|Transaction query already complete|connect ECONNREFUSED|timeout exceeded when trying to connect|Knex: Timeout acquiring a connection/i.test(
        error.message,
      ))
  );
}

/** Ajv's message, except for a pattern or format whose meaning is known: a user reads "must be a UUID", not the regex. */
function humanMessage(v: { message?: string; params?: Record<string, unknown> }): string {
  const rule = v.params?.['pattern'] ?? v.params?.['format'];
  return (typeof rule === 'string' ? SCHEMA_MEANINGS[rule] : undefined) ?? v.message ?? 'is invalid';
}

/** `/total/currency` reads as `total.currency`; the root as the part of the request (`body`, `querystring`). */
function fieldName(pointer: string, context: string): string {
  return pointer === '/' ? context : pointer.slice(1).replaceAll('/', '.');
}

/** Maps anything thrown by a route, a hook or Fastify itself to a problem+json response. */
export function toProblem(error: unknown): Problem {
  if (error instanceof DomainError) return problemFromDomainError(error);
  if (error instanceof AccessDeniedError) return problem(403, error.code, error.message);
  // `throw null` and `throw undefined` are legal JavaScript: they must still become a 500.
  const fastifyError = (error ?? {}) as Partial<FastifyError> & {
    validation?: Array<{ instancePath: string; message?: string; params?: Record<string, unknown> }>;
  };
  if (fastifyError.validation) {
    const context = fastifyError.validationContext ?? 'request';
    const errors = fastifyError.validation.map((v) => {
      const extra = v.params?.['additionalProperty'];
      const path = (v.instancePath || '/') + (typeof extra === 'string' ? (v.instancePath ? '/' : '') + extra : '');
      return { path, message: humanMessage(v) };
    });
    return problem(400, 'VALIDATION_FAILED', errors.map((e) => `${fieldName(e.path, context)} ${e.message}`).join('; '), { errors });
  }
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return problem(413, 'PAYLOAD_TOO_LARGE', 'The request body is larger than this server accepts');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return problem(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send the body as application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return problem(400, 'MALFORMED_JSON', 'The body is empty but the content type says JSON');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return problem(400, 'BAD_REQUEST', 'Content-Length does not match the body');
    case 'FST_CSRF_MISSING_SECRET':
    case 'FST_CSRF_INVALID_TOKEN':
      return problem(
        403,
        'CSRF_TOKEN_INVALID',
        'This request carries no valid CSRF token of the console page it came from; reload the page',
      );
    case 'FST_ERR_BAD_URL':
      return problem(400, 'MALFORMED_URL', 'The URL is not valid percent-encoded UTF-8');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return problem(414, 'URI_TOO_LONG', 'A path segment is longer than this server accepts');
    default:
      break;
  }
  if (error instanceof SyntaxError || fastifyError.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    return problem(400, 'MALFORMED_JSON', 'The body is not valid JSON');
  }
  if (isConnectionError(error)) return problem(503, 'SERVICE_UNAVAILABLE', 'A backing service is unavailable; retry later');
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return problem(status, 'BAD_REQUEST', fastifyError.message ?? 'The request is invalid');
  }
  return problem(500, 'INTERNAL_ERROR', 'An unexpected error occurred; it has been logged');
}

/** Every error, and every unknown route, answers application/problem+json. */
function registerProblemHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    const answer = toProblem(error);
    // A 5xx carries its trace id: the operator finds the trace (and its log lines) from what the caller saw.
    const traceId =
      answer.status >= 500 ? (activeTraceId() ?? spanContextOf(headerValue(request.headers.traceparent))?.traceId) : undefined;
    const body = { ...answer, instance: request.url, ...(traceId ? { traceId } : {}) };
    if (body.status >= 500) request.log.error({ err: error, problem: body.code }, 'request failed');
    void reply.status(body.status).type(PROBLEM_CONTENT_TYPE).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply
      .status(404)
      .type(PROBLEM_CONTENT_TYPE)
      .send({ ...problem(404, 'ROUTE_NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}`), instance: request.url });
  });
}

/** The HTTP instrumentation names its server span by the method only: name it by the route template. */
function nameServerSpan(request: FastifyRequest): void {
  const route = request.routeOptions.url;
  if (route !== undefined) nameActiveSpan(`${request.method} ${route}`, { 'http.route': route });
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

async function withTimeout(work: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  work.catch(() => undefined);
  try {
    await Promise.race([
      work,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
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

/** Each check by name, `ok` or `unavailable`: what failed is named, why is logged (a driver's message names hosts, users, databases). */
const checksSchema = {
  type: 'object',
  additionalProperties: {
    type: 'object',
    required: ['status'],
    additionalProperties: false,
    properties: { status: { type: 'string', enum: ['ok', 'unavailable'] } },
  },
} as const;

/**
 * The probes: live (the process answers) and ready (every backing service answers). Never
 * authenticated nor limited (PROBE): a caller flooding the API cannot make its targets unhealthy.
 */
function registerHealthRoutes(app: FastifyInstance, readiness: readonly ReadinessCheck[], logger: Logger): void {
  app.get(
    '/health/live',
    {
      config: PROBE,
      schema: {
        operationId: 'getLiveness',
        tags: ['health'],
        summary: 'The process answers (the container probe)',
        response: {
          200: { description: 'Alive', type: 'object', required: ['status'], properties: { status: { type: 'string', const: 'ok' } } },
        },
      },
    },
    async () => ({ status: 'ok' }),
  );
  app.get(
    '/health/ready',
    {
      config: PROBE,
      schema: {
        operationId: 'getReadiness',
        tags: ['health'],
        summary: 'Every backing service answers within 2 s (the load balancer probe)',
        response: {
          200: {
            description: 'Ready',
            type: 'object',
            required: ['status', 'checks'],
            properties: { status: { type: 'string', const: 'ok' }, checks: checksSchema },
          },
          503: {
            description: 'A backing service does not answer (NOT_READY); `checks` says which',
            content: {
              [PROBLEM_CONTENT_TYPE]: {
                schema: { allOf: [{ $ref: `${problemSchema.$id}#` }], type: 'object', properties: { checks: checksSchema } },
              },
            },
          },
          ...problemResponses([500]),
        },
      },
    },
    async (_request, reply) => {
      const { ready, checks } = await checkReadiness(readiness, logger);
      if (ready) return { status: 'ok', checks };
      return reply
        .status(503)
        .type(PROBLEM_CONTENT_TYPE)
        .send({ ...problem(503, 'NOT_READY', 'A backing service does not answer'), checks });
    },
  );
}

/** Every check at once, each bounded by READINESS_TIMEOUT_MS; a failure's message goes to the log only. */
async function checkReadiness(
  readiness: readonly ReadinessCheck[],
  logger: Logger,
): Promise<{ ready: boolean; checks: Record<string, unknown> }> {
  const results = await Promise.all(
    readiness.map(async (c) => {
      try {
        await withTimeout(c.check(), READINESS_TIMEOUT_MS);
        return { name: c.name, status: 'ok' as const };
      } catch (error) {
        logger.warn({ check: c.name, err: error instanceof Error ? error.message : String(error) }, 'readiness check failed');
        return { name: c.name, status: 'unavailable' as const };
      }
    }),
  );
  return { ready: results.every((r) => r.status === 'ok'), checks: Object.fromEntries(results.map(({ name, ...rest }) => [name, rest])) };
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

/** Errors the router meets before any route (an undecodable URL, an overlong parameter): problem+json too. */
function answerFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const answer = toProblem(error);
  void reply
    .status(answer.status)
    .header('cache-control', 'no-store')
    .type(PROBLEM_CONTENT_TYPE)
    .send({ ...answer, instance: request.url });
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
