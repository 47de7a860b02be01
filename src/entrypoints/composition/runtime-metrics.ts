import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { Runtime } from './runtime.js';
import { DerivedMetrics } from '../../shared/infrastructure/operations/derived-metrics.js';
import { QueueDepthMetrics } from '../../shared/infrastructure/messaging/bullmq-queue-metrics.js';

/**
 * Registers what a long-lived process knows of the whole system into `registry`: the
 * PostgreSQL-derived metrics (deliveries, relay lag, ECS launches), the metrics each hosted module
 * exports (saga durations...) and, with EVENT_BUS=bullmq, the queue depth. Their connections close
 * with `app`.
 */
export async function registerRuntimeMetrics(app: FastifyInstance, runtime: Runtime, registry: Registry): Promise<DerivedMetrics> {
  const derived = new DerivedMetrics({
    registry,
    administration: runtime.administration,
    databases: runtime.modules.map((m) => m.db),
    moduleMetrics: runtime.modules.flatMap((m) =>
      (m.definition.metrics?.(m.container) ?? []).map((metric) => ({ module: m.definition.name, metric })),
    ),
    logger: runtime.logger,
  });
  const inspectable = runtime.transport.inspectableQueues;
  if (inspectable && runtime.config.REDIS_URL) {
    const queues = await QueueDepthMetrics.create({
      registry,
      redisUrl: inspectable.redisUrl,
      prefix: inspectable.prefix,
      useCases: runtime.routing.activeUseCases(),
      logger: runtime.logger,
    });
    app.addHook('onClose', async () => queues.close());
  }
  return derived;
}
