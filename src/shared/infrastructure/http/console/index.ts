import type { FastifyInstance } from 'fastify';
import type { Logger } from '../../logging/logger.js';
import type { DeliveryTransport } from '../../messaging/transport.js';
import type { DeliveryAdministration } from '../../operations/delivery-administration.js';
import type { SagaViewPort } from '../../operations/saga-view.port.js';
import type { ModuleDatabase } from '../../persistence/module-database.js';
import { registerBullBoard } from './bull-board.js';
import { registerOperatorConsole } from './console.routes.js';
import { SagaReader } from './saga-reader.js';
import type { ApiSecurity } from '../security/api-security.js';
import { registerSignInRoutes } from '../security/sign-in/sign-in.routes.js';

/** What the console shows, as the composition root hands it over: the hosted modules' parts and the transport's. */
export interface ConsoleHost {
  readonly logger: Logger;
  readonly administration: DeliveryAdministration;
  /** The hosted modules' saga views and databases (where the deliveries of a saga are read). */
  readonly sagaViews: readonly SagaViewPort[];
  readonly databases: readonly ModuleDatabase[];
  readonly transport: Pick<DeliveryTransport, 'name' | 'launchesTasks' | 'inspectableQueues'>;
  /** The use cases this process routes (bull-board's queues). */
  readonly useCases: readonly string[];
  readonly traceUiUrl: string | undefined;
  /** ADMIN_QUEUES_UI with a REDIS_URL configured: bull-board is mounted when the transport has queues. */
  readonly queuesUi: boolean;
}

/**
 * The operator console (ADR 28): the saga and dead-letter pages, and bull-board when the
 * transport has queues to inspect (BullMQ) and the queues UI is on.
 */
export async function registerConsole(app: FastifyInstance, host: ConsoleHost, security: ApiSecurity): Promise<void> {
  const verifyToken = security.authenticator.verifyToken?.bind(security.authenticator);
  if (security.consoleSignIn && verifyToken) {
    await registerSignInRoutes(app, { settings: security.consoleSignIn, verifyToken, logger: host.logger });
  }
  const queues = host.queuesUi ? host.transport.inspectableQueues : undefined;
  registerOperatorConsole(app, {
    administration: host.administration,
    sagas: new SagaReader(host.sagaViews, host.databases, host.transport.launchesTasks),
    transport: host.transport.name,
    traceUiUrl: host.traceUiUrl,
    queues: queues !== undefined,
    logger: host.logger,
  });
  if (queues) await registerBullBoard(app, { ...queues, useCases: host.useCases, logger: host.logger });
}
