// Over 300 lines on purpose: the order in which the dev tools find or start PostgreSQL and Redis
// (configured, recorded, probed, embedded) and stop them, one decision table that reads top to bottom.
import type { Config } from '../../shared/infrastructure/config/config.js';
import { checkPostgres, databaseNameOf, ensureDatabase } from './database.js';
import { embeddedPostgresBinaries, embeddedPostgresStatus, startEmbeddedPostgres, stopEmbeddedPostgres } from './embedded-postgres.js';
import {
  provisioningPaths,
  readEndpointsFile,
  removeEndpointsFile,
  writeEndpointsFile,
  type EndpointsFile,
  type ProvisioningPaths,
} from './endpoints-file.js';
import { findRedisServer, localRedisStatus, startLocalRedis, stopLocalRedis } from './local-redis.js';
import { withFileLock } from './lock-file.js';
import { maskUrl } from './mask-url.js';
import { describeError, PROBE_TIMEOUT_MS } from './probe.js';
import { ProvisioningError } from './provisioning-error.js';
import { checkRedis } from './redis.js';

/**
 * Where the dev tools, the tests and local task processes get PostgreSQL and Redis from, in order:
 * DATABASE_URL / REDIS_URL; the instances recorded in `<DATA_DIR>/endpoints.json`; the servers at
 * PROBE_DATABASE_URL / PROBE_REDIS_URL; and, when allowed, an embedded PostgreSQL and a
 * `redis-server` started under DATA_DIR (behind a lock file, so that processes started together
 * start one of each) that keep running after the process that started them.
 */

export { ProvisioningError };

export type EndpointSource = 'env' | 'endpoints-file' | 'probe' | 'embedded';

export interface ResolvedEndpoints {
  databaseUrl: string;
  redisUrl: string;
  sources: { database: EndpointSource; redis: EndpointSource };
}

export type ProvisioningLog = (msg: string, data?: object) => void;

/**
 * The configuration a process runs on once its endpoints are found: DATABASE_URL and REDIS_URL
 * are the addresses provisioning resolved (set, recorded, probed or started), so that every part
 * reading the configuration (bull-board, the queue metrics, the rate limits) sees the same Redis
 * and PostgreSQL as the transport, and none concludes from an unset variable that there is none.
 */
export function withEndpoints(config: Config, endpoints: Pick<ResolvedEndpoints, 'databaseUrl' | 'redisUrl'>): Config {
  return { ...config, DATABASE_URL: endpoints.databaseUrl, REDIS_URL: endpoints.redisUrl };
}

export interface ResolveEndpointsOptions {
  /** Start embedded servers when nothing answers. True for dev tools and tests; false in production. */
  allowEmbedded: boolean;
  /** Receives progress messages. URLs in them are masked. */
  log?: ProvisioningLog;
}

interface Found {
  url: string;
  source: EndpointSource;
}

interface Embedded {
  url: string;
  pid: number;
  port: number;
  path: string;
}

/** Why each candidate was rejected, for the final error message. */
interface Misses {
  database: string[];
  redis: string[];
}

const DEFAULT_DATABASE = 'saga_dev';
const LOCK_TIMEOUT_MS = 180_000;

export async function resolveEndpoints(config: Config, options: ResolveEndpointsOptions): Promise<ResolvedEndpoints> {
  const log: ProvisioningLog = options.log ?? (() => undefined);
  let database: Found | undefined = config.DATABASE_URL ? { url: config.DATABASE_URL, source: 'env' } : undefined;
  let redis: Found | undefined = config.REDIS_URL ? { url: config.REDIS_URL, source: 'env' } : undefined;
  const done = (): ResolvedEndpoints | undefined =>
    database && redis
      ? { databaseUrl: database.url, redisUrl: redis.url, sources: { database: database.source, redis: redis.source } }
      : undefined;

  const early = done();
  if (early) return early;

  const paths = provisioningPaths(config.DATA_DIR);
  const misses: Misses = { database: [], redis: [] };

  ({ database, redis } = await reuseRecorded(paths, database, redis, misses, log));
  database ??= await probePostgres(config, misses, log);
  redis ??= await probeRedis(config, misses, log);
  const probed = done();
  if (probed) return probed;

  const redisServer = redis ? undefined : await findRedisServer();
  await assertCanEmbed(config, options, { postgres: !database, redis: !redis, redisServer }, paths, misses);

  return withFileLock(
    paths.lockFile,
    async () => {
      // Another process may have provisioned while we waited for the lock.
      const recorded = await readEndpointsFile(paths.endpointsFile);
      ({ database, redis } = await reuseRecorded(paths, database, redis, misses, log, recorded));

      // Both at once: the PostgreSQL start (and first-time initdb) dominates.
      const [postgres, localRedis] = await Promise.all([
        database ? undefined : startPostgres(config, paths, log),
        redis ? undefined : startRedis(config, paths, redisServer, log),
      ]);
      if (postgres) database = { url: postgres.url, source: 'embedded' };
      if (localRedis) redis = { url: localRedis.url, source: 'embedded' };
      if (postgres || localRedis) {
        await writeEndpointsFile(paths.endpointsFile, recordOf(database as Found, redis as Found, recorded, postgres, localRedis));
        log('endpoints recorded', { path: paths.endpointsFile });
      }
      return done() as ResolvedEndpoints;
    },
    {
      timeoutMs: LOCK_TIMEOUT_MS,
      onWait: (owner) => log('another process is provisioning; waiting for it', { pid: owner?.pid, lock: paths.lockFile }),
    },
  );
}

async function startPostgres(config: Config, paths: ProvisioningPaths, log: ProvisioningLog): Promise<Embedded> {
  const server = await startEmbeddedPostgres({
    dir: paths.postgresDir,
    port: config.EMBEDDED_PG_PORT,
    database: targetDatabase(config),
    log,
  });
  log(server.started ? 'embedded PostgreSQL started' : 'embedded PostgreSQL was already running', {
    url: maskUrl(server.databaseUrl),
    pid: server.pid,
  });
  return { url: server.databaseUrl, pid: server.pid, port: server.port, path: server.dataDir };
}

async function startRedis(config: Config, paths: ProvisioningPaths, binary: string | undefined, log: ProvisioningLog): Promise<Embedded> {
  const server = await startLocalRedis({
    binary: binary ?? (await requireRedisServer()),
    port: config.EMBEDDED_REDIS_PORT,
    dir: paths.redisDir,
    log,
  });
  log(server.started ? 'redis-server started' : 'redis-server was already running', { url: server.redisUrl, pid: server.pid });
  return { url: server.redisUrl, pid: server.pid, port: server.port, path: server.dir };
}

function targetDatabase(config: Config): string {
  return databaseNameOf(config.PROBE_DATABASE_URL) ?? DEFAULT_DATABASE;
}

/** Takes, for each component still missing, the address recorded in endpoints.json if it answers. */
async function reuseRecorded(
  paths: ProvisioningPaths,
  database: Found | undefined,
  redis: Found | undefined,
  misses: Misses,
  log: ProvisioningLog,
  recorded?: EndpointsFile,
): Promise<{ database: Found | undefined; redis: Found | undefined }> {
  const file = recorded ?? (await readEndpointsFile(paths.endpointsFile));
  if (!file) return { database, redis };
  const [databaseAnswer, redisAnswer] = await Promise.all([
    !database && file.databaseUrl ? checkPostgres(file.databaseUrl) : undefined,
    !redis && file.redisUrl ? checkRedis(file.redisUrl) : undefined,
  ]);
  if (file.databaseUrl && databaseAnswer) {
    if (databaseAnswer.ok) {
      database = { url: file.databaseUrl, source: 'endpoints-file' };
      log('using the PostgreSQL recorded in endpoints.json', { url: maskUrl(file.databaseUrl) });
    } else {
      misses.database.push(`${maskUrl(file.databaseUrl)} (from ${paths.endpointsFile}): ${databaseAnswer.reason}`);
    }
  }
  if (file.redisUrl && redisAnswer) {
    if (redisAnswer.ok) {
      redis = { url: file.redisUrl, source: 'endpoints-file' };
      log('using the Redis recorded in endpoints.json', { url: maskUrl(file.redisUrl) });
    } else {
      misses.redis.push(`${maskUrl(file.redisUrl)} (from ${paths.endpointsFile}): ${redisAnswer.reason}`);
    }
  }
  return { database, redis };
}

/** The PROBE_DATABASE_URL server, with its target database created if missing. */
async function probePostgres(config: Config, misses: Misses, log: ProvisioningLog): Promise<Found | undefined> {
  const probeUrl = config.PROBE_DATABASE_URL;
  try {
    const { databaseUrl, created } = await ensureDatabase(probeUrl, targetDatabase(config), { connectTimeoutMs: PROBE_TIMEOUT_MS });
    log(created ? 'using the local PostgreSQL; database created' : 'using the local PostgreSQL', { url: maskUrl(databaseUrl) });
    return { url: databaseUrl, source: 'probe' };
  } catch (error) {
    misses.database.push(`${maskUrl(probeUrl)} (PROBE_DATABASE_URL): ${describeError(error)}`);
    log('no PostgreSQL at PROBE_DATABASE_URL', { url: maskUrl(probeUrl), reason: describeError(error) });
    return undefined;
  }
}

async function probeRedis(config: Config, misses: Misses, log: ProvisioningLog): Promise<Found | undefined> {
  const probeUrl = config.PROBE_REDIS_URL;
  const answer = await checkRedis(probeUrl);
  if (answer.ok) {
    log('using the local Redis', { url: maskUrl(probeUrl) });
    return { url: probeUrl, source: 'probe' };
  }
  misses.redis.push(`${maskUrl(probeUrl)} (PROBE_REDIS_URL): ${answer.reason}`);
  log('no Redis at PROBE_REDIS_URL', { url: maskUrl(probeUrl), reason: answer.reason });
  return undefined;
}

/** Fails before taking the lock, with every missing service explained at once. */
async function assertCanEmbed(
  config: Config,
  options: ResolveEndpointsOptions,
  need: { postgres: boolean; redis: boolean; redisServer: string | undefined },
  paths: ProvisioningPaths,
  misses: Misses,
): Promise<void> {
  const problems: string[] = [];
  const tried = (list: string[]): string => list.map((miss) => `\n  - ${miss}`).join('');
  const notHere = 'this process does not start services itself (it runs with embedded services disabled)';

  if (need.postgres) {
    let reason: string | undefined = options.allowEmbedded ? undefined : notHere;
    if (!reason) {
      try {
        await embeddedPostgresBinaries();
      } catch (error) {
        reason = describeError(error);
      }
    }
    if (reason) {
      problems.push(
        `No PostgreSQL available: DATABASE_URL is not set and nothing answered at:${tried(misses.database)}\n` +
          `and ${reason}.\n` +
          `Set DATABASE_URL (e.g. postgres://user:password@127.0.0.1:5432/${targetDatabase(config)}), ` +
          'or install and start PostgreSQL (Debian/Ubuntu: `apt-get install postgresql`, macOS: `brew install postgresql@15`), ' +
          `or run \`npm run services:up\` to start an embedded one under ${paths.dataDir}.`,
      );
    }
  }
  if (need.redis) {
    const reason = !options.allowEmbedded ? notHere : need.redisServer ? undefined : 'no `redis-server` was found on PATH to start one';
    if (reason) {
      problems.push(
        `No Redis available: REDIS_URL is not set and nothing answered at:${tried(misses.redis)}\n` +
          `and ${reason}.\n` +
          'Set REDIS_URL (e.g. redis://127.0.0.1:6379), or install Redis (Debian/Ubuntu: `apt-get install redis-server`, macOS: `brew install redis`) ' +
          'and start it, or run `npm run services:up` to start one under DATA_DIR.',
      );
    }
  }
  if (problems.length > 0) throw new ProvisioningError(problems.join('\n\n'));
}

async function requireRedisServer(): Promise<string> {
  const binary = await findRedisServer();
  if (!binary) throw new ProvisioningError('redis-server disappeared from PATH');
  return binary;
}

/** The new endpoints.json: what is in use now, keeping what was recorded about components reused from it. */
function recordOf(
  database: Found,
  redis: Found,
  previous: EndpointsFile | undefined,
  postgres: Embedded | undefined,
  localRedis: Embedded | undefined,
): EndpointsFile {
  const now = new Date().toISOString();
  const keepDatabase = database.source === 'endpoints-file';
  const keepRedis = redis.source === 'endpoints-file';
  return {
    databaseUrl: database.source === 'env' ? undefined : database.url,
    redisUrl: redis.source === 'env' ? undefined : redis.url,
    startedAt: (keepDatabase || keepRedis) && previous ? previous.startedAt : now,
    updatedAt: now,
    pids: {
      postgres: postgres?.pid ?? (keepDatabase ? previous?.pids.postgres : undefined),
      redis: localRedis?.pid ?? (keepRedis ? previous?.pids.redis : undefined),
    },
    embedded: {
      postgres: postgres ? { port: postgres.port, dataDir: postgres.path } : keepDatabase ? previous?.embedded.postgres : undefined,
      redis: localRedis ? { port: localRedis.port, dir: localRedis.path } : keepRedis ? previous?.embedded.redis : undefined,
    },
  };
}

/**
 * Stops the servers started under DATA_DIR (`pg_ctl stop`, Redis `SHUTDOWN NOSAVE`) and removes
 * endpoints.json. Servers that were found, not started (probe, env), are left alone.
 */
export async function stopEmbedded(
  config: Config,
  options: { log?: ProvisioningLog } = {},
): Promise<{ postgres: boolean; redis: boolean }> {
  const log: ProvisioningLog = options.log ?? (() => undefined);
  const paths = provisioningPaths(config.DATA_DIR);
  return withFileLock(
    paths.lockFile,
    async () => {
      const recorded = await readEndpointsFile(paths.endpointsFile);
      const [postgres, redis] = await Promise.all([
        stopEmbeddedPostgres(paths.postgresDir),
        stopLocalRedis(paths.redisDir, recorded?.embedded.redis?.port ?? config.EMBEDDED_REDIS_PORT),
      ]);
      await removeEndpointsFile(paths.endpointsFile);
      log(postgres ? 'embedded PostgreSQL stopped' : 'no embedded PostgreSQL was running', { dataDir: paths.postgresDir });
      log(redis ? 'redis-server stopped' : 'no redis-server was running', { dir: paths.redisDir });
      return { postgres, redis };
    },
    { timeoutMs: LOCK_TIMEOUT_MS },
  );
}

export interface EndpointsStatus {
  endpointsFile: string;
  /** endpoints.json with masked URLs, or null when there is none. */
  recorded: EndpointsFile | null;
  answering: { database: boolean | null; redis: boolean | null };
  embedded: {
    postgres: { running: boolean; pid?: number; port?: number; initialised: boolean };
    redis: { running: boolean; pid?: number; port?: number };
  };
}

/** What is recorded under DATA_DIR and whether it answers. Starts nothing, creates nothing. */
export async function endpointsStatus(config: Config, options: { reveal?: boolean } = {}): Promise<EndpointsStatus> {
  const paths = provisioningPaths(config.DATA_DIR);
  const recorded = await readEndpointsFile(paths.endpointsFile);
  const [database, redis, postgresServer, redisServer] = await Promise.all([
    recorded?.databaseUrl ? checkPostgres(recorded.databaseUrl) : undefined,
    recorded?.redisUrl ? checkRedis(recorded.redisUrl) : undefined,
    embeddedPostgresStatus(paths.postgresDir),
    localRedisStatus(paths.redisDir, recorded?.embedded.redis?.port ?? config.EMBEDDED_REDIS_PORT),
  ]);
  const show = (url: string | undefined): string | undefined => (url === undefined || options.reveal ? url : maskUrl(url));
  return {
    endpointsFile: paths.endpointsFile,
    recorded: recorded ? { ...recorded, databaseUrl: show(recorded.databaseUrl), redisUrl: show(recorded.redisUrl) } : null,
    answering: { database: database ? database.ok : null, redis: redis ? redis.ok : null },
    embedded: { postgres: postgresServer, redis: redisServer },
  };
}
