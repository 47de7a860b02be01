import type { FastifyInstance } from 'fastify';
import type { SagaVersions } from '../operations/saga-versions.js';
import { problemResponses, SERVER_PROBLEMS } from './problem.js';
import { requires } from './route-config.js';

const count = { type: 'integer', minimum: 0 } as const;

const reportSchema = {
  type: 'object',
  required: ['sagas'],
  properties: {
    sagas: {
      type: 'array',
      items: {
        type: 'object',
        required: ['saga', 'currentVersion', 'versions'],
        properties: {
          saga: { type: 'string' },
          currentVersion: { type: 'integer', description: 'The definition version new instances start under' },
          versions: {
            type: 'array',
            items: {
              type: 'object',
              required: ['version', 'handled', 'current', 'instances', 'movable', 'states'],
              properties: {
                version: { type: 'integer' },
                handled: { type: 'boolean', description: 'This release handles instances of this version' },
                current: { type: 'boolean' },
                instances: count,
                movable: { ...count, description: 'Instances in a state with a way out: 0 means this version has drained' },
                states: {
                  type: 'array',
                  items: {
                    type: 'object',
                    required: ['state', 'instances', 'movable'],
                    properties: { state: { type: 'string' }, instances: count, movable: { type: 'boolean' } },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
} as const;

/** `GET /admin/saga-versions`: every hosted saga's instances by definition version (ADR 37). */
export function registerSagaVersionsRoute(app: FastifyInstance, versions: SagaVersions): void {
  app.get(
    '/admin/saga-versions',
    {
      config: requires('admin'),
      schema: {
        operationId: 'getSagaVersions',
        tags: ['admin'],
        summary: 'Saga instances by definition version: which versions are handled, and which have drained',
        description:
          'A version leaves the code only when its `movable` count is 0; a process refuses to start while instances of a version it no longer handles can move. Needs a token with the `admin` scope, or ADMIN_TOKEN.',
        response: { 200: reportSchema, ...problemResponses([...SERVER_PROBLEMS]) },
      },
    },
    async () => ({ sagas: await versions.report() }),
  );
}
