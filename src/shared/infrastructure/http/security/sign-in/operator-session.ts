import cookie from '@fastify/cookie';
import csrfProtection from '@fastify/csrf-protection';
import session, { type SessionStore } from '@fastify/session';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Authentication } from '../authentication.js';
import type { SignInTransaction } from './oidc-relying-party.js';
import type { ConsoleSignInSettings } from './sign-in-settings.js';

/** `__Secure-`: browsers take the cookie only with the Secure attribute, from an https origin. */
export const SESSION_COOKIE = '__Secure-saga-console';
/** The cookie goes to the console and the admin routes only; the API's other routes never see it. */
export const SESSION_PATH = '/admin';

declare module 'fastify' {
  interface Session {
    /** The signed-in operator (what their access token said when they signed in). */
    operator?: OperatorSession;
    /** A sign-in between its two redirects. */
    signIn?: SignInTransaction;
  }
}

export interface OperatorSession {
  readonly subject: string;
  /** The principal's id, as a bearer token of the same subject would have it (rate limits, idempotency). */
  readonly id: string;
  /** For the provider's end-session endpoint (id_token_hint). */
  readonly idToken?: string;
  readonly signedInAt: string;
}

/** An operator's session gives the `admin` scope and nothing else, whatever the token held. */
const SESSION_SCOPES: ReadonlySet<string> = new Set(['admin']);

/**
 * @fastify/cookie, @fastify/session (server-side, in `store`) and @fastify/csrf-protection, before
 * the security hooks that read them. The session cookie is HttpOnly, Secure and SameSite=Strict,
 * under /admin; it is saved only when it holds something (a sign-in under way, an operator) and
 * sent again only when that changes.
 */
export async function registerOperatorSessions(app: FastifyInstance, settings: ConsoleSignInSettings, store: SessionStore): Promise<void> {
  await app.register(cookie);
  await app.register(session, {
    secret: [...settings.sessionSecrets],
    cookieName: SESSION_COOKIE,
    store,
    saveUninitialized: false,
    rolling: false,
    cookie: { path: SESSION_PATH, httpOnly: true, secure: true, sameSite: 'strict', maxAge: settings.sessionTtlMs },
  });
  // The token is bound to the session's secret and to the operator it was made for.
  await app.register(csrfProtection, {
    sessionPlugin: '@fastify/session',
    getUserInfo: (request: FastifyRequest) => operatorOf(request)?.subject ?? '',
  });
}

/** The signed-in operator of a request under /admin (its session), if any. */
export function operatorOf(request: FastifyRequest): OperatorSession | undefined {
  const current = request.session as Partial<FastifyRequest['session']> | null | undefined;
  return current?.operator;
}

/** A request with no Authorization header, in a signed-in operator's session: that operator, with `admin`. */
export function sessionAuthentication(request: FastifyRequest): Authentication | undefined {
  if (request.headers.authorization !== undefined) return undefined;
  const operator = operatorOf(request);
  if (!operator) return undefined;
  return {
    kind: 'principal',
    principal: { subject: operator.subject, id: operator.id, scopes: SESSION_SCOPES, customerId: null },
    verified: true,
    session: true,
  };
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * A state-changing request authenticated by the session cookie must carry the CSRF token of its
 * page (`x-csrf-token` header, or `_csrf` in a form): a cookie is sent by the browser whoever made
 * the page that sends it. Bearer-token callers carry no ambient credential and need none.
 */
export function requireCsrfToken(app: FastifyInstance): void {
  app.addHook('preValidation', (request: FastifyRequest, reply: FastifyReply, done) => {
    const auth = request.authentication;
    if (auth.kind !== 'principal' || auth.session !== true || SAFE_METHODS.has(request.method)) return done();
    app.csrfProtection(request, reply, done);
  });
}

/** The CSRF token a console page embeds for its operator. */
export function csrfTokenFor(reply: FastifyReply, operator: OperatorSession): string {
  return reply.generateCsrf({ userInfo: operator.subject });
}
