import { join } from 'node:path';
import { Redis } from 'ioredis';
import { ensureDatabase } from '../../../src/dev/provisioning/database.js';
import { embeddedPostgresStatus, startEmbeddedPostgres, stopEmbeddedPostgres } from '../../../src/dev/provisioning/embedded-postgres.js';
import { findRedisServer, localRedisStatus, startLocalRedis, stopLocalRedis } from '../../../src/dev/provisioning/local-redis.js';
import { isProcessAlive } from '../../../src/dev/provisioning/lock-file.js';
import { freePort, sleep, waitFor } from './util.js';

/**
 * The suite's own PostgreSQL: an embedded cluster (the provisioning code's) in a temporary
 * directory on a free port, so it can be stopped, crashed and started at will without touching
 * the machine's shared server.
 */
export class SuitePostgres {
  private constructor(
    private readonly dir: string,
    readonly port: number,
    private serverUrl: string,
  ) {}

  static async start(root: string, settings: Readonly<Record<string, string>> = {}): Promise<SuitePostgres> {
    const dir = join(root, 'postgres');
    const port = await freePort();
    const server = await startEmbeddedPostgres({ dir, port, database: 'postgres', settings });
    const suite = new SuitePostgres(dir, port, server.databaseUrl);
    suite.settings = settings;
    return suite;
  }

  private settings: Readonly<Record<string, string>> = {};

  /** A fresh database for one scenario. */
  async createDatabase(name: string): Promise<string> {
    return (await ensureDatabase(this.serverUrl, name)).databaseUrl;
  }

  /** `pg_ctl stop --mode fast`: sessions are terminated, a checkpoint is written. */
  async stop(): Promise<void> {
    await stopEmbeddedPostgres(this.dir);
  }

  /** An immediate shutdown (SIGQUIT to the postmaster): no checkpoint, crash recovery at the next start. */
  async crash(): Promise<void> {
    const status = await embeddedPostgresStatus(this.dir);
    if (!status.running || status.pid === undefined) return;
    process.kill(status.pid, 'SIGQUIT');
    const pid = status.pid;
    await waitFor('the postmaster to exit', async () => (isProcessAlive(pid) ? undefined : true), { timeoutMs: 30_000, intervalMs: 50 });
  }

  /** Starts the stopped cluster again on the same port (crash recovery included). */
  async restart(): Promise<void> {
    const server = await startEmbeddedPostgres({ dir: this.dir, port: this.port, database: 'postgres', settings: this.settings });
    this.serverUrl = server.databaseUrl;
  }

  async close(): Promise<void> {
    await stopEmbeddedPostgres(this.dir).catch(() => undefined);
  }
}

/** The suite's own redis-server (FLUSHALL and restarts are fine here: nobody else uses it). */
export class SuiteRedis {
  private constructor(
    private readonly binary: string,
    private readonly dir: string,
    readonly port: number,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(root: string): Promise<SuiteRedis> {
    const binary = await findRedisServer();
    if (!binary) throw new Error('redis-server is not on PATH: the reliability suite starts its own');
    const redis = new SuiteRedis(binary, join(root, 'redis'), await freePort());
    await redis.restart();
    return redis;
  }

  async restart(): Promise<void> {
    await startLocalRedis({ binary: this.binary, port: this.port, dir: this.dir });
  }

  /** SHUTDOWN NOSAVE: every queue and job is gone (nothing is kept on disk). */
  async stop(): Promise<void> {
    await stopLocalRedis(this.dir, this.port);
  }

  /** SIGKILL, as a crashed or failed-over Redis. */
  async kill(): Promise<void> {
    const status = await localRedisStatus(this.dir, this.port);
    if (!status.running || status.pid === undefined) return;
    const pid = status.pid;
    process.kill(pid, 'SIGKILL');
    await waitFor('redis-server to die', async () => (isProcessAlive(pid) ? undefined : true), { timeoutMs: 10_000, intervalMs: 20 });
  }

  async flushAll(): Promise<void> {
    await this.withClient((redis) => redis.flushall());
  }

  async keyCount(): Promise<number> {
    return this.withClient((redis) => redis.dbsize());
  }

  private async withClient<T>(work: (redis: Redis) => Promise<T>): Promise<T> {
    const redis = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: () => null });
    redis.on('error', () => undefined);
    try {
      await redis.connect();
      return await work(redis);
    } finally {
      redis.disconnect();
      await sleep(0);
    }
  }

  async close(): Promise<void> {
    await this.stop().catch(() => this.kill().catch(() => undefined));
  }
}
