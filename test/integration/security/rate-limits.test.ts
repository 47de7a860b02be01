import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/shared/infrastructure/logging/logger.js';
import { cloneRunDatabase, uniquePrefix } from '../../support/databases.js';
import { eventually, systemsClosedAfterEach } from '../../support/system.js';
import { bearer, jwtEnv, sign, testIssuer } from '../../support/tokens.js';

/**
 * Rate limits counted in Redis: one limit for every API process, 429 problem+json with
 * Retry-After; and when Redis is gone, orders are still taken (PostgreSQL is the truth).
 */
const start = systemsClosedAfterEach(afterEach);
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function spawnTracked(command: string, args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; output: () => string } {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  return { child, output: () => output };
}

/** The production API (dist/entrypoints/api-server.js), as its own process. */
async function apiProcess(env: Record<string, string>): Promise<string> {
  const port = await freePort();
  const { output } = spawnTracked(process.execPath, ['dist/entrypoints/api-server.js'], {
    PATH: process.env['PATH'],
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    EVENT_BUS: 'memory',
    HOST: '127.0.0.1',
    PORT: String(port),
    ...env,
  });
  const url = `http://127.0.0.1:${port}`;
  await eventually(async () => ((await fetch(`${url}/health/live`)).ok ? true : undefined), {
    timeoutMs: 30_000,
    what: `the API on ${port} (${output()})`,
  });
  return url;
}

const usd = (amount: number) => ({ amount, currency: 'USD' });

describe('rate limits', () => {
  it('two API processes sharing Redis enforce one combined limit per caller, with Retry-After', { timeout: 90_000 }, async () => {
    const issuer = await testIssuer();
    const env = {
      ...jwtEnv(issuer),
      DATABASE_URL: await cloneRunDatabase(),
      REDIS_URL: process.env['REDIS_URL']!,
      BULLMQ_PREFIX: uniquePrefix(),
      RATE_LIMIT_MAX: '10',
      RATE_LIMIT_SAGA_MAX: '4',
      RATE_LIMIT_WINDOW_MS: '60000',
    };
    const [one, two] = await Promise.all([apiProcess(env), apiProcess(env)]);
    const staff = bearer(await sign(issuer, { sub: 'clerk', scope: 'orders:write orders:read' }));
    const post = (url: string, headers: Record<string, string>) =>
      fetch(`${url}/orders`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({ customerId: '01a217bd-4a94-717b-8065-a430e3e8be76', total: usd(10) }),
      });
    const statuses: number[] = [];
    let refused: Response | undefined;
    for (let i = 0; i < 6; i++) {
      const res = await post(i % 2 === 0 ? one : two, staff);
      statuses.push(res.status);
      if (res.status === 429) refused ??= res;
    }
    // Four sagas per window in all, wherever they land.
    expect(statuses).toEqual([202, 202, 202, 202, 429, 429]);
    expect(refused!.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(Number(refused!.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(refused!.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect(refused!.headers.get('ratelimit-limit')).toBe('4');
    expect(refused!.headers.get('ratelimit-remaining')).toBe('0');
    expect(await refused!.json()).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
    // The general limit (10) counted those six too: four reads left in both processes together.
    const reads: number[] = [];
    for (let i = 0; i < 5; i++) reads.push((await fetch(`${i % 2 === 0 ? two : one}/orders`, { headers: staff })).status);
    expect(reads).toEqual([200, 200, 200, 200, 429]);
    // Per caller: another principal has its own budget.
    const other = bearer(await sign(issuer, { sub: 'another-clerk', scope: 'orders:write' }));
    expect((await post(one, other)).status).toBe(202);
  });

  it('turns every limit off with RATE_LIMIT_MAX=0, the stricter saga limit too', async () => {
    const system = await start({
      env: { EVENT_BUS: 'memory', RATE_LIMIT_MAX: '0', RATE_LIMIT_SAGA_MAX: '2' },
      consume: false,
      jobs: false,
    });
    const statuses = new Set<number>();
    for (let i = 0; i < 30; i++) {
      const res = await system.app.inject({
        method: 'POST',
        url: '/orders',
        payload: { customerId: '01a217bd-4a94-717b-8065-a430e3e8be76', total: usd(10) },
      });
      statuses.add(res.statusCode);
    }
    expect([...statuses]).toEqual([202]);
  });

  it('counts under well-formed keys: <prefix>:rate-limit:<limit>:<caller>', async () => {
    const issuer = await testIssuer();
    const system = await start({
      env: { EVENT_BUS: 'memory', ...jwtEnv(issuer), RATE_LIMIT_MAX: '100', RATE_LIMIT_SAGA_MAX: '50' },
      consume: false,
      jobs: false,
    });
    const clerk = bearer(await sign(issuer, { sub: 'clerk', scope: 'orders:write orders:read' }));
    const redis = new Redis(process.env['REDIS_URL']!);
    try {
      const keys = async () => (await redis.keys(`${system.config.BULLMQ_PREFIX}:rate-limit:*`)).sort();
      const place = () =>
        system.app.inject({
          method: 'POST',
          url: '/orders',
          headers: clerk,
          payload: { customerId: '01a217bd-4a94-717b-8065-a430e3e8be76', total: usd(10) },
        });
      // Until its connection is up, the store lets requests through uncounted.
      await eventually(async () => ((await place()) && (await keys()).length >= 2 ? true : undefined), { what: 'counts in Redis' });
      await system.app.inject({ method: 'GET', url: '/orders' });
      const principal = /^p:[A-Za-z0-9_-]{22}$/;
      const found = await keys();
      const p = `${system.config.BULLMQ_PREFIX}:rate-limit:`;
      expect(found.map((k) => k.slice(p.length).split(':')[0])).toEqual(['all', 'all', 'saga']);
      expect(found.filter((k) => k.startsWith(`${p}all:`)).map((k) => k.slice(`${p}all:`.length))).toEqual(
        expect.arrayContaining(['ip:127.0.0.1', expect.stringMatching(principal)]),
      );
      expect(found.find((k) => k.startsWith(`${p}saga:`))?.slice(`${p}saga:`.length)).toMatch(principal);
      expect(found.join(' ')).not.toMatch(/undefined/);
    } finally {
      redis.disconnect();
    }
  });

  it('lets orders through when Redis is down, with a warning and a metric', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const redis = spawnTracked('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      PATH: process.env['PATH'],
    });
    await eventually(async () => (redis.output().includes('Ready to accept connections') ? true : undefined), { what: 'redis-server' });
    const issuer = await testIssuer();
    const lines: Array<{ level: number; msg: string }> = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as { level: number; msg: string });
        done();
      },
    });
    const system = await start({
      env: {
        EVENT_BUS: 'memory',
        ...jwtEnv(issuer),
        RATE_LIMIT_REDIS_URL: `redis://127.0.0.1:${port}`,
        RATE_LIMIT_SAGA_MAX: '2',
        RATE_LIMIT_MAX: '1000',
      },
      logger: createLogger({ level: 'warn', destination }),
      consume: false,
      jobs: false,
    });
    const clerk = bearer(await sign(issuer, { sub: 'clerk', scope: 'orders:write' }));
    const admin = bearer(await sign(issuer, { sub: 'operator', scope: 'admin' }));
    const place = async () =>
      (
        await system.app.inject({
          method: 'POST',
          url: '/orders',
          headers: clerk,
          payload: { customerId: '01a217bd-4a94-717b-8065-a430e3e8be76', total: usd(10) },
        })
      ).statusCode;
    // Counting in that Redis: the third saga in the window is refused.
    await eventually(async () => ((await place()) === 429 ? true : undefined), { what: 'the limit to bite', timeoutMs: 10_000 });
    redis.child.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    const after = [await place(), await place(), await place()];
    expect(after).toEqual([202, 202, 202]);
    const metrics = await system.app.inject({ method: 'GET', url: '/metrics', headers: admin });
    expect(metrics.body).toMatch(/^saga_api_rate_limit_fail_open_total [1-9]\d*$/m);
    expect(lines.some((l) => l.level === 40 && /store did not answer|Redis\) unavailable/.test(l.msg))).toBe(true);
  });
});
