import type { FastifyInstance } from 'fastify';
import type { Runtime } from './runtime.js';
import { createHttpServer } from '../../shared/infrastructure/http/http-server.js';
import type { ApiSecurity } from '../../shared/infrastructure/http/security/api-security.js';
import { httpLimitsFrom } from '../../shared/infrastructure/http/security/security-config.js';
import { ProcessMetrics } from '../../shared/infrastructure/observability/metrics.js';
import { registerRuntimeMetrics } from './runtime-metrics.js';

/**
 * The worker's small HTTP server: GET /metrics (behind the `admin` scope, as on the API) and the
 * health probes, nothing else. It shares the API's server setup (problem+json, security headers,
 * authentication from the same settings).
 */
export async function createMetricsServer(runtime: Runtime, security: ApiSecurity, version: string): Promise<FastifyInstance> {
  const metrics = new ProcessMetrics();
  const app = await createHttpServer({
    logger: runtime.logger,
    security,
    limits: httpLimitsFrom(runtime.config),
    bodyLimit: runtime.config.BODY_LIMIT_BYTES,
    title: 'Saga worker metrics',
    version,
    metrics,
    readiness: runtime.readiness(),
  });
  await registerRuntimeMetrics(app, runtime, metrics.registry);
  return app;
}
