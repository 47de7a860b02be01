import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AuthorizationResponseError } from 'openid-client';
import { PUBLIC } from '../../route-config.js';
import type { Logger } from '../../../logging/logger.js';
import type { Authentication } from '../authentication.js';
import { CALLBACK_PATH, OidcRelyingParty, ProviderUnavailableError, SIGNED_OUT_PATH } from './oidc-relying-party.js';
import { csrfTokenFor, operatorOf, SESSION_COOKIE, SESSION_PATH, type OperatorSession } from './operator-session.js';
import { continuePage, signedOutPage, signInProblemPage } from './sign-in.pages.js';
import type { ConsoleSignInSettings } from './sign-in-settings.js';

export interface SignInRoutesOptions {
  readonly settings: ConsoleSignInSettings;
  /** The API's own check of a bearer token: the console trusts what the API trusts. */
  readonly verifyToken: (token: string) => Promise<Authentication>;
  readonly logger: Logger;
}

/** Between the redirect to the provider and its return. */
const SIGN_IN_WINDOW_MS = 10 * 60_000;
/** Where a sign-in without a wanted page lands. */
const LANDING = '/admin/dead-letters';
const HIDDEN = { hide: true } as const;

/** A console path on this site to return to; anything else (another site, the sign-in itself) lands on LANDING. */
export function safeReturnTo(raw: string | undefined): string {
  if (!raw || !raw.startsWith('/admin/') || raw.startsWith('//') || /[\\\s]/.test(raw)) return LANDING;
  const url = new URL(raw, 'https://console.invalid');
  if (url.origin !== 'https://console.invalid' || url.pathname.startsWith('/admin/sign-') || url.pathname === CALLBACK_PATH) return LANDING;
  return `${url.pathname}${url.search}`;
}

/** The browser forgets the session cookie (its row is gone already). */
function clearSessionCookie(reply: FastifyReply): void {
  void reply.clearCookie(SESSION_COOKIE, { path: SESSION_PATH, secure: true, httpOnly: true, sameSite: 'strict' });
}

function sendPage(reply: FastifyReply, status: number, page: string): FastifyReply {
  return reply.status(status).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(page);
}

/** One audit line per sign-in and sign-out, like the API's state-changing requests. */
function audit(request: FastifyRequest, sub: string, action: string, outcome: number): void {
  request.log.info({ audit: { sub, action, resourceId: null, outcome } }, 'audit');
}

/**
 * Operators sign in to the console with the API's OpenID Connect provider: /admin/sign-in sends
 * the browser to the provider (authorization code, PKCE, state, nonce, kept in the session), the
 * callback exchanges the code, checks the access token as the API checks a bearer token and
 * requires the `admin` scope, then starts the operator's session under a new id. Signing out ends
 * the session here, then at the provider when it offers RP-initiated logout.
 */
export async function registerSignInRoutes(app: FastifyInstance, options: SignInRoutesOptions): Promise<void> {
  const relyingParty = new OidcRelyingParty(options.settings);
  app.get<{ Querystring: { returnTo?: string } }>(
    '/admin/sign-in',
    {
      config: PUBLIC,
      schema: {
        ...HIDDEN,
        querystring: { type: 'object', additionalProperties: false, properties: { returnTo: { type: 'string', maxLength: 2048 } } },
      },
    },
    async (request, reply) => {
      const returnTo = safeReturnTo(request.query.returnTo);
      if (operatorOf(request)) return reply.redirect(returnTo, 303);
      // The cookie is Secure: over plain HTTP it would never be kept, and the sign-in would start again forever.
      if (request.protocol !== 'https') {
        request.log.error('console sign-in over http: serve HTTPS, and behind a TLS-terminating balancer set TRUST_PROXY to its addresses');
        const reason = 'The console is reached over plain HTTP here; sign-in needs HTTPS (behind a balancer: TRUST_PROXY).';
        return sendPage(reply, 503, signInProblemPage('Sign-in unavailable', reason, returnTo));
      }
      try {
        const { url, transaction } = await relyingParty.start(returnTo);
        request.session.signIn = transaction;
        // Lax while signing in: the provider's redirect back is a cross-site navigation, which a Strict cookie would miss.
        request.session.options({ sameSite: 'lax', maxAge: SIGN_IN_WINDOW_MS });
        return reply.redirect(url.href, 303);
      } catch (error) {
        request.log.warn({ err: error instanceof Error ? error.message : String(error) }, 'console sign-in: provider unavailable');
        return sendPage(
          reply,
          503,
          signInProblemPage('Sign-in unavailable', 'The sign-in provider does not answer; try again in a moment.', returnTo),
        );
      }
    },
  );
  registerCallback(app, relyingParty, options);
  await registerSignOut(app, relyingParty);
  app.get(SIGNED_OUT_PATH, { config: PUBLIC, schema: HIDDEN }, async (_request, reply) => sendPage(reply, 200, signedOutPage()));
}

function registerCallback(app: FastifyInstance, relyingParty: OidcRelyingParty, options: SignInRoutesOptions): void {
  app.get(CALLBACK_PATH, { config: PUBLIC, schema: HIDDEN }, async (request, reply) => {
    const transaction = request.session.signIn;
    if (!transaction) {
      const reason = 'This sign-in was not started in this browser, or took longer than 10 minutes.';
      return sendPage(reply, 400, signInProblemPage('Sign-in expired', reason, LANDING));
    }
    // Single use: whatever happens next, this answer cannot be replayed.
    request.session.signIn = undefined;
    const query = request.url.indexOf('?');
    let tokens: { accessToken: string; idToken?: string };
    try {
      tokens = await relyingParty.finish(query === -1 ? '' : request.url.slice(query), transaction);
    } catch (error) {
      return refusedSignIn(request, reply, error, transaction.returnTo);
    }
    const auth = await options.verifyToken(tokens.accessToken);
    if (auth.kind !== 'principal' || !auth.principal.scopes.has('admin')) {
      const who = auth.kind === 'principal' ? auth.principal.subject : 'unknown';
      request.log.warn({ sub: who, reason: auth.kind === 'principal' ? 'no admin scope' : auth.kind }, 'console sign-in refused');
      audit(request, who, 'consoleSignIn', 403);
      await request.session.destroy();
      clearSessionCookie(reply);
      const reason =
        auth.kind === 'principal'
          ? `You are signed in at the provider as ${who}, without the admin scope the console requires.`
          : 'The provider’s access token is not one this API accepts (issuer, audience or signature); the log says which.';
      return sendPage(reply, 403, signInProblemPage('Not an operator', reason, transaction.returnTo));
    }
    // A new id for the signed-in session: the one the browser carried before cannot be planted by someone else.
    await request.session.regenerate();
    const operator: OperatorSession = {
      subject: auth.principal.subject,
      id: auth.principal.id,
      ...(tokens.idToken ? { idToken: tokens.idToken } : {}),
      signedInAt: new Date().toISOString(),
    };
    request.session.operator = operator;
    // The new session inherits the sign-in's cookie options (its 10 minutes, Lax): replaced whole, so
    // that it ends CONSOLE_SESSION_TTL_MS after sign-in, not when the sign-in window would have.
    request.session.options({
      sameSite: 'strict',
      maxAge: options.settings.sessionTtlMs,
      expires: undefined,
      originalMaxAge: undefined,
      originalExpires: undefined,
    } as Parameters<typeof request.session.options>[0]);
    csrfTokenFor(reply, operator); // the session's CSRF secret, saved with it
    audit(request, operator.subject, 'consoleSignIn', 200);
    return sendPage(reply, 200, continuePage(transaction.returnTo, operator.subject));
  });
}

function refusedSignIn(request: FastifyRequest, reply: FastifyReply, error: unknown, returnTo: string): FastifyReply {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof ProviderUnavailableError) {
    request.log.warn({ err: message }, 'console sign-in: provider unavailable');
    return sendPage(
      reply,
      503,
      signInProblemPage('Sign-in unavailable', 'The sign-in provider does not answer; try again in a moment.', returnTo),
    );
  }
  if (error instanceof AuthorizationResponseError) {
    request.log.info({ error: error.error, description: error.error_description }, 'console sign-in: the provider said no');
    return sendPage(reply, 403, signInProblemPage('Not signed in', `The provider did not sign you in (${error.error}).`, returnTo));
  }
  request.log.warn({ err: message }, 'console sign-in: the provider’s answer failed a check');
  return sendPage(reply, 400, signInProblemPage('Sign-in failed', 'The provider’s answer could not be checked; start again.', returnTo));
}

/**
 * POST /admin/sign-out, from the console's form (CSRF token in `_csrf`, checked like every
 * session POST): the session row is deleted (the cookie is worthless everywhere at once) and
 * the cookie cleared, then the browser goes to the provider's end-session endpoint.
 */
async function registerSignOut(app: FastifyInstance, relyingParty: OidcRelyingParty): Promise<void> {
  await app.register(async (scope) => {
    // The form's body; only this route takes one (every other POST is JSON).
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4_096 }, (_request, body, done) =>
      done(null, Object.fromEntries(new URLSearchParams(String(body)))),
    );
    scope.post('/admin/sign-out', { config: PUBLIC, schema: HIDDEN }, async (request, reply) => {
      const operator = operatorOf(request);
      // No session came with it (another site's form: the Strict cookie stays home): nothing to end, and no cookie to touch.
      if (!operator) return reply.redirect(SIGNED_OUT_PATH, 303);
      audit(request, operator.subject, 'consoleSignOut', 303);
      await request.session.destroy();
      clearSessionCookie(reply);
      return reply.redirect((await relyingParty.endSessionUrl(operator.idToken)) ?? SIGNED_OUT_PATH, 303);
    });
  });
}
