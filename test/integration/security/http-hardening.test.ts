import type { FastifyInstance } from 'fastify';
import { createServer as createNodeServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpServer } from '../../../src/entrypoints/http/http-server.js';
import { registerWithAccess } from '../../../src/entrypoints/http/security/api-security.js';
import { apiSecurityFrom, httpLimitsFrom } from '../../../src/entrypoints/http/security/security-config.js';
import { loadConfig } from '../../../src/shared/infrastructure/config/config.js';
import { PUBLIC } from '../../../src/shared/infrastructure/http/route-config.js';
import { createLogger } from '../../../src/shared/infrastructure/logging/logger.js';
import { systemsClosedAfterEach } from '../../support/system.js';
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
      expect((await app.inject({ method: 'GET', url: '/plugin' })).statusCode).toBe(403);
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
