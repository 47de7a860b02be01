import { Counter, Registry } from 'prom-client';

/** What the API's security layer counts, exposed at GET /metrics (Prometheus text format). */
export class SecurityMetrics {
  readonly registry = new Registry();
  readonly authFailures = new Counter({
    name: 'saga_api_auth_failures_total',
    help: 'Requests refused for their credentials, by outcome (missing, invalid, unavailable, insufficient_scope)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly rateLimited = new Counter({
    name: 'saga_api_rate_limited_total',
    help: 'Requests refused with 429, by limit (all, saga)',
    labelNames: ['limit'] as const,
    registers: [this.registry],
  });
  readonly rateLimitFailOpen = new Counter({
    name: 'saga_api_rate_limit_fail_open_total',
    help: 'Requests let through unlimited because the rate-limit store (Redis) did not answer',
    registers: [this.registry],
  });
}
