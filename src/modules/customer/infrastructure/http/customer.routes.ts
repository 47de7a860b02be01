import type { FastifyInstance } from 'fastify';
import { moneyResponseSchema, moneySchema, uuidSchema } from '../../../../shared/infrastructure/http/schemas.js';
import { ownedBy } from '../../../../shared/infrastructure/http/authorization.js';
import { scopedAccess } from '../../../../shared/infrastructure/http/route-config.js';
import { BODY_PROBLEMS, problemResponses, SERVER_PROBLEMS } from '../../../../shared/infrastructure/http/problem.js';
import type { GetCustomerQuery } from '../../application/get-customer/get-customer.query.js';
import type { RegisterCustomerCommand, RegisterCustomerHandler } from '../../application/register-customer/register-customer.handler.js';
import { orderScopes } from '../../../order/contract/index.js';
import { customerScopes } from '../../contract/customer.scopes.js';

/** The access of the Customer module's routes: its own scopes, and Order's `orders:read` for a storefront reading its customer. */
const requires = scopedAccess(customerScopes, orderScopes);

const customerSchema = {
  type: 'object',
  required: ['id', 'name', 'creditLimit', 'availableCredit'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    creditLimit: moneyResponseSchema,
    availableCredit: moneyResponseSchema,
  },
} as const;

export function registerCustomerRoutes(app: FastifyInstance, deps: { register: RegisterCustomerHandler; get: GetCustomerQuery }): void {
  app.post<{ Body: RegisterCustomerCommand }>(
    '/customers',
    {
      config: requires('customers:write'),
      schema: {
        operationId: 'registerCustomer',
        tags: ['customers'],
        summary: 'Register a customer with a credit limit',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'creditLimit'],
          examples: [{ name: 'Ada', creditLimit: { amount: 10000, currency: 'USD' } }],
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 200 },
            creditLimit: moneySchema(0),
          },
        },
        response: { 201: customerSchema, ...problemResponses([...BODY_PROBLEMS, 422, ...SERVER_PROBLEMS]) },
      },
    },
    async (request, reply) => {
      const customer = await deps.register.execute(request.body);
      return reply.status(201).header('location', `/customers/${customer.id}`).send(customer);
    },
  );

  app.get<{ Params: { id: string } }>(
    '/customers/:id',
    {
      config: requires('customers:read', 'orders:read'),
      schema: {
        operationId: 'getCustomer',
        tags: ['customers'],
        summary: 'A customer and its available credit',
        params: { type: 'object', required: ['id'], properties: { id: uuidSchema } },
        response: { 200: customerSchema, ...problemResponses([400, 404, ...SERVER_PROBLEMS]) },
      },
    },
    // A token with customer_id sees its own customer only; another is not found, whether or not it exists.
    async (request) => deps.get.execute(request.params.id.toLowerCase(), ownedBy(request.principal)),
  );
}
