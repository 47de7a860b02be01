import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { cloneRunDatabase, uniquePrefix } from '../../support/databases.js';
import { freePort } from '../../support/ports.js';
import { AUDIENCE, ISSUER } from '../../support/tokens.js';

/**
 * What the production entrypoints refuse to start with, as an operator meets it: exit code 78
 * (EX_CONFIG) and one line on stderr naming the variable, before any request is served.
 */
const run = promisify(execFile);

interface Exit {
  readonly code: number;
  readonly stderr: string;
}

async function exitOf(script: string, env: Record<string, string>): Promise<Exit> {
  try {
    await run(process.execPath, [script], { env: { PATH: process.env['PATH'], ...env }, timeout: 60_000 });
    return { code: 0, stderr: '' };
  } catch (error) {
    const failed = error as { code?: number; stderr?: string };
    return { code: failed.code ?? -1, stderr: failed.stderr ?? '' };
  }
}

/** A production API's settings that start, but for `overrides`. */
function productionApi(overrides: Record<string, string>): Record<string, string> {
  return {
    NODE_ENV: 'production',
    EVENT_BUS: 'memory',
    DATABASE_URL: 'postgres://nobody@127.0.0.1:1/never',
    AUTH_ISSUER: ISSUER,
    AUTH_AUDIENCE: AUDIENCE,
    AUTH_JWKS_URL: 'https://issuer.test/jwks.json',
    ...overrides,
  };
}

const held: Server[] = [];
afterEach(async () => {
  await Promise.all(held.splice(0).map((s) => new Promise((r) => s.close(r))));
});

describe('production refuses to start', () => {
  it('with TRUST_PROXY=true: every client could choose its own address', async () => {
    const exit = await exitOf('dist/entrypoints/api-server.js', productionApi({ TRUST_PROXY: 'true' }));
    expect(exit.code).toBe(78);
    expect(exit.stderr).toMatch(/^TRUST_PROXY: true is refused with NODE_ENV=production/m);
    expect(exit.stderr).not.toMatch(/\n\s+at /);
  });

  it('with an http:// JWKS URL that is not this machine, and starts with a loopback one', async () => {
    const exit = await exitOf('dist/entrypoints/api-server.js', productionApi({ AUTH_JWKS_URL: 'http://id.example.com/jwks.json' }));
    expect(exit.code).toBe(78);
    expect(exit.stderr).toMatch(/^AUTH_JWKS_URL: http:\/\/ is refused with NODE_ENV=production/m);
    // A loopback JWKS passes the check: the API gets as far as its database (none here, and no
    // waiting for one), which it reports as unreachable: 75, not 78.
    const loopback = await exitOf(
      'dist/entrypoints/api-server.js',
      productionApi({ AUTH_JWKS_URL: 'http://127.0.0.1:9/jwks.json', DB_OUTAGE_TOLERANCE_MS: '0' }),
    );
    expect(loopback.code).toBe(75);
    expect(loopback.stderr).not.toMatch(/AUTH_JWKS_URL/);
  });
});

describe('a worker whose METRICS_PORT is taken', () => {
  it('exits 78 with one line naming METRICS_PORT, not a stack trace', { timeout: 90_000 }, async () => {
    const port = await freePort();
    const other = createServer();
    held.push(other);
    await new Promise<void>((r) => other.listen(port, '127.0.0.1', r));
    const exit = await exitOf('dist/entrypoints/worker.js', {
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      EVENT_BUS: 'bullmq',
      DATABASE_URL: await cloneRunDatabase(),
      REDIS_URL: process.env['REDIS_URL']!,
      BULLMQ_PREFIX: uniquePrefix(),
      HOST: '127.0.0.1',
      METRICS_PORT: String(port),
      AUTH_ISSUER: ISSUER,
      AUTH_AUDIENCE: AUDIENCE,
      AUTH_JWKS_URL: 'https://issuer.test/jwks.json',
    });
    expect(exit.code).toBe(78);
    expect(exit.stderr.trimEnd().split('\n')).toEqual([
      `METRICS_PORT: 127.0.0.1:${port} is already in use (another process, or a second copy of this one, listens there); give each worker on a host its own METRICS_PORT, or 0 for none`,
    ]);
  });
});
