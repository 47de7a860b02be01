import type { FastifyInstance } from 'fastify';
import type { Runtime } from '../../composition/runtime.js';
import type { DeliveryAdministration } from '../admin.routes.js';
import { registerBullBoard } from './bull-board.js';
import { registerOperatorConsole } from './console.routes.js';
import { SagaReader } from './saga-reader.js';
import type { ApiSecurity } from '../security/api-security.js';
import { registerSignInRoutes } from './sign-in/sign-in.routes.js';

/**
 * The operator console over a runtime (ADR 28): the saga and dead-letter pages, and bull-board
 * when the transport is BullMQ (and a Redis is configured).
 */
export async function registerConsole(
  app: FastifyInstance,
  runtime: Runtime,
  administration: DeliveryAdministration,
  security: ApiSecurity,
): Promise<void> {
  const verifyToken = security.authenticator.verifyToken?.bind(security.authenticator);
  if (security.consoleSignIn && verifyToken) {
    await registerSignInRoutes(app, { settings: security.consoleSignIn, verifyToken, logger: runtime.logger });
  }
  const transport = runtime.transport.name;
  const queues = transport === 'bullmq' && runtime.config.REDIS_URL !== undefined && runtime.config.ADMIN_QUEUES_UI;
  registerOperatorConsole(app, {
    administration,
    sagas: new SagaReader(
      runtime.modules.flatMap((m) => (m.definition.sagaView ? [m.definition.sagaView(m.container)] : [])),
      runtime.modules.map((m) => m.db),
      transport === 'ecs',
    ),
    transport,
    traceUiUrl: runtime.config.TRACE_UI_URL,
    queues,
    logger: runtime.logger,
  });
  if (queues && runtime.config.REDIS_URL) {
    await registerBullBoard(app, {
      redisUrl: runtime.config.REDIS_URL,
      prefix: runtime.config.BULLMQ_PREFIX,
      useCases: runtime.routing.activeUseCases(),
      logger: runtime.logger,
    });
  }
}
