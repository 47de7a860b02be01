import type { FastifyInstance } from 'fastify';
import { createServer as createNodeServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpServer } from '../../../src/shared/infrastructure/http/http-server.js';
import { registerWithAccess } from '../../../src/shared/infrastructure/http/security/api-security.js';
import { apiSecurityFrom, httpLimitsFrom } from '../../../src/shared/infrastructure/http/security/security-config.js';
import { loadConfig } from '../../../src/shared/infrastructure/config/config.js';
import { PUBLIC } from '../../../src/shared/infrastructure/http/route-config.js';
import { createLogger } from '../../../src/shared/infrastructure/logging/logger.js';
import { eventually, systemsClosedAfterEach } from '../../support/system.js';
import { AUDIENCE, bearer, ISSUER, jwtEnv, sign, testIssuer, type TestIssuer } from '../../support/tokens.js';

const start = systemsClosedAfterEach(afterEach);
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(
    servers.splice(0).map((s) => {
      s.closeAllConnections();
      return new Promise((r) => s.close(r));
    }),
  );
});

/** A JWKS endpoint whose keys (and whether it answers at all) the test changes. */
async function jwksServer(state: { keys: TestIssuer[]; hang: boolean }): Promise<{ url: string; fetches: () => number }> {
  let fetches = 0;
  const server = createNodeServer((_req, res) => {
    fetches += 1;
    if (state.hang) return; // never answers
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: state.keys.map((k) => k.jwk) }));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/jwks.json`, fetches: () => fetches };
}

describe('hardened HTTP', () => {
  it('cuts off a client that sends its headers a byte a second, while serving others', { timeout: 30_000 }, async () => {
    const system = await start({
      env: { EVENT_BUS: 'memory', HTTP_HEADERS_TIMEOUT_MS: '2000', HTTP_REQUEST_TIMEOUT_MS: '3000' },
      consume: false,
      jobs: false,
    });
    const address = await system.app.listen({ host: '127.0.0.1', port: 0 });
    const port = Number(new URL(address).port);
    const socket = connect(port, '127.0.0.1');
    const request = 'GET /health/live HTTP/1.1\r\nHost: localhost\r\nX-Slow: ' + 'a'.repeat(60);
    let sent = 0;
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString()));
    const writeNextByte = () => {
      if (sent < request.length && !socket.destroyed) socket.write(request[sent++]!);
    };
    await new Promise((r) => socket.once('connect', r));
    writeNextByte(); // the request starts now
    const drip = setInterval(writeNextByte, 1_000);
    const started = Date.now();
    const closedAfter = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now() - started)));
    socket.on('error', () => undefined);
    // Meanwhile, other clients are served at once.
    await new Promise((r) => setTimeout(r, 1_000));
    const t0 = Date.now();
    const other = await fetch(`${address}/health/live`);
    expect(other.status).toBe(200);
    expect(Date.now() - t0).toBeLessThan(500);
    const ms = await closedAfter;
    clearInterval(drip);
    // HTTP_HEADERS_TIMEOUT_MS (2 s), checked every second: cut off 2 to 3 s after its first byte, long before the headers end.
    expect(ms).toBeGreaterThanOrEqual(1_900);
    expect(ms).toBeLessThan(3_800);
    expect(sent).toBeLessThan(request.length);
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    expect(problemOf(answer)).toMatchObject({ status: 408, code: 'REQUEST_TIMEOUT' });
  });

  it("answers Node's and Fastify's own refusals as problem+json with a stable code", async () => {
    const system = await start({ env: { EVENT_BUS: 'memory' }, consume: false, jobs: false });
    const port = Number(new URL(await system.app.listen({ host: '127.0.0.1', port: 0 })).port);
    // Not HTTP at all: Node's parser refuses it before any route.
    const garbage = await exchange(port, 'HELLO THERE\r\n\r\n');
    expect(garbage).toMatch(/^HTTP\/1\.1 400 /);
    expect(problemOf(garbage)).toMatchObject({ status: 400, code: 'MALFORMED_REQUEST', title: 'Bad Request' });
    // Headers over Node's 16 KiB.
    const huge = await exchange(port, `GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(huge).toMatch(/^HTTP\/1\.1 431 /);
    expect(problemOf(huge)).toMatchObject({ status: 431, code: 'HEADERS_TOO_LARGE' });
    // An expectation Node cannot meet.
    const expectation = await exchange(port, 'GET /health/live HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n\r\n');
    expect(expectation).toMatch(/^HTTP\/1\.1 417 /);
    expect(problemOf(expectation)).toMatchObject({ status: 417, code: 'EXPECTATION_FAILED' });
    for (const answer of [garbage, huge, expectation]) {
      expect(answer).toMatch(/\r\ncontent-type: application\/problem\+json/i);
      expect(answer).toMatch(/\r\ncache-control: no-store/i);
    }
    // Fastify's: a body over BODY_LIMIT_BYTES, and a URL it cannot decode.
    const large = await system.app.inject({
      method: 'POST',
      url: '/customers',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ name: 'x'.repeat(system.config.BODY_LIMIT_BYTES) }),
    });
    expect([large.statusCode, large.headers['content-type'], large.json().code]).toEqual([
      413,
      'application/problem+json; charset=utf-8',
      'PAYLOAD_TOO_LARGE',
    ]);
    const badUrl = await fetch(`http://127.0.0.1:${port}/orders/%E0%A4%A`);
    expect([badUrl.status, badUrl.headers.get('content-type'), badUrl.headers.get('cache-control')]).toEqual([
      400,
      'application/problem+json; charset=utf-8',
      'no-store',
    ]);
    expect(await badUrl.json()).toMatchObject({ status: 400, code: 'MALFORMED_URL' });
  });

  it('keeps no cache of customer, order or operator data: every answer says Cache-Control: no-store', async () => {
    const system = await start({ env: { EVENT_BUS: 'memory' }, consume: false, jobs: false });
    const customer = await system.app.inject({
      method: 'POST',
      url: '/customers',
      payload: { name: 'Ada', creditLimit: { amount: 100, currency: 'USD' } },
    });
    const { id } = customer.json<{ id: string }>();
    const order = await system.app.inject({
      method: 'POST',
      url: '/orders',
      payload: { customerId: id, total: { amount: 5, currency: 'USD' } },
    });
    const orderId = order.json<{ id: string }>().id;
    const answers = [
      customer,
      order,
      await system.app.inject({ method: 'GET', url: `/customers/${id}` }),
      await system.app.inject({ method: 'GET', url: `/orders/${orderId}` }),
      await system.app.inject({ method: 'GET', url: `/orders?customerId=${id}` }),
      await system.app.inject({ method: 'POST', url: `/orders/${orderId}/cancel` }),
      await system.app.inject({ method: 'GET', url: `/orders/${'0'.repeat(8)}-0000-7000-8000-${'0'.repeat(12)}` }),
      await system.app.inject({ method: 'GET', url: '/admin/dead-letters' }),
      await system.app.inject({ method: 'GET', url: '/admin/deliveries/stats' }),
      await system.app.inject({ method: 'GET', url: `/admin/sagas/${orderId}`, headers: { accept: 'text/html' } }),
      await system.app.inject({ method: 'GET', url: '/health/ready' }),
    ];
    expect(answers.map((a) => [a.raw.req.url, a.statusCode, a.headers['cache-control']])).toEqual(
      answers.map((a) => [a.raw.req.url, a.statusCode, 'no-store']),
    );
    expect(answers.every((a) => a.statusCode < 500)).toBe(true);
  });

  it('never limits or authenticates the health probes, and names a failing dependency without its message', async () => {
    const issuer = await testIssuer();
    const lines: Array<Record<string, unknown>> = [];
    const system = await start({
      env: { EVENT_BUS: 'memory', ...jwtEnv(issuer), RATE_LIMIT_MAX: '3' },
      logger: createLogger({ level: 'warn', destination: jsonLines(lines) }),
      consume: false,
      jobs: false,
    });
    const badToken = { authorization: 'Bearer not.a.token' };
    const orders = async () => (await system.app.inject({ method: 'GET', url: '/orders', headers: badToken })).statusCode;
    // Counted in Redis once the store is connected (until then requests pass: fail-open).
    await eventually(async () => ((await orders()) === 429 ? true : undefined), { what: 'the limit of a bad-token caller' });
    for (let i = 0; i < 20; i++) {
      for (const url of ['/health/live', '/health/ready']) {
        const res = await system.app.inject({ method: 'GET', url, headers: badToken });
        expect([url, res.statusCode]).toEqual([url, 200]);
      }
    }
    expect(await orders()).toBe(429);
    // A dependency that fails with what drivers say: hosts, users, databases.
    const secret = 'password authentication failed for user "saga" at db-7.internal:5432/saga_prod';
    const app = await createHttpServer({
      logger: createLogger({ level: 'warn', destination: jsonLines(lines) }),
      bodyLimit: 1_024,
      title: 'test',
      version: '0',
      security: apiSecurityFrom(loadConfig({})),
      limits: httpLimitsFrom(loadConfig({})),
      readiness: [
        { name: 'postgres', check: () => Promise.reject(new Error(secret)) },
        { name: 'redis', check: () => Promise.resolve() },
      ],
    });
    try {
      const res = await app.inject({ method: 'GET', url: '/health/ready' });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ code: 'NOT_READY', checks: { postgres: { status: 'unavailable' }, redis: { status: 'ok' } } });
      expect(res.json<{ checks: object }>().checks).toEqual({ postgres: { status: 'unavailable' }, redis: { status: 'ok' } });
      expect(res.body).not.toMatch(/password|db-7|saga_prod/);
      expect(lines.find((l) => l['msg'] === 'readiness check failed')).toMatchObject({ check: 'postgres', err: secret });
    } finally {
      await app.close();
    }
  });

  it('sends helmet headers with a CSP under which /docs still loads', async () => {
    const system = await start({ env: { EVENT_BUS: 'memory' }, consume: false, jobs: false });
    const res = await system.app.inject({ method: 'GET', url: '/health/live' });
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['strict-transport-security']).toMatch(/max-age=\d+/);
    expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("object-src 'none'");
    const docs = await system.app.inject({ method: 'GET', url: '/docs/' });
    expect(docs.statusCode).toBe(200);
    expect(docs.headers['content-security-policy']).toBe(csp);
    // Swagger UI's scripts are its own files (script-src 'self'), none inline, and each is served.
    const scripts = [...docs.body.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attributes, inline] of scripts) {
      expect(inline!.trim()).toBe('');
      const src = /src="([^"]+)"/.exec(attributes!)?.[1];
      expect(src).toBeDefined();
      const path = new URL(src!, 'http://api.test/docs/').pathname;
      expect([path, (await system.app.inject({ method: 'GET', url: path })).statusCode]).toEqual([path, 200]);
    }
  });

  it('declares the bearer scheme and each operation’s scopes in the OpenAPI document', async () => {
    const system = await start({ env: { EVENT_BUS: 'memory' }, consume: false, jobs: false });
    const doc = (await system.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      components: { securitySchemes: Record<string, { type: string; scheme: string }> };
      paths: Record<string, Record<string, { operationId: string; security?: unknown; responses: Record<string, unknown> }>>;
    };
    expect(doc.components.securitySchemes['bearerAuth']).toMatchObject({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
    const ops = Object.fromEntries(Object.values(doc.paths).flatMap((p) => Object.values(p).map((op) => [op.operationId, op])));
    expect(ops['placeOrder']!.security).toEqual([{ bearerAuth: ['orders:write'] }]);
    expect(ops['getOrder']!.security).toEqual([{ bearerAuth: ['orders:read'] }]);
    expect(ops['registerCustomer']!.security).toEqual([{ bearerAuth: ['customers:write'] }]);
    expect(ops['getCustomer']!.security).toEqual([{ bearerAuth: ['customers:read', 'orders:read'] }]);
    expect(ops['redriveDeadLetters']!.security).toEqual([{ bearerAuth: ['admin'] }]);
    expect(ops['getLiveness']!.security).toBeUndefined();
    for (const id of ['placeOrder', 'getOrder', 'cancelOrder', 'listOrders', 'registerCustomer', 'getCustomer', 'getDeliveryStats']) {
      expect(Object.keys(ops[id]!.responses)).toEqual(expect.arrayContaining(['401', '403', '429']));
    }
  });

  it('refuses to register a route that declares no access', async () => {
    const config = loadConfig({ ADMIN_TOKEN: 'a-long-enough-admin-token-0123456789' });
    const app = await createHttpServer({
      logger: createLogger({ level: 'silent' }),
      bodyLimit: 1_024,
      readiness: [],
      title: 'test',
      version: '0',
      security: apiSecurityFrom(config),
      limits: httpLimitsFrom(config),
    });
    try {
      expect(() => app.get('/forgotten', async () => 'open?')).toThrow(/GET \/forgotten declares no access/);
      expect(() => app.get('/declared', { config: PUBLIC }, async () => 'open')).not.toThrow();
      // A third-party plugin's routes take the access they are registered with.
      await registerWithAccess(
        app,
        { anyScope: ['admin'] },
        async (scope: FastifyInstance) => void scope.get('/plugin', async () => 'admin only'),
        {},
      );
      const token = 'a-long-enough-admin-token-0123456789';
      expect((await app.inject({ method: 'GET', url: '/plugin' })).statusCode).toBe(401);
      expect((await app.inject({ method: 'GET', url: '/plugin', headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('writes an audit line per state-changing request: who, what, which resource, outcome', async () => {
    const issuer = await testIssuer();
    const lines: Array<Record<string, unknown>> = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const system = await start({
      env: { EVENT_BUS: 'memory', ...jwtEnv(issuer) },
      logger: createLogger({ level: 'info', destination }),
      consume: false,
      jobs: false,
    });
    const clerk = bearer(await sign(issuer, { sub: 'clerk-7', scope: 'customers:write orders:write' }));
    const created = await system.app.inject({
      method: 'POST',
      url: '/customers',
      headers: clerk,
      payload: { name: 'Ada', creditLimit: { amount: 10, currency: 'USD' } },
    });
    const id = (created.json() as { id: string }).id;
    await system.app.inject({ method: 'POST', url: `/orders/01a217bd-4a94-717b-8065-a430e3e8be76/cancel`, headers: clerk });
    const audits = lines.filter((l) => l['msg'] === 'audit').map((l) => l['audit']);
    expect(audits).toEqual([
      { sub: 'clerk-7', action: 'registerCustomer', resourceId: id, outcome: 201 },
      { sub: 'clerk-7', action: 'cancelOrder', resourceId: '01a217bd-4a94-717b-8065-a430e3e8be76', outcome: 404 },
    ]);
  });
});

/** One request's bytes on a fresh connection (from `localAddress`), and everything answered until the server closes it. */
function exchange(port: number, request: string, localAddress = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress });
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString()));
    socket.on('error', (error) => (answer ? resolve(answer) : reject(error)));
    socket.on('close', () => resolve(answer));
    socket.write(request);
  });
}

/** The problem+json body of a raw HTTP answer. */
function problemOf(answer: string): Record<string, unknown> {
  return JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
}

function jsonLines(into: Array<Record<string, unknown>>): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) into.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
}

/** A connection from `localAddress` that sent half its request and waits: it holds its slot until a timeout. */
async function halfSent(port: number, localAddress: string): Promise<{ socket: Socket; answer: () => string; closed: Promise<void> }> {
  const socket = connect({ port, host: '127.0.0.1', localAddress });
  let answer = '';
  socket.on('data', (d: Buffer) => (answer += d.toString()));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  await new Promise((r) => socket.once('connect', r));
  socket.write('GET /health/live HTTP/1.1\r\nHost: x\r\nX-Half: ');
  return { socket, answer: () => answer, closed };
}

describe('connections per address (HTTP_MAX_CONNECTIONS_PER_ADDRESS)', () => {
  const sockets: Socket[] = [];
  afterEach(() => {
    for (const s of sockets.splice(0)) s.destroy();
  });

  /** 40 half-sent requests from 127.0.0.2 against a server that takes 40 connections in all; then a client at 127.0.0.3. */
  async function flood(perAddress: string): Promise<{ refusedAnswers: string[]; other: string }> {
    const system = await start({
      env: {
        EVENT_BUS: 'memory',
        HTTP_MAX_CONNECTIONS: '40',
        HTTP_MAX_CONNECTIONS_PER_ADDRESS: perAddress,
        HTTP_HEADERS_TIMEOUT_MS: '20000',
      },
      consume: false,
      jobs: false,
    });
    const port = Number(new URL(await system.app.listen({ host: '127.0.0.1', port: 0 })).port);
    const attack = [];
    for (let i = 0; i < 40; i++) attack.push(await halfSent(port, '127.0.0.2'));
    sockets.push(...attack.map((a) => a.socket));
    // Over its share, a connection is told why and closed at once; within it, it waits for the headers timeout.
    const refused = attack.slice(Number(perAddress) || 40);
    await Promise.all(refused.map((a) => a.closed));
    const other = await exchange(port, 'GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', '127.0.0.3').catch(
      (error: Error) => `refused: ${error.message}`,
    );
    return { refusedAnswers: refused.map((a) => a.answer()), other };
  }

  it('lets one address hold its share only: half-sent requests from one client leave the others served', { timeout: 30_000 }, async () => {
    const { refusedAnswers, other } = await flood('32');
    expect(refusedAnswers).toHaveLength(8);
    for (const answer of refusedAnswers) {
      expect(answer).toMatch(/^HTTP\/1\.1 429 /);
      expect(problemOf(answer)).toMatchObject({ status: 429, code: 'TOO_MANY_CONNECTIONS' });
    }
    expect(other).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('without the bound (0), the same client holds every connection and the next one is turned away', { timeout: 30_000 }, async () => {
    const { other } = await flood('0');
    expect(other).not.toMatch(/^HTTP\/1\.1 200 /);
  });

  it('behind a proxy it believes, counts each forwarded client by its requests in flight, not the proxy', { timeout: 30_000 }, async () => {
    const system = await start({
      env: { EVENT_BUS: 'memory', TRUST_PROXY: '127.0.0.1/32', HTTP_MAX_CONNECTIONS_PER_ADDRESS: '4' },
      consume: false,
      jobs: false,
    });
    const port = Number(new URL(await system.app.listen({ host: '127.0.0.1', port: 0 })).port);
    // The proxy (127.0.0.1) forwards five slow bodies of 203.0.113.7 on five connections: the fifth is refused at once.
    const slow = async () => {
      const socket = connect({ port, host: '127.0.0.1' });
      sockets.push(socket);
      let answer = '';
      socket.on('data', (d: Buffer) => (answer += d.toString()));
      socket.on('error', () => undefined);
      await new Promise((r) => socket.once('connect', r));
      socket.write(
        'POST /customers HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6, 203.0.113.7\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"na',
      );
      return () => answer;
    };
    const answers: Array<() => string> = [];
    for (let i = 0; i < 5; i++) answers.push(await slow());
    const fifth = await eventually(async () => answers[4]!() || undefined, { what: "the fifth request's answer" });
    expect(fifth).toMatch(/^HTTP\/1\.1 429 /);
    expect(problemOf(fifth)).toMatchObject({ code: 'TOO_MANY_CONNECTIONS' });
    expect(answers.slice(0, 4).map((a) => a())).toEqual(['', '', '', '']);
    // Another client through the same proxy, and the proxy's own probe, are served.
    const other = await fetch(`http://127.0.0.1:${port}/orders`, { headers: { 'x-forwarded-for': '198.51.100.1' } });
    expect(other.status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${port}/health/ready`)).status).toBe(200);
  });
});

describe('keys from a JWKS URL', () => {
  it('fetches the set again for an unknown kid (a rotated key), not for every request', async () => {
    const [first, rotated] = [await testIssuer('k1'), await testIssuer('k2')];
    const state = { keys: [first], hang: false };
    const jwks = await jwksServer(state);
    const env = { AUTH_MODE: 'jwt', AUTH_ISSUER: ISSUER, AUTH_AUDIENCE: AUDIENCE, AUTH_JWKS_URL: jwks.url, AUTH_JWKS_COOLDOWN_MS: '0' };
    const system = await start({ env: { EVENT_BUS: 'memory', ...env }, consume: false, jobs: false });
    const get = async (issuer: TestIssuer, sub: string) =>
      (await system.app.inject({ method: 'GET', url: '/orders', headers: bearer(await sign(issuer, { sub, scope: 'orders:read' })) }))
        .statusCode;
    expect(await get(first, 'a')).toBe(200);
    expect(await get(first, 'b')).toBe(200);
    expect(jwks.fetches()).toBe(1);
    expect(await get(rotated, 'c')).toBe(401); // not published yet
    state.keys = [first, rotated];
    expect(await get(rotated, 'd')).toBe(200); // unknown kid: fetched again
    expect(await get(first, 'e')).toBe(200);
    expect(jwks.fetches()).toBe(3);
  });

  it('answers 503 AUTH_UNAVAILABLE within the fetch timeout when the issuer does not answer', async () => {
    const issuer = await testIssuer('k1');
    const jwks = await jwksServer({ keys: [issuer], hang: true });
    const env = { AUTH_MODE: 'jwt', AUTH_ISSUER: ISSUER, AUTH_AUDIENCE: AUDIENCE, AUTH_JWKS_URL: jwks.url, AUTH_JWKS_TIMEOUT_MS: '300' };
    const system = await start({ env: { EVENT_BUS: 'memory', ...env }, consume: false, jobs: false });
    const t0 = Date.now();
    const res = await system.app.inject({
      method: 'GET',
      url: '/orders',
      headers: bearer(await sign(issuer, { sub: 'a', scope: 'orders:read' })),
    });
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ code: 'AUTH_UNAVAILABLE' });
    expect(res.headers['retry-after']).toBe('5');
  });
});
