import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp, committedContext } from '../../deploy/cdk/lib/app.js';
import { loadConfig } from '../../src/shared/infrastructure/config/config.js';
import { startAlbStandIn, type AlbStandIn } from '../support/alb-standin.js';
import { cloneRunDatabase } from '../support/databases.js';
import { freePort } from '../support/ports.js';
import { eventually } from '../support/system.js';
import { jwtEnv, testIssuer } from '../support/tokens.js';

/**
 * The production API (dist/entrypoints/api-server.js) behind a stand-in for its ALB
 * (test/support/alb-standin.ts: the client's address appended to the X-Forwarded-For it sent),
 * with the HTTP settings the CDK app gives the API task. One of them differs, and only in value:
 * TRUST_PROXY names the ALB's subnets there (10.40.0.0/24,10.40.1.0/24) and the stand-in's
 * address here (127.0.0.1/32). Clients connect from addresses of their own (127.0.0.2 and up,
 * all loopback on Linux), as clients on the internet do.
 */
const children: ChildProcess[] = [];
const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  await Promise.all(closers.splice(0).map((close) => close()));
});

/** The API task's HTTP and security settings as the CDK app (prod) writes them. */
function cdkApiSettings(): Record<string, string> {
  const outdir = mkdtempSync(join(tmpdir(), 'saga-cdk-'));
  try {
    const context = {
      ...committedContext(),
      env: 'prod',
      authIssuer: 'https://id.example.com/',
      authAudience: 'saga-api',
      authJwksUrl: 'https://id.example.com/.well-known/jwks.json',
    };
    const { stack } = buildApp({ outdir, context });
    return Object.fromEntries(
      Object.entries(stack.api.environment).filter(([name]) => /^(NODE_ENV|TRUST_PROXY|RATE_LIMIT_|HTTP_|BODY_LIMIT_)/.test(name)),
    );
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

async function apiProcess(env: Record<string, string>): Promise<string> {
  const port = await freePort();
  const child = spawn(process.execPath, ['dist/entrypoints/api-server.js'], {
    env: { PATH: process.env['PATH'], LOG_LEVEL: 'warn', HOST: '127.0.0.1', PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  await eventually(async () => ((await fetch(`${url}/health/live`)).ok ? true : undefined), {
    timeoutMs: 30_000,
    what: `the API on ${port} (${output})`,
  });
  return url;
}

/** A client on its own address, with its own keep-alive connections (at most 16 at once). */
function client(localAddress: string) {
  const agent = new Agent({ keepAlive: true, localAddress, maxSockets: 16 });
  closers.push(() => agent.destroy());
  return (url: string, headers: Record<string, string> = {}) =>
    new Promise<number>((resolve, reject) => {
      const req = request(url, { agent, headers }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });
}

type Get = ReturnType<typeof client>;

/** `count` requests, 16 at a time; the statuses tallied. */
async function send(get: Get, count: number, url: string, headers: (i: number) => Record<string, string> = () => ({})) {
  const tally = new Map<number, number>();
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const status = await get(url, headers(next++));
      tally.set(status, (tally.get(status) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return Object.fromEntries(tally);
}

/** Probes `urls` one after the other until `done` settles; every status seen. */
async function probeUntil(done: Promise<unknown>, probes: Array<() => Promise<number>>): Promise<number[]> {
  let finished = false;
  void done.finally(() => (finished = true));
  const seen: number[] = [];
  while (!finished) for (const probe of probes) seen.push(await probe());
  return seen;
}

describe('the production API behind its load balancer (CDK settings)', () => {
  it(
    'limits clients apart by the address the ALB appended, whatever they forge, and answers its probes throughout a flood',
    { timeout: 120_000 },
    async () => {
      const cdk = cdkApiSettings();
      // The ALB's subnets: a list of CIDRs, which here is the stand-in's address.
      expect(cdk['TRUST_PROXY']).toMatch(/^\d+\.\d+\.\d+\.\d+\/\d+(,\d+\.\d+\.\d+\.\d+\/\d+)*$/);
      const max = loadConfig(cdk).RATE_LIMIT_MAX;
      const issuer = await testIssuer();
      const api = await apiProcess({
        ...cdk,
        TRUST_PROXY: '127.0.0.1/32',
        ...jwtEnv(issuer),
        NODE_ENV: 'production',
        EVENT_BUS: 'memory',
        DATABASE_URL: await cloneRunDatabase(),
      });
      const alb: AlbStandIn = await startAlbStandIn({ targets: [api] });
      closers.push(() => alb.close());
      const [a, b, c, forger, outsider] = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.7'].map(client);
      // The flooding client itself probes too, on connections of its own: its probes must not share its fate.
      const prober = client('127.0.0.2');
      const balancer = client('127.0.0.1');
      const over = Math.ceil(max / 4);

      // Three anonymous clients and one that sends a new X-Forwarded-For each time, all over their limit at once.
      const flood = Promise.all([
        send(a!, max + over, `${alb.url}/orders`),
        send(b!, max + over, `${alb.url}/orders`),
        send(c!, max + over, `${alb.url}/orders`),
        send(forger!, max + over, `${alb.url}/orders`, (i) => ({ 'x-forwarded-for': `198.51.${i >> 8}.${i & 255}` })),
      ]);
      // Meanwhile the ALB's health checks (from its own address, no X-Forwarded-For), and the flooder's through it.
      const probes = await probeUntil(flood, [
        () => balancer(`${api}/health/ready`),
        () => balancer(`${api}/health/live`),
        () => prober(`${alb.url}/health/ready`),
        () => prober(`${alb.url}/health/live`),
      ]);
      const [ta, tb, tc, tforger] = await flood;

      // Each client has a bucket of its own: `max` answered (401, no token), the rest 429.
      for (const tally of [ta, tb, tc]) expect(tally).toEqual({ 401: max, 429: over });
      // Forging X-Forwarded-For changes nothing: the address the ALB appended is the one counted.
      expect(tforger).toEqual({ 401: max, 429: over });
      expect(probes.length).toBeGreaterThanOrEqual(8);
      expect(new Set(probes)).toEqual(new Set([200]));

      // No client can choose its bucket: claiming a's address, through the ALB or straight to the API, is not a's.
      expect(await a!(`${alb.url}/orders`)).toBe(429);
      expect(await outsider!(`${alb.url}/orders`, { 'x-forwarded-for': '127.0.0.2' })).toBe(401);
      expect(await outsider!(`${api}/orders`, { 'x-forwarded-for': '127.0.0.2' })).toBe(401);
      expect(alb.forwarded()).toBeGreaterThanOrEqual(4 * (max + over));
    },
  );
});
