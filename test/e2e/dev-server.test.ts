import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/shared/infrastructure/config/config.js';
import { stopEmbedded } from '../../src/dev/provisioning/provisioning.js';

/**
 * `npm run dev` on a machine where nothing answers at the probed PostgreSQL address: it comes
 * up on embedded PostgreSQL, and a second process started the same way uses the same instance.
 * Both stop cleanly on SIGTERM. (Redis is the machine's; the probed PostgreSQL is a dead port.)
 */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

const children: ChildProcess[] = [];
let dataDir: string | undefined;
let env: Record<string, string> = {};

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  if (dataDir) {
    await stopEmbedded(loadConfig(env)).catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
  }
});

interface DevServer {
  readonly port: number;
  readonly child: ChildProcess;
  output(): string;
  readonly exited: Promise<number | null>;
}

function startDevServer(port: number): DevServer {
  // Without DATABASE_URL, as on a fresh machine (the test run's own database is not this server's).
  const { DATABASE_URL: _testDatabase, ...inherited } = process.env;
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/dev/dev-server.ts'], {
    env: { ...inherited, ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { port, child, output: () => out, exited };
}

async function ready(port: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let status = 0;
  while (Date.now() < deadline && status !== 200) {
    await new Promise((r) => setTimeout(r, 200));
    status = await fetch(`http://127.0.0.1:${port}/health/ready`).then(
      (r) => r.status,
      () => 0,
    );
  }
  return status;
}

describe('npm run dev without a PostgreSQL at the probed address', () => {
  it('comes up on embedded PostgreSQL, and a second process uses the same instance', { timeout: 120_000 }, async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'saga-dev-'));
    const deadPort = await freePort();
    env = {
      DATA_DIR: dataDir,
      PROBE_DATABASE_URL: `postgres://postgres@127.0.0.1:${deadPort}/saga_dev`,
      EMBEDDED_PG_PORT: String(await freePort()),
      BULLMQ_PREFIX: `${process.env['BULLMQ_PREFIX'] ?? 'test'}-dev`,
      LOG_LEVEL: 'info',
    };
    const first = startDevServer(await freePort());
    const firstPort = first.port;
    expect(await ready(firstPort, 60_000), first.output()).toBe(200);

    const endpoints = JSON.parse(await readFile(join(dataDir, 'endpoints.json'), 'utf8')) as { databaseUrl: string };
    expect(endpoints.databaseUrl).toContain(`:${env['EMBEDDED_PG_PORT']}/`);
    expect(first.output()).toMatch(/"sources":\{"database":"embedded"/);

    const second = startDevServer(await freePort());
    const secondPort = second.port;
    expect(await ready(secondPort, 60_000), second.output()).toBe(200);
    expect(second.output()).toMatch(/"sources":\{"database":"endpoints-file"/);

    // The same instance: a customer created through one is read through the other.
    const created = await fetch(`http://127.0.0.1:${firstPort}/customers`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Shared', creditLimit: { amount: 100, currency: 'USD' } }),
    }).then((r) => r.json() as Promise<{ id: string }>);
    expect((await fetch(`http://127.0.0.1:${secondPort}/customers/${created.id}`)).status).toBe(200);

    first.child.kill('SIGTERM');
    second.child.kill('SIGTERM');
    expect(await first.exited, first.output()).toBe(0);
    expect(await second.exited, second.output()).toBe(0);
  });
});
