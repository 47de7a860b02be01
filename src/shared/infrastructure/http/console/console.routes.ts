import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../../logging/logger.js';
import { requires } from '../route-config.js';
import { limitSchema, parseLimit, uuidSchema } from '../schemas.js';
import { USE_CASE } from '../admin.routes.js';
import { DEFAULT_DEAD_LETTER_LIMIT, MAX_DEAD_LETTER_LIMIT, type DeliveryAdministration } from '../../operations/delivery-administration.js';
import { CONSOLE_SCRIPT, CONSOLE_SCRIPT_PATH, deadLettersPage, notFoundPage, sagaPage, type PageContext } from './pages.js';
import type { SagaReader } from './saga-reader.js';
import { csrfTokenFor, operatorOf } from '../security/sign-in/operator-session.js';
import { buildTimeline, type TransportName } from './timeline.js';

export interface OperatorConsoleOptions {
  readonly administration: DeliveryAdministration;
  readonly sagas: SagaReader;
  readonly transport: TransportName;
  readonly traceUiUrl: string | undefined;
  /** bull-board is mounted at /admin/queues (the pages link to it only then). */
  readonly queues: boolean;
  readonly logger: Logger;
}

/** Same guard as the JSON /admin routes: a token with the `admin` scope, ADMIN_TOKEN, or an operator's session. */
const ADMIN = requires('admin');
/** A page: without credentials, a browser is sent to sign in (when sign-in is on). */
const ADMIN_PAGE = { ...ADMIN, page: true } as const;

/** The page context of one request: the operator signed in, and their CSRF token, when a session carries it. */
function contextOf(request: FastifyRequest, reply: FastifyReply, context: PageContext): PageContext {
  const auth = request.authentication;
  const operator = auth.kind === 'principal' && auth.session ? operatorOf(request) : undefined;
  return operator ? { ...context, operator: { subject: operator.subject, csrfToken: csrfTokenFor(reply, operator) } } : context;
}

/** The console's pages are for browsers, not API clients: left out of the OpenAPI document. */
const HIDDEN = { hide: true } as const;

/** A browser asking for a page (Accept names text/html): what selects the HTML twin of a JSON route. */
const WANTS_HTML = 'wantsHtml';

function sendPage(reply: FastifyReply, status: number, page: string): FastifyReply {
  // Operator data: never cached; the same URL answers JSON to API clients.
  return reply.status(status).header('cache-control', 'no-store').header('vary', 'accept').type('text/html; charset=utf-8').send(page);
}

/**
 * The operator console (ADR 28): server-rendered pages over the admin data. /admin/sagas/:orderId
 * shows a saga as a timeline; /admin/dead-letters, asked for by a browser, lists dead letters
 * with a re-drive button per use case (the JSON route answers everyone else); /admin leads there.
 */
export function registerOperatorConsole(app: FastifyInstance, options: OperatorConsoleOptions): void {
  const context: PageContext = { traceUiUrl: options.traceUiUrl, queues: options.queues };
  app.addConstraintStrategy({
    name: WANTS_HTML,
    storage: () => {
      const handlers = new Map<string, unknown>();
      return { get: (k: string) => handlers.get(k) ?? null, set: (k: string, v: unknown) => void handlers.set(k, v) };
    },
    deriveConstraint: (request: { headers: Record<string, string | string[] | undefined> }) =>
      /\btext\/html\b/i.test(String(request.headers['accept'] ?? '')) ? 'yes' : 'no',
    mustMatchWhenDerived: false,
  } as never);
  sagaRoutes(app, options, context);
  // The same query as the JSON twin: a query string is text, so `limit` is read as the JSON route reads it.
  app.get<{ Querystring: { limit?: string; useCase?: string } }>(
    '/admin/dead-letters',
    {
      constraints: { [WANTS_HTML]: 'yes' },
      config: ADMIN_PAGE,
      schema: {
        ...HIDDEN,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { useCase: USE_CASE, limit: limitSchema(MAX_DEAD_LETTER_LIMIT, DEFAULT_DEAD_LETTER_LIMIT) },
        },
      },
    },
    async (request, reply) => {
      const limit = parseLimit(request.query.limit, DEFAULT_DEAD_LETTER_LIMIT);
      const { useCase } = request.query;
      const items = await options.administration.listDeadLetters({ limit, ...(useCase !== undefined ? { useCase } : {}) });
      return sendPage(reply, 200, deadLettersPage(items, limit, contextOf(request, reply, context)));
    },
  );
  // The console's door: /admin opens on its dead letters, whose navigation reaches the rest.
  for (const path of ['/admin', '/admin/'])
    app.get(path, { config: ADMIN_PAGE, schema: HIDDEN }, async (_request, reply) => reply.redirect('/admin/dead-letters', 303));
  app.get(CONSOLE_SCRIPT_PATH, { config: ADMIN, schema: HIDDEN }, async (_request, reply) =>
    reply.header('cache-control', 'no-cache').type('text/javascript; charset=utf-8').send(CONSOLE_SCRIPT),
  );
}

function sagaRoutes(app: FastifyInstance, options: OperatorConsoleOptions, pageContext: PageContext): void {
  // The navigation's "Open saga" form submits here.
  app.get<{ Querystring: { sagaId: string } }>(
    '/admin/sagas',
    {
      config: ADMIN_PAGE,
      schema: { ...HIDDEN, querystring: { type: 'object', required: ['sagaId'], properties: { sagaId: uuidSchema } } },
    },
    async (request, reply) => reply.redirect(`/admin/sagas/${encodeURIComponent(request.query.sagaId.toLowerCase())}`, 303),
  );
  app.get<{ Params: { sagaId: string } }>(
    '/admin/sagas/:sagaId',
    { config: ADMIN_PAGE, schema: { ...HIDDEN, params: { type: 'object', required: ['sagaId'], properties: { sagaId: uuidSchema } } } },
    async (request, reply) => {
      const sagaId = request.params.sagaId.toLowerCase();
      const context = contextOf(request, reply, pageContext);
      if (!options.sagas.available) {
        return sendPage(reply, 404, notFoundPage(sagaId, 'This process hosts no module that runs sagas.', context));
      }
      const record = await options.sagas.read(sagaId);
      if (!record) return sendPage(reply, 404, notFoundPage(sagaId, 'No hosted module has a saga with this id.', context));
      return sendPage(reply, 200, sagaPage(record, buildTimeline(record, options.transport), context));
    },
  );
}
