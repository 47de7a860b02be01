import rateLimit, { type RateLimitPluginOptions } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Redis } from 'ioredis';
import { problem, PROBLEM_CONTENT_TYPE } from '../problem.js';
import type { Logger } from '../../logging/logger.js';
import type { SecurityMetrics } from './security-metrics.js';

export interface RateLimitSettings {
  /** Requests per window per caller; 0: no limit at all (nor `sagaMax`). */
  readonly max: number;
  /** Requests per window per caller on the routes that start a saga, counted apart; 0: only `max`. */
  readonly sagaMax: number;
  readonly windowMs: number;
  /** Shared by every API process; without it each process counts alone. */
  readonly redisUrl?: string;
  /** The Redis keys' prefix: processes count together when they share it. */
  readonly keyPrefix: string;
}

type Limiter = (
  request: FastifyRequest,
) => Promise<{ isAllowed: boolean; max?: number; remaining?: number; ttlInSeconds?: number; isExceeded?: boolean }>;

/** How long a store that does not answer may hold a request before it passes unlimited. */
const STORE_TIMEOUT_MS = 250;
const FAIL_OPEN_LOG_EVERY_MS = 10_000;

/**
 * The Redis the limits are counted in: commands fail at once while it is down (no offline queue)
 * and after STORE_TIMEOUT_MS when it hangs, so a dead Redis never holds a request.
 */
function storeClient(url: string, logger: Logger): Redis {
  const client = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: STORE_TIMEOUT_MS,
    connectTimeout: 1_000,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  });
  let lastLogged = 0;
  client.on('error', (error: Error) => {
    if (Date.now() - lastLogged < FAIL_OPEN_LOG_EVERY_MS) return;
    lastLogged = Date.now();
    logger.warn({ err: error.message }, 'rate-limit store (Redis) unavailable: requests pass unlimited until it answers');
  });
  return client;
}

/** Counts each request let through unchecked; warns at most every FAIL_OPEN_LOG_EVERY_MS. */
function failOpenReporter(metrics: SecurityMetrics): (request: FastifyRequest, error: unknown) => void {
  let lastLogged = 0;
  return (request, error) => {
    metrics.rateLimitFailOpen.inc();
    if (Date.now() - lastLogged < FAIL_OPEN_LOG_EVERY_MS) return;
    lastLogged = Date.now();
    request.log.warn(
      { err: error instanceof Error ? error.message : String(error) },
      'rate limit not checked: its store did not answer; request let through',
    );
  };
}

type Check = readonly [name: 'all' | 'saga', limiter: Limiter | null];

/** The hook: each applicable limit in turn; the RateLimit headers of the last (the stricter) one; 429 once one is exceeded. */
function enforce(all: Limiter | null, saga: Limiter | null, metrics: SecurityMetrics) {
  const failOpen = failOpenReporter(metrics);
  const plain: readonly Check[] = [['all', all]];
  const sagas: readonly Check[] = [
    ['all', all],
    ['saga', saga],
  ];
  return async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    for (const [name, check] of request.routeOptions.config.startsSaga === true ? sagas : plain) {
      if (!check) continue;
      let result: Awaited<ReturnType<Limiter>>;
      try {
        result = await check(request);
      } catch (error) {
        failOpen(request, error);
        return undefined;
      }
      if (result.isAllowed || result.max === undefined) continue;
      void reply
        .header('ratelimit-limit', result.max)
        .header('ratelimit-remaining', result.remaining)
        .header('ratelimit-reset', result.ttlInSeconds);
      if (result.isExceeded) {
        metrics.rateLimited.inc({ limit: name });
        return reply
          .status(429)
          .header('retry-after', String(result.ttlInSeconds))
          .type(PROBLEM_CONTENT_TYPE)
          .send({ ...problem(429, 'RATE_LIMITED', `Too many requests; retry in ${result.ttlInSeconds} s`), instance: request.url });
      }
    }
    return undefined;
  };
}

/**
 * One limit, counted under `<keyPrefix><name>:<caller>` (e.g. `saga:rate-limit:all:ip:203.0.113.7`).
 * Registered in a scope of its own so that its store counts under its own name: a limiter made
 * with createRateLimit(options) keys its counts with the route of the request it was made for,
 * which it has none of (`undefinedundefined-`).
 */
async function limiter(
  app: FastifyInstance,
  settings: RateLimitSettings,
  name: 'all' | 'saga',
  max: number,
  callerKey: (request: FastifyRequest) => string,
  redis: Redis | undefined,
): Promise<Limiter | null> {
  if (max === 0) return null;
  let made: Limiter | undefined;
  const options: RateLimitPluginOptions = {
    global: false,
    max,
    timeWindow: settings.windowMs,
    keyGenerator: callerKey,
    nameSpace: `${settings.keyPrefix}${name}:`,
    ...(redis ? { redis } : {}),
  };
  await app.register(async (scope) => {
    await scope.register(rateLimit, options);
    made = scope.createRateLimit();
  });
  return made ?? null;
}

/**
 * Rate limits with @fastify/rate-limit's stores (Redis when configured: one combined count for every
 * API process): per caller, the token's principal when it was verified, else the client IP (see
 * TRUST_PROXY); the routes that start a saga have a stricter limit of their own. RATE_LIMIT_MAX=0
 * turns both off. When the store does not answer, the request passes: PostgreSQL is the truth and
 * orders keep being taken; a warning is logged (at most every 10 s) and
 * saga_api_rate_limit_fail_open_total counts each one.
 */
export async function rateLimitHook(
  app: FastifyInstance,
  settings: RateLimitSettings,
  callerKey: (request: FastifyRequest) => string,
  deps: { logger: Logger; metrics: SecurityMetrics },
): Promise<((request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>) | null> {
  if (settings.max === 0) {
    deps.logger.warn('RATE_LIMIT_MAX=0: rate limiting is off (RATE_LIMIT_SAGA_MAX too); put a limit in front of the API');
    return null;
  }
  const redis = settings.redisUrl ? storeClient(settings.redisUrl, deps.logger) : undefined;
  if (!redis) deps.logger.warn('no Redis for the rate limits (RATE_LIMIT_REDIS_URL, REDIS_URL): each API process counts its callers alone');
  if (redis) app.addHook('onClose', async () => void redis.disconnect());
  const all = await limiter(app, settings, 'all', settings.max, callerKey, redis);
  const saga = await limiter(app, settings, 'saga', settings.sagaMax, callerKey, redis);
  return enforce(all, saga, deps.metrics);
}
