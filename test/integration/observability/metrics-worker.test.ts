import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { apiSecurityFrom } from '../../../src/shared/infrastructure/http/security/security-config.js';
import { createMetricsServer } from '../../../src/entrypoints/composition/metrics-server.js';
import { systemsClosedAfterEach } from '../../support/system.js';
import { bearer, jwtSecurity, sign, testIssuer } from '../../support/tokens.js';
import { parseExposition, valueOf } from '../../unit/observability/exposition.js';

const start = systemsClosedAfterEach(afterEach);

describe("the worker's metrics server", () => {
  it('serves the BullMQ queue depth, the derived metrics and its own requests', async () => {
    const system = await start({ consume: false, jobs: false, env: { EVENT_BUS: 'bullmq' } });
    const server = await createMetricsServer(system.runtime, apiSecurityFrom(system.config), '0.0.0');
    const connection = new Redis(system.config.REDIS_URL!, { maxRetriesPerRequest: null });
    const queue = new Queue('customer.reserve-credit', { connection, prefix: system.config.BULLMQ_PREFIX });
    try {
      // A signal waiting for its time: one delayed job.
      await queue.add('signal', { messageIds: [] }, { delay: 60_000 });
      const res = await server.inject({ method: 'GET', url: '/metrics' });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
      const e = parseExposition(res.body);
      expect(valueOf(e, 'saga_bullmq_jobs', { use_case: 'customer.reserve-credit', state: 'delayed' })).toBe(1);
      expect(valueOf(e, 'saga_bullmq_jobs', { use_case: 'customer.reserve-credit', state: 'waiting' })).toBe(0);
      expect(valueOf(e, 'saga_deliveries_pending', { schema: 'customers', use_case: 'customer.reserve-credit' })).toBe(0);
      expect(valueOf(e, 'saga_metrics_postgres_up')).toBe(1);
      const again = parseExposition((await server.inject({ method: 'GET', url: '/metrics' })).body);
      expect(valueOf(again, 'saga_http_request_duration_seconds_count', { method: 'GET', route: '/metrics', status: '200' })).toBe(1);
      expect((await server.inject({ method: 'GET', url: '/orders/0190f1c2-0000-7000-8000-000000000001' })).statusCode).toBe(404);
      expect((await server.inject({ method: 'GET', url: '/health/live?probe=1' })).statusCode).toBe(200);
      const third = parseExposition((await server.inject({ method: 'GET', url: '/metrics' })).body);
      // Route templates, not URLs: the unknown path is `unmatched`, the query string is not part of a route.
      expect(valueOf(third, 'saga_http_request_duration_seconds_count', { route: 'unmatched', status: '404' })).toBe(1);
      expect(valueOf(third, 'saga_http_request_duration_seconds_count', { route: '/health/live', status: '200' })).toBe(1);
    } finally {
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
      connection.disconnect();
      await server.close();
    }
  }, 30_000);

  it('refuses /metrics without the admin scope when authentication is on, and takes ADMIN_TOKEN', async () => {
    const system = await start({ consume: false, jobs: false, env: { EVENT_BUS: 'memory' } });
    const issuer = await testIssuer();
    const adminToken = 'a-long-enough-admin-token-0123456789';
    const server = await createMetricsServer(system.runtime, jwtSecurity(issuer, { ADMIN_TOKEN: adminToken }), '0.0.0');
    try {
      const metrics = (headers: Record<string, string>) => server.inject({ method: 'GET', url: '/metrics', headers });
      expect((await metrics({})).statusCode).toBe(401);
      const reader = await sign(issuer, { sub: 'reader', scope: 'orders:read' });
      expect((await metrics(bearer(reader))).statusCode).toBe(403);
      expect((await metrics(bearer(adminToken))).statusCode).toBe(200);
      const scraped = await metrics(bearer(await sign(issuer, { sub: 'ops', scope: 'admin' })));
      expect(scraped.statusCode).toBe(200);
      // One exposition: the security counters with the rest.
      const e = parseExposition(scraped.body);
      expect(valueOf(e, 'saga_api_auth_failures_total', { outcome: 'missing' })).toBe(1);
      expect(valueOf(e, 'saga_api_auth_failures_total', { outcome: 'insufficient_scope' })).toBe(1);
      expect(e.types.get('saga_deliveries_pending')).toBe('gauge');
    } finally {
      await server.close();
    }
  }, 30_000);
});
