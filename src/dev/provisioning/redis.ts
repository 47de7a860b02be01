import { Redis } from 'ioredis';
import { describeError, PROBE_TIMEOUT_MS, type ProbeResult } from './probe.js';

/** A short-lived connection that fails fast instead of retrying: for probes and one-off commands. */
async function withRedis<T>(url: string, timeoutMs: number, fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: Math.max(timeoutMs, 5_000),
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
    reconnectOnError: () => false,
    // After a failed connect the socket is already closed, yet ioredis still arms this timer on
    // disconnect (2 s by default), which would keep a short-lived process alive for nothing.
    disconnectTimeout: 100,
  });
  // ioredis rejects with a bare "Connection is closed."; the 'error' event carries the cause (ECONNREFUSED...).
  let cause: unknown;
  redis.on('error', (error: unknown) => (cause ??= error));
  try {
    await redis.connect();
    return await fn(redis);
  } catch (error) {
    throw cause ?? error;
  } finally {
    if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect());
    else redis.disconnect();
  }
}

/** Whether the Redis at `url` answers PING. */
export async function checkRedis(url: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<ProbeResult> {
  try {
    const pong = await withRedis(url, timeoutMs, (redis) => redis.ping());
    return pong === 'PONG' ? { ok: true } : { ok: false, reason: `unexpected PING reply ${JSON.stringify(pong)}` };
  } catch (error) {
    return { ok: false, reason: describeError(error) };
  }
}

/** The `process_id` the Redis at `url` reports, or undefined when it does not answer. */
export async function redisProcessId(url: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<number | undefined> {
  try {
    const info = await withRedis(url, timeoutMs, (redis) => redis.info('server'));
    const match = /^process_id:(\d+)\s*$/m.exec(info);
    return match?.[1] === undefined ? undefined : Number(match[1]);
  } catch {
    return undefined;
  }
}

/** Sends `SHUTDOWN NOSAVE`. Resolves once the server has closed the connection (or was not there). */
export async function shutdownRedis(url: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<void> {
  await withRedis(url, timeoutMs, async (redis) => {
    // A successful SHUTDOWN never replies: the connection just closes.
    await redis.call('SHUTDOWN', 'NOSAVE').catch(() => undefined);
  }).catch(() => undefined);
}

/**
 * Deletes every key that starts with `<prefix>:` (e.g. one test run's BullMQ queues), with SCAN and
 * UNLINK so that a large keyspace never blocks the server. Returns the number of keys deleted.
 */
export async function deleteKeysWithPrefix(
  url: string,
  prefix: string,
  options: { includeDerivedPrefixes?: boolean } = {},
): Promise<number> {
  if (prefix === '' || /[*?[\]\\]/.test(prefix)) {
    throw new Error(`Refusing to delete keys for prefix ${JSON.stringify(prefix)}: it must be non-empty and contain no glob characters`);
  }
  return withRedis(url, 5_000, async (redis) => {
    let deleted = 0;
    let cursor = '0';
    do {
      // Derived prefixes (`<prefix>-<suffix>:...`) are the ones test systems add to the run's prefix.
      const [next, keys] = await redis.scan(
        cursor,
        'MATCH',
        options.includeDerivedPrefixes ? `${prefix}[-:]*` : `${prefix}:*`,
        'COUNT',
        1_000,
      );
      cursor = next;
      if (keys.length > 0) deleted += await redis.unlink(...keys);
    } while (cursor !== '0');
    return deleted;
  });
}
