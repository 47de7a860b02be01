import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/shared/infrastructure/config/config.js';
import { checkPostgres, databaseNameOf, databaseUrl, dropDatabase, ensureDatabase } from '../../src/dev/provisioning/database.js';
import { readEndpointsFile, writeEndpointsFile } from '../../src/dev/provisioning/endpoints-file.js';
import { acquireFileLock, isProcessAlive } from '../../src/dev/provisioning/lock-file.js';
import { ProvisioningError, resolveEndpoints, stopEmbedded, type ResolvedEndpoints } from '../../src/dev/provisioning/provisioning.js';
import { checkRedis } from '../../src/dev/provisioning/redis.js';

/**
 * Against real servers: the run's own database and Redis (handed over by test/support/global-setup.ts),
 * and, for the embedded path, a PostgreSQL and a redis-server this file starts and stops itself.
 */

const serverUrl = process.env.DATABASE_URL ?? '';
const redisUrl = process.env.REDIS_URL ?? '';

/** Configuration from exactly these variables (never from this process' environment). */
function configFrom(env: Record<string, string>): Config {
  return loadConfig(env);
}

/** A port nothing listens on (at the time of the call). */
async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port'))));
    });
  });
}

const temporaryDirectories: string[] = [];
async function temporaryDataDir(): Promise<string> {
  // mkdtemp makes it 0700: as root, provisioning must open it to the postgres user itself.
  const dir = await mkdtemp(join(tmpdir(), 'saga-provisioning-'));
  temporaryDirectories.push(dir);
  return dir;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

function suffix(): string {
  return randomBytes(4).toString('hex');
}

afterAll(async () => {
  await Promise.all(temporaryDirectories.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('test isolation (global setup)', () => {
  it('hands the run its own database, Redis and BullMQ prefix through the environment', async () => {
    const database = databaseNameOf(serverUrl) ?? '';
    expect(database).toMatch(/^saga_test_\d{14}_[0-9a-f]{8}$/);
    expect(process.env.BULLMQ_PREFIX).toBe(`test-${database.slice('saga_test_'.length)}`);
    expect(process.env.NODE_ENV).toBe('test');
    expect(process.env.LOG_LEVEL).toBeTruthy();
    expect(await checkPostgres(serverUrl)).toEqual({ ok: true });
    expect(await checkRedis(redisUrl)).toEqual({ ok: true });
  });
});

describe('ensureDatabase / dropDatabase', () => {
  it('reject names that would need quoting', async () => {
    for (const name of ['Saga', 'saga-dev', '1saga', 'saga"; drop database x; --', '', 'x'.repeat(64)]) {
      await expect(ensureDatabase(serverUrl, name)).rejects.toThrow(/Invalid database name/);
      await expect(dropDatabase(serverUrl, name)).rejects.toThrow(/Invalid database name/);
    }
  });

  it('create once when called concurrently, and drop despite open connections', async () => {
    const name = `saga_helper_${suffix()}`;
    const results = await Promise.all([ensureDatabase(serverUrl, name), ensureDatabase(serverUrl, name), ensureDatabase(serverUrl, name)]);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.databaseUrl)).size).toBe(1);

    const client = new pg.Client({ connectionString: results[0]?.databaseUrl });
    client.on('error', () => undefined);
    await client.connect();
    try {
      expect(await dropDatabase(serverUrl, name)).toBe(true);
    } finally {
      await client.end().catch(() => undefined);
    }
    expect(await dropDatabase(serverUrl, name)).toBe(false);
    expect((await checkPostgres(databaseUrl(serverUrl, name))).ok).toBe(false);
  });
});

describe('acquireFileLock', () => {
  it('takes over a lock left by a process that is gone', async () => {
    const lock = join(await temporaryDataDir(), 'provision.lock');
    const gone = spawnSync(process.execPath, ['-e', '0']).pid;
    expect(isProcessAlive(gone)).toBe(false);
    const { hostname } = await import('node:os');
    await writeFile(lock, JSON.stringify({ pid: gone, hostname: hostname(), token: 'old', acquiredAt: new Date().toISOString() }));

    const release = await acquireFileLock(lock, { timeoutMs: 2_000 });
    expect(JSON.parse(await readFile(lock, 'utf8'))).toMatchObject({ pid: process.pid });
    await release();
    expect(await exists(lock)).toBe(false);
  });

  it('makes a second holder wait for the first', async () => {
    const lock = join(await temporaryDataDir(), 'provision.lock');
    const order: string[] = [];
    const releaseFirst = await acquireFileLock(lock);
    let waited = false;
    const second = acquireFileLock(lock, { pollMs: 20, onWait: () => (waited = true) }).then((release) => {
      order.push('second acquired');
      return release;
    });
    await new Promise((r) => setTimeout(r, 150));
    order.push('first releases');
    await releaseFirst();
    await (
      await second
    )();
    expect(waited).toBe(true);
    expect(order).toEqual(['first releases', 'second acquired']);
  });
});

describe('resolveEndpoints without starting anything', () => {
  let deadPgPort: number;
  let deadRedisPort: number;
  beforeAll(async () => {
    [deadPgPort, deadRedisPort] = await Promise.all([freePort(), freePort()]);
  });

  it('takes DATABASE_URL and REDIS_URL as they are, without probing or recording them', async () => {
    const dataDir = await temporaryDataDir();
    const config = configFrom({
      DATABASE_URL: `postgres://app:secret@127.0.0.1:${deadPgPort}/anything`,
      REDIS_URL: `redis://127.0.0.1:${deadRedisPort}`,
      DATA_DIR: dataDir,
    });
    const endpoints = await resolveEndpoints(config, { allowEmbedded: false });
    expect(endpoints).toEqual({
      databaseUrl: `postgres://app:secret@127.0.0.1:${deadPgPort}/anything`,
      redisUrl: `redis://127.0.0.1:${deadRedisPort}`,
      sources: { database: 'env', redis: 'env' },
    });
    expect(await exists(join(dataDir, 'endpoints.json'))).toBe(false);
  });

  it('takes each of them on its own', async () => {
    const config = configFrom({
      DATABASE_URL: `postgres://app@127.0.0.1:${deadPgPort}/anything`,
      PROBE_REDIS_URL: redisUrl,
      DATA_DIR: await temporaryDataDir(),
    });
    const endpoints = await resolveEndpoints(config, { allowEmbedded: false });
    expect(endpoints.sources).toEqual({ database: 'env', redis: 'probe' });
    expect(endpoints.redisUrl).toBe(redisUrl);
  });

  it('reuses the addresses recorded in endpoints.json when they answer', async () => {
    const dataDir = await temporaryDataDir();
    const now = new Date().toISOString();
    await writeEndpointsFile(join(dataDir, 'endpoints.json'), {
      databaseUrl: serverUrl,
      redisUrl,
      startedAt: now,
      updatedAt: now,
      pids: {},
      embedded: {},
    });
    const config = configFrom({
      DATA_DIR: dataDir,
      PROBE_DATABASE_URL: `postgres://postgres@127.0.0.1:${deadPgPort}/saga_dev`,
      PROBE_REDIS_URL: `redis://127.0.0.1:${deadRedisPort}`,
    });
    expect(await resolveEndpoints(config, { allowEmbedded: false })).toEqual({
      databaseUrl: serverUrl,
      redisUrl,
      sources: { database: 'endpoints-file', redis: 'endpoints-file' },
    });
  });

  it('passes over recorded addresses that do not answer, and probes; the probe creates the target database', async () => {
    const dataDir = await temporaryDataDir();
    const now = new Date().toISOString();
    await writeEndpointsFile(join(dataDir, 'endpoints.json'), {
      databaseUrl: `postgres://postgres@127.0.0.1:${deadPgPort}/saga_dev`,
      redisUrl: `redis://127.0.0.1:${deadRedisPort}`,
      startedAt: now,
      updatedAt: now,
      pids: {},
      embedded: {},
    });
    const target = `saga_probe_${suffix()}`;
    const config = configFrom({ DATA_DIR: dataDir, PROBE_DATABASE_URL: databaseUrl(serverUrl, target), PROBE_REDIS_URL: redisUrl });
    try {
      const endpoints = await resolveEndpoints(config, { allowEmbedded: false });
      expect(endpoints).toEqual({ databaseUrl: databaseUrl(serverUrl, target), redisUrl, sources: { database: 'probe', redis: 'probe' } });
      expect(await checkPostgres(endpoints.databaseUrl)).toEqual({ ok: true });
      // Idempotent: the database now exists.
      expect((await resolveEndpoints(config, { allowEmbedded: false })).sources.database).toBe('probe');
    } finally {
      await dropDatabase(serverUrl, target);
    }
  });

  it('says how to get Redis when none answers and it may not start one', async () => {
    const config = configFrom({
      DATABASE_URL: serverUrl,
      PROBE_REDIS_URL: `redis://:hunter2@127.0.0.1:${deadRedisPort}`,
      DATA_DIR: await temporaryDataDir(),
    });
    const error = await resolveEndpoints(config, { allowEmbedded: false }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ProvisioningError);
    const message = (error as Error).message;
    expect(message).toMatch(/No Redis available/);
    expect(message).toMatch(/Set REDIS_URL/);
    expect(message).toContain('apt-get install redis-server');
    expect(message).toContain('brew install redis');
    expect(message).toContain(`127.0.0.1:${deadRedisPort}`);
    expect(message).not.toContain('hunter2');
    expect(message).not.toMatch(/PostgreSQL/);
  });

  describe('with no redis-server on PATH', () => {
    const path = process.env.PATH;
    afterEach(() => {
      process.env.PATH = path;
    });

    it('says how to get Redis even when it may start services', async () => {
      const dataDir = await temporaryDataDir();
      process.env.PATH = dataDir; // an empty directory
      const config = configFrom({ DATABASE_URL: serverUrl, PROBE_REDIS_URL: `redis://127.0.0.1:${deadRedisPort}`, DATA_DIR: dataDir });
      await expect(resolveEndpoints(config, { allowEmbedded: true })).rejects.toThrow(
        /no `redis-server` was found on PATH[\s\S]*apt-get install redis-server/,
      );
      expect(await exists(join(dataDir, 'provision.lock'))).toBe(false);
    });
  });

  it('says how to get PostgreSQL (and Redis) when nothing answers and it may not start them, without showing passwords', async () => {
    const config = configFrom({
      PROBE_DATABASE_URL: `postgres://postgres:hunter2@127.0.0.1:${deadPgPort}/saga_dev`,
      PROBE_REDIS_URL: `redis://127.0.0.1:${deadRedisPort}`,
      DATA_DIR: await temporaryDataDir(),
    });
    const logs: string[] = [];
    const error = await resolveEndpoints(config, {
      allowEmbedded: false,
      log: (msg, data) => logs.push(`${msg} ${JSON.stringify(data)}`),
    }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toMatch(
      /No PostgreSQL available[\s\S]*Set DATABASE_URL[\s\S]*apt-get install postgresql[\s\S]*No Redis available/,
    );
    expect(error?.message).toContain('postgres://postgres:***@127.0.0.1');
    expect(`${error?.message} ${logs.join('\n')}`).not.toContain('hunter2');
  });
});

describe('embedded PostgreSQL and redis-server', () => {
  let dataDir: string;
  let config: Config;
  let childEnv: Record<string, string>;

  beforeAll(async () => {
    dataDir = await temporaryDataDir();
    const [pgPort, redisPort, deadPgPort, deadRedisPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    childEnv = {
      DATA_DIR: dataDir,
      PROBE_DATABASE_URL: `postgres://postgres@127.0.0.1:${deadPgPort}/saga_dev`,
      PROBE_REDIS_URL: `redis://127.0.0.1:${deadRedisPort}`,
      EMBEDDED_PG_PORT: String(pgPort),
      EMBEDDED_REDIS_PORT: String(redisPort),
    };
    config = configFrom(childEnv);
  });

  afterAll(async () => {
    if (config) await stopEmbedded(config);
  }, 60_000);

  it('two racing calls start one PostgreSQL and one Redis, and both get the same addresses', async () => {
    // Leftovers of an initdb that was killed half-way must not get in the way.
    await mkdir(join(dataDir, 'postgres', 'data', 'base'), { recursive: true });
    await mkdir(join(dataDir, 'postgres', 'data.initdb-999999'), { recursive: true });

    const logs: string[][] = [[], []];
    const call = (i: 0 | 1): Promise<ResolvedEndpoints> =>
      resolveEndpoints(config, { allowEmbedded: true, log: (msg, data) => logs[i]?.push(`${msg} ${JSON.stringify(data ?? {})}`) });
    const [a, b] = await Promise.all([call(0), call(1)]);

    expect(b.databaseUrl).toBe(a.databaseUrl);
    expect(b.redisUrl).toBe(a.redisUrl);
    expect([a.sources.database, b.sources.database].sort()).toEqual(['embedded', 'endpoints-file']);
    expect([a.sources.redis, b.sources.redis].sort()).toEqual(['embedded', 'endpoints-file']);
    const all = logs.flat();
    expect(all.filter((line) => line.startsWith('starting embedded PostgreSQL'))).toHaveLength(1);
    expect(all.filter((line) => line.startsWith('starting redis-server'))).toHaveLength(1);

    const url = new URL(a.databaseUrl);
    expect(url.port).toBe(childEnv.EMBEDDED_PG_PORT);
    expect(url.pathname).toBe('/saga_dev');
    expect(url.password).not.toBe('');
    expect(all.join('\n')).not.toContain(url.password);

    const client = new pg.Client({ connectionString: a.databaseUrl });
    await client.connect();
    try {
      expect((await client.query<{ one: number }>('select 1 as one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await client.end();
    }
    expect(a.redisUrl).toBe(`redis://127.0.0.1:${childEnv.EMBEDDED_REDIS_PORT}`);
    expect(await checkRedis(a.redisUrl)).toEqual({ ok: true });

    expect((await readdir(join(dataDir, 'postgres'))).sort()).toEqual(['data', 'postgres.log', 'superuser.json']);

    const file = join(dataDir, 'endpoints.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const recorded = await readEndpointsFile(file);
    expect(recorded).toMatchObject({ databaseUrl: a.databaseUrl, redisUrl: a.redisUrl });
    expect(isProcessAlive(recorded?.pids.postgres ?? 0)).toBe(true);
    expect(isProcessAlive(recorded?.pids.redis ?? 0)).toBe(true);
  });

  it('the servers outlive the processes that started them, and two processes racing start one of each', async () => {
    expect(await stopEmbedded(config)).toEqual({ postgres: true, redis: true });

    const script = [
      `const { loadConfig } = await import(${JSON.stringify(resolve('src/shared/infrastructure/config/config.ts'))});`,
      `const { resolveEndpoints } = await import(${JSON.stringify(resolve('src/dev/provisioning/provisioning.ts'))});`,
      'const endpoints = await resolveEndpoints(loadConfig(), { allowEmbedded: true });',
      'process.stdout.write(JSON.stringify(endpoints));',
    ].join('\n');
    const env: NodeJS.ProcessEnv = { ...process.env, ...childEnv };
    delete env.DATABASE_URL;
    delete env.REDIS_URL;
    const run = (): Promise<ResolvedEndpoints> =>
      new Promise((resolveRun, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        let err = '';
        child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
        child.on('error', reject);
        child.on('close', (code) =>
          code === 0 ? resolveRun(JSON.parse(out) as ResolvedEndpoints) : reject(new Error(`child exited ${String(code)}: ${err}`)),
        );
      });
    const [a, b] = await Promise.all([run(), run()]);

    // Both processes have exited; what they found or started still answers.
    expect(b.databaseUrl).toBe(a.databaseUrl);
    expect(b.redisUrl).toBe(a.redisUrl);
    expect([a.sources.database, b.sources.database].sort()).toEqual(['embedded', 'endpoints-file']);
    expect([a.sources.redis, b.sources.redis].sort()).toEqual(['embedded', 'endpoints-file']);
    expect(await checkPostgres(a.databaseUrl)).toEqual({ ok: true });
    expect(await checkRedis(a.redisUrl)).toEqual({ ok: true });

    // A later process reuses them.
    expect((await resolveEndpoints(config, { allowEmbedded: true })).sources).toEqual({
      database: 'endpoints-file',
      redis: 'endpoints-file',
    });
  });

  it('stopEmbedded stops them and removes endpoints.json', async () => {
    const recorded = await readEndpointsFile(join(dataDir, 'endpoints.json'));
    expect(recorded?.databaseUrl).toBeDefined();
    expect(await stopEmbedded(config)).toEqual({ postgres: true, redis: true });

    expect(isProcessAlive(recorded?.pids.postgres ?? 0)).toBe(false);
    expect(isProcessAlive(recorded?.pids.redis ?? 0)).toBe(false);
    expect((await checkPostgres(recorded?.databaseUrl ?? '')).ok).toBe(false);
    expect((await checkRedis(recorded?.redisUrl ?? '')).ok).toBe(false);
    expect(await exists(join(dataDir, 'endpoints.json'))).toBe(false);
    expect(await stopEmbedded(config)).toEqual({ postgres: false, redis: false });
  });
});
