import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { Runtime } from '../composition/runtime.js';
import { DeliveryAdministration } from '../http/admin.routes.js';
import { DerivedMetrics } from './derived-metrics.js';
import { QueueDepthMetrics } from './queue-metrics.js';

/** Every hosted module's inbox, as the /admin routes see them. */
export function administrationOf(runtime: Runtime): DeliveryAdministration {
  return new DeliveryAdministration(runtime.modules.map((m) => ({ db: m.db, useCases: m.definition.inbox.routes.map((r) => r.useCase) })));
}

/**
 * Registers what a long-lived process knows of the whole system into `registry`: the
 * PostgreSQL-derived metrics (deliveries, relay lag, ECS launches), the metrics each hosted module
 * exports (saga durations...) and, with EVENT_BUS=bullmq, the queue depth. Their connections close
 * with `app`.
 */
export async function registerRuntimeMetrics(
  app: FastifyInstance,
  runtime: Runtime,
  registry: Registry,
  administration: DeliveryAdministration = administrationOf(runtime),
): Promise<DerivedMetrics> {
  const derived = new DerivedMetrics({
    registry,
    administration,
    databases: runtime.modules.map((m) => m.db),
    moduleMetrics: runtime.modules.flatMap((m) =>
      (m.definition.metrics?.(m.container) ?? []).map((metric) => ({ module: m.definition.name, metric })),
    ),
    logger: runtime.logger,
  });
  if (runtime.transport.name === 'bullmq' && runtime.config.REDIS_URL) {
    const queues = await QueueDepthMetrics.create({
      registry,
      redisUrl: runtime.config.REDIS_URL,
      prefix: runtime.config.BULLMQ_PREFIX,
      useCases: runtime.routing.activeUseCases(),
      logger: runtime.logger,
    });
    app.addHook('onClose', async () => queues.close());
  }
  return derived;
}
