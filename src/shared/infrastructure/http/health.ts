import type { FastifyInstance } from 'fastify';
import type { Logger } from '../logging/logger.js';
import type { ReadinessCheck } from '../messaging/transport.js';
import { problem, problemResponses, problemSchema, PROBLEM_CONTENT_TYPE } from './problem.js';
import { PROBE } from './route-config.js';

export type { ReadinessCheck } from '../messaging/transport.js';

const READINESS_TIMEOUT_MS = 2_000;

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
export function registerHealthRoutes(app: FastifyInstance, readiness: readonly ReadinessCheck[], logger: Logger): void {
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
