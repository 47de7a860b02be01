import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { ValidationError, type MoneyJson } from '../../../../shared/kernel/index.js';
import { BODY_PROBLEMS, problemResponses, SERVER_PROBLEMS } from '../../../../shared/infrastructure/http/problem.js';
import { assertActsFor, ownedBy } from '../../../../shared/infrastructure/http/authorization.js';
import { scopedAccess, STARTS_SAGA } from '../../../../shared/infrastructure/http/route-config.js';
import {
  documentLimit,
  limitSchema,
  moneyResponseSchema,
  moneySchema,
  parseLimit,
  traceparentHeaderSchema,
  uuidSchema,
} from '../../../../shared/infrastructure/http/schemas.js';
import type { CancelOrderHandler } from '../../application/cancel-order/cancel-order.handler.js';
import type { GetOrderQuery } from '../../application/get-order/get-order.query.js';
import { MAX_PAGE_SIZE, type ListOrdersQuery } from '../../application/list-orders/list-orders.query.js';
import type { PlaceOrderHandler } from '../../application/place-order/place-order.handler.js';
import { orderScopes } from '../../contract/order.scopes.js';

/** The access of the Order module's routes: its own scopes. */
const requires = scopedAccess(orderScopes);

const orderSchema = {
  type: 'object',
  required: ['id', 'customerId', 'total', 'status'],
  properties: {
    id: { type: 'string' },
    customerId: { type: 'string' },
    total: moneyResponseSchema,
    status: { type: 'string', enum: ['PENDING', 'APPROVED', 'REJECTED', 'CANCELLED'] },
    rejectionReason: { type: 'string' },
    saga: {
      type: 'object',
      properties: {
        style: { type: 'string', enum: ['choreography', 'orchestration'] },
        state: { type: 'string' },
        steps: {
          type: 'array',
          items: {
            type: 'object',
            properties: { name: { type: 'string' }, at: { type: 'string' }, outcome: { type: 'string' }, detail: { type: 'string' } },
          },
        },
      },
    },
  },
} as const;

const DEFAULT_PAGE_SIZE = 20;

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,200}$/;

interface PlaceOrderBody {
  customerId: string;
  total: MoneyJson;
}

export interface OrderRouteDeps {
  readonly place: PlaceOrderHandler;
  readonly cancel: CancelOrderHandler;
  readonly get: GetOrderQuery;
  readonly list: ListOrdersQuery;
}

export function registerOrderRoutes(app: FastifyInstance, deps: OrderRouteDeps): void {
  placeOrderRoute(app, deps);
  listOrdersRoute(app, deps);
  getOrderRoute(app, deps);
  cancelOrderRoute(app, deps);
}

/** POST /orders: starts a saga; an Idempotency-Key makes retries safe. */
function placeOrderRoute(app: FastifyInstance, deps: OrderRouteDeps): void {
  app.post<{ Body: PlaceOrderBody; Headers: { 'idempotency-key'?: string; traceparent?: string } }>(
    '/orders',
    {
      config: { ...STARTS_SAGA, ...requires('orders:write') },
      schema: {
        operationId: 'placeOrder',
        tags: ['orders'],
        summary: 'Place an order; it is PENDING until its saga decides',
        description:
          "Send an Idempotency-Key header to make retries safe: the same key and body from the same caller return the same order (another caller's equal key is another key). A token with `customer_id` places orders for that customer only. 503 OVERLOADED (with Retry-After) while earlier orders wait too long for their next step.",
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['customerId', 'total'],
          // An unknown customer is accepted, then REJECTED with CUSTOMER_NOT_FOUND: the sample works as sent.
          examples: [{ customerId: '01a217bd-4a94-717b-8065-a430e3e8be76', total: { amount: 6000, currency: 'USD' } }],
          properties: { customerId: uuidSchema, total: moneySchema(1) },
        },
        headers: { type: 'object', properties: { 'idempotency-key': { type: 'string' }, traceparent: traceparentHeaderSchema } },
        response: {
          202: orderSchema,
          ...problemResponses([...BODY_PROBLEMS, 409, 422, ...SERVER_PROBLEMS], {
            409: 'The Idempotency-Key was used with another body (IDEMPOTENCY_KEY_REUSED), or its first request is still running (IDEMPOTENCY_KEY_IN_USE)',
            503: 'Earlier orders wait too long for their next step (OVERLOADED, with Retry-After), or a backing service does not answer (SERVICE_UNAVAILABLE)',
          }),
        },
      },
    },
    async (request, reply) => {
      const key = request.headers['idempotency-key'];
      if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
        throw new ValidationError('INVALID_IDEMPOTENCY_KEY', 'Idempotency-Key must be 1 to 200 visible ASCII characters');
      }
      const body = { customerId: request.body.customerId.toLowerCase(), total: request.body.total };
      assertActsFor(request.principal, body.customerId);
      const result = await deps.place.execute({
        ...body,
        ...(key ? { idempotency: { principal: request.principal.id, key, requestHash: hashOf(body) } } : {}),
        ...(request.headers.traceparent ? { traceparent: request.headers.traceparent } : {}),
      });
      if (result.replayed) void reply.header('idempotent-replayed', 'true');
      return reply.status(202).header('location', `/orders/${result.order.id}`).send(result.order);
    },
  );
}

/** GET /orders: newest first, keyset pages. */
function listOrdersRoute(app: FastifyInstance, deps: OrderRouteDeps): void {
  app.get<{ Querystring: { customerId?: string; limit?: string; cursor?: string } }>(
    '/orders',
    {
      config: { ...requires('orders:read'), swaggerTransform: documentLimit(MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE) },
      schema: {
        operationId: 'listOrders',
        tags: ['orders'],
        summary: 'Orders, newest first, with keyset pagination',
        description: "A token with `customer_id` lists that customer's orders (customerId defaults to it; another is refused).",
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            customerId: uuidSchema,
            limit: limitSchema(MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE),
            cursor: { type: 'string', maxLength: 100 },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['items', 'nextCursor'],
            properties: { items: { type: 'array', items: orderSchema }, nextCursor: { type: ['string', 'null'] } },
          },
          ...problemResponses([400, 422, ...SERVER_PROBLEMS]),
        },
      },
    },
    async (request) => {
      const customerId = request.query.customerId?.toLowerCase() ?? request.principal.customerId;
      if (customerId) assertActsFor(request.principal, customerId);
      return deps.list.execute({
        limit: parseLimit(request.query.limit, DEFAULT_PAGE_SIZE),
        ...(customerId ? { customerId } : {}),
        ...(request.query.cursor !== undefined ? { cursor: request.query.cursor } : {}),
      });
    },
  );
}

/** GET /orders/:id: the order and its saga steps. */
function getOrderRoute(app: FastifyInstance, deps: OrderRouteDeps): void {
  app.get<{ Params: { id: string } }>(
    '/orders/:id',
    {
      config: requires('orders:read'),
      schema: {
        operationId: 'getOrder',
        tags: ['orders'],
        summary: 'An order, with the steps its saga took',
        params: { type: 'object', required: ['id'], properties: { id: uuidSchema } },
        response: { 200: orderSchema, ...problemResponses([400, 404, ...SERVER_PROBLEMS]) },
      },
    },
    // Another customer's order is not found, whether or not it exists.
    async (request) => deps.get.execute(request.params.id.toLowerCase(), ownedBy(request.principal)),
  );
}

/** POST /orders/:id/cancel. */
function cancelOrderRoute(app: FastifyInstance, deps: OrderRouteDeps): void {
  app.post<{ Params: { id: string } }>(
    '/orders/:id/cancel',
    {
      config: requires('orders:write'),
      schema: {
        operationId: 'cancelOrder',
        tags: ['orders'],
        summary: 'Cancel an APPROVED order; its credit is released asynchronously',
        params: { type: 'object', required: ['id'], properties: { id: uuidSchema } },
        headers: { type: 'object', properties: { traceparent: traceparentHeaderSchema } },
        response: { 202: orderSchema, ...problemResponses([...BODY_PROBLEMS, 404, 409, ...SERVER_PROBLEMS]) },
      },
    },
    async (request, reply) => {
      const order = await deps.cancel.execute(request.params.id.toLowerCase(), {
        ...(request.headers.traceparent ? { traceparent: String(request.headers.traceparent) } : {}),
        ...ownedBy(request.principal),
      });
      return reply.status(202).send(order);
    },
  );
}

function hashOf(body: PlaceOrderBody): string {
  const canonical = JSON.stringify([body.customerId, body.total.amount, body.total.currency]);
  return createHash('sha256').update(canonical).digest('hex');
}
