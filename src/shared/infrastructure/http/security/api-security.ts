import type {
  FastifyInstance,
  FastifyPluginAsync,
  FastifyPluginCallback,
  FastifyPluginOptions,
  FastifyReply,
  FastifyRequest,
  RouteOptions,
} from 'fastify';
import { normalizeIP } from '@fastify/rate-limit';
import { problem, problemResponses, PROBLEM_CONTENT_TYPE } from '../problem.js';
import type { Principal, RouteAccess } from '../route-config.js';
import type { Logger } from '../../logging/logger.js';
import type { Authentication, Authenticator } from './authentication.js';
import { rateLimitHook, type RateLimitSettings } from './rate-limit.js';
import { SecurityMetrics } from './security-metrics.js';
import type { SessionStore } from '@fastify/session';
import { registerOperatorSessions, requireCsrfToken, sessionAuthentication } from './sign-in/operator-session.js';
import type { ConsoleSignInSettings } from './sign-in/sign-in-settings.js';

/** The OpenAPI security scheme of every protected route: an OpenID Connect provider's access token. */
export const BEARER_SCHEME = 'bearerAuth';
/** The realm every WWW-Authenticate challenge names. */
const REALM = 'saga-api';

export interface ApiSecurity {
  readonly authenticator: Authenticator;
  readonly rateLimit: RateLimitSettings;
  /** Operators sign in to the console (CONSOLE_OIDC_*); unset, the console takes bearer tokens only. */
  readonly consoleSignIn?: ConsoleSignInSettings;
}

/** Where a browser without credentials is sent to sign in, back to the page it asked for. */
export function signInPath(returnTo: string): string {
  return `/admin/sign-in?returnTo=${encodeURIComponent(returnTo)}`;
}

/** No credentials, or credentials that let nothing: a public route's caller. */
const NOBODY: Principal = { subject: 'nobody', id: 'nobody', scopes: new Set(), customerId: null };
const UNAUTHENTICATED: Authentication = { kind: 'missing' };

/** A health probe's request: outside authentication and every limit (route-config's PROBE). */
export function isProbe(request: FastifyRequest): boolean {
  return request.routeOptions.config.probe === true;
}

declare module 'fastify' {
  interface FastifyRequest {
    authentication: Authentication;
  }
  interface FastifyInstance {
    /** The access of routes a third-party plugin registers in this context (registerWithAccess). */
    routeAccess?: RouteAccess;
  }
}

/**
 * Registers a plugin whose routes cannot declare their own access (bull-board, say): every route it
 * registers gets `access`, checked like any other.
 */
export async function registerWithAccess<Options extends FastifyPluginOptions>(
  app: FastifyInstance,
  access: RouteAccess,
  plugin: FastifyPluginAsync<Options> | FastifyPluginCallback<Options>,
  options: Options,
): Promise<void> {
  await app.register(async (scope) => {
    scope.decorate('routeAccess', access as never);
    await scope.register(plugin, options);
  });
}

function refuse(request: FastifyRequest, reply: FastifyReply, status: number, code: string, detail: string, challenge: string) {
  return reply
    .status(status)
    .header('www-authenticate', challenge)
    .type(PROBLEM_CONTENT_TYPE)
    .send({ ...problem(status, code, detail), instance: request.url });
}

/** 401 / 403 / 503 for a route the caller may not call (a browser page: off to sign in); undefined when it may. */
function authorize(request: FastifyRequest, reply: FastifyReply, metrics: SecurityMetrics, signIn: boolean): FastifyReply | undefined {
  const access: RouteAccess = request.routeOptions.config.access ?? 'public';
  const auth = request.authentication;
  if (access === 'public') return undefined;
  if (auth.kind === 'missing' && signIn && request.method === 'GET' && request.routeOptions.config.page === true) {
    return reply.redirect(signInPath(request.url), 303);
  }
  if (auth.kind === 'missing') {
    metrics.authFailures.inc({ outcome: 'missing' });
    return refuse(request, reply, 401, 'UNAUTHENTICATED', 'Send "Authorization: Bearer <access token>"', `Bearer realm="${REALM}"`);
  }
  if (auth.kind === 'invalid') {
    metrics.authFailures.inc({ outcome: 'invalid' });
    request.log.info({ reason: auth.reason }, 'bearer token refused');
    return refuse(request, reply, 401, 'INVALID_TOKEN', 'The bearer token is not valid', `Bearer realm="${REALM}", error="invalid_token"`);
  }
  if (auth.kind === 'unavailable') {
    metrics.authFailures.inc({ outcome: 'unavailable' });
    request.log.warn({ reason: auth.reason }, 'bearer token not checked: the issuer keys are unavailable');
    void reply.header('retry-after', '5');
    return refuse(request, reply, 503, 'AUTH_UNAVAILABLE', 'Tokens cannot be checked now; retry later', `Bearer realm="${REALM}"`);
  }
  if (!access.anyScope.some((s) => auth.principal.scopes.has(s)) && !auth.verified && auth.session !== true) {
    // AUTH_MODE=off with ADMIN_TOKEN: the anonymous developer lacks only what the token grants.
    // Not sending it is not being authenticated (401), as with tokens; sending another is an invalid token.
    const sent = request.headers.authorization !== undefined;
    metrics.authFailures.inc({ outcome: sent ? 'invalid' : 'missing' });
    const challenge = `Bearer realm="${REALM}"${sent ? ', error="invalid_token"' : ''}`;
    return sent
      ? refuse(request, reply, 401, 'INVALID_TOKEN', 'This route needs the ADMIN_TOKEN: the bearer token sent is not it', challenge)
      : refuse(
          request,
          reply,
          401,
          'UNAUTHENTICATED',
          'This route needs the ADMIN_TOKEN: send "Authorization: Bearer <ADMIN_TOKEN>"',
          challenge,
        );
  }
  if (!access.anyScope.some((s) => auth.principal.scopes.has(s))) {
    metrics.authFailures.inc({ outcome: 'insufficient_scope' });
    const scope = access.anyScope.join(' ');
    return refuse(
      request,
      reply,
      403,
      'INSUFFICIENT_SCOPE',
      `This route needs a token with the scope ${access.anyScope.map((s) => `"${s}"`).join(' or ')}`,
      `Bearer realm="${REALM}", error="insufficient_scope", scope="${scope}"`,
    );
  }
  return undefined;
}

/**
 * Every route declares its access (route-config.ts): the document gets its security requirement
 * and its 401/403/429 answers from it. A route registered without one is a startup error.
 */
function declareAccess(this: FastifyInstance, routeOptions: RouteOptions): void {
  const access = routeOptions.config?.access ?? this.routeAccess;
  if (access === undefined) {
    throw new Error(`${String(routeOptions.method)} ${routeOptions.url} declares no access: set config.access (PUBLIC or requires(...))`);
  }
  routeOptions.config = { ...routeOptions.config, access };
  if (access === 'public' || !routeOptions.schema) return;
  const schema = routeOptions.schema as { security?: unknown; response?: Record<string, unknown> };
  schema.security = [{ [BEARER_SCHEME]: [...access.anyScope] }];
  schema.response = { ...problemResponses([401, 403, 429]), ...schema.response };
}

/** The rate-limit key: the verified principal, else the client's IP (X-Forwarded-For only as TRUST_PROXY allows). */
function callerKey(request: FastifyRequest): string {
  const auth = request.authentication;
  return auth.kind === 'principal' && auth.verified ? `p:${auth.principal.id}` : `ip:${normalizeIP(request.ip)}`;
}

/** One info line per state-changing request on a protected route: who did what to which resource, and how it ended. */
function audit(request: FastifyRequest, reply: FastifyReply): void {
  if (['GET', 'HEAD', 'OPTIONS'].includes(request.method)) return;
  if ((request.routeOptions.config.access ?? 'public') === 'public') return;
  const params = request.params as { id?: string } | undefined;
  const location = reply.getHeader('location');
  const resourceId = params?.id ?? (typeof location === 'string' ? location.split('/').pop() : undefined);
  const schema = request.routeOptions.schema as { operationId?: string } | undefined;
  request.log.info(
    {
      audit: {
        sub: request.authentication.kind === 'principal' ? request.authentication.principal.subject : null,
        action: schema?.operationId ?? `${request.method} ${request.routeOptions.url}`,
        resourceId: resourceId ?? null,
        outcome: reply.statusCode,
      },
    },
    'audit',
  );
}

/**
 * Authentication, rate limits, authorization and the audit log, as onRequest hooks in that order:
 * a refused request is refused before its body is read, and a caller with a bad token is still
 * counted against its IP's limit. Routes registered before this (the documentation) are public.
 */
export async function registerApiSecurity(
  app: FastifyInstance,
  security: ApiSecurity,
  logger: Logger,
  sessions?: SessionStore,
): Promise<SecurityMetrics> {
  const metrics = new SecurityMetrics();
  if (security.authenticator.mode === 'off') {
    // Said of this process's endpoints: the API's routes, or a worker's /metrics and probes alone.
    logger.warn(
      "AUTH_MODE=off: every caller of this process's HTTP endpoints may do everything; never run like this where untrusted clients reach them",
    );
  }
  const signIn = security.consoleSignIn !== undefined && sessions !== undefined;
  // Before the hooks below: they read the session the plugin loads.
  if (security.consoleSignIn && sessions) await registerOperatorSessions(app, security.consoleSignIn, sessions);
  app.decorateRequest('authentication', null as never);
  app.decorateRequest('principal', null as never);
  app.addHook('onRoute', declareAccess);
  app.addHook('onRequest', async (request) => {
    // A probe is never authenticated: a bad token (or an issuer that does not answer) cannot fail it.
    if (isProbe(request)) request.authentication = UNAUTHENTICATED;
    else
      request.authentication =
        (signIn ? sessionAuthentication(request) : undefined) ?? (await security.authenticator.authenticate(request));
    request.principal = request.authentication.kind === 'principal' ? request.authentication.principal : NOBODY;
  });
  const limit = await rateLimitHook(app, security.rateLimit, callerKey, { logger, metrics });
  if (limit) app.addHook('onRequest', async (request, reply) => (isProbe(request) ? undefined : limit(request, reply)));
  app.addHook('onRequest', async (request, reply) => authorize(request, reply, metrics, signIn));
  if (signIn) requireCsrfToken(app);
  app.addHook('onResponse', async (request, reply) => audit(request, reply));
  return metrics;
}
