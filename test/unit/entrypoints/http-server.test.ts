import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpServer } from '../../../src/shared/infrastructure/http/http-server.js';
import { toProblem } from '../../../src/shared/infrastructure/http/problem.js';
import { apiSecurityFrom, httpLimitsFrom } from '../../../src/shared/infrastructure/http/security/security-config.js';
import { loadConfig } from '../../../src/shared/infrastructure/config/config.js';
import { PUBLIC } from '../../../src/shared/infrastructure/http/route-config.js';
import { createLogger } from '../../../src/shared/infrastructure/logging/logger.js';
import { ConcurrencyError, ConflictError, DomainError, NotFoundError, ValidationError } from '../../../src/shared/kernel/index.js';

describe('toProblem: domain errors', () => {
  it.each([
    ['validation', new ValidationError('INVALID_AMOUNT', 'amount must be positive', { field: 'total' }), 422],
    ['not-found', new NotFoundError('ORDER_NOT_FOUND', 'order x does not exist'), 404],
    ['conflict', new ConflictError('ORDER_NOT_CANCELLABLE', 'order x is PENDING'), 409],
    ['conflict (concurrency)', new ConcurrencyError('order', 'x'), 409],
    ['rule-violation', new DomainError('CREDIT_RULE', 'no'), 422],
    ['unavailable', new DomainError('DOWN', 'try later', 'unavailable'), 503],
  ])('maps %s to its status with the error’s code and message', (_kind, error, status) => {
    const p = toProblem(error);
    expect(p).toMatchObject({
      status,
      code: error.code,
      detail: error.message,
      type: `/problems/${error.code.toLowerCase().replaceAll('_', '-')}`,
    });
    expect(p.details).toEqual(error.details);
  });
});

describe('toProblem: infrastructure errors', () => {
  it.each([
    ['a refused connection', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })],
    [
      'PostgreSQL shutting down (57P01)',
      Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
    ],
    ['a connection exception class 08', Object.assign(new Error('connection failure'), { code: '08006' })],
    ['a dropped connection', new Error('Connection terminated unexpectedly')],
    ['an exhausted pool', new Error('Knex: Timeout acquiring a connection. The pool is probably full.')],
  ])('maps %s to 503 SERVICE_UNAVAILABLE', (_label, error) => {
    expect(toProblem(error)).toMatchObject({ status: 503, code: 'SERVICE_UNAVAILABLE' });
  });

  it('maps anything unknown to 500 without leaking its message', () => {
    const p = toProblem(new Error('password=hunter2 at db.internal:5432'));
    expect(p).toMatchObject({ status: 500, code: 'INTERNAL_ERROR' });
    expect(JSON.stringify(p)).not.toContain('hunter2');
    expect(JSON.stringify(p)).not.toContain('db.internal');
    expect(toProblem('a string')).toMatchObject({ status: 500, code: 'INTERNAL_ERROR' });
    expect(toProblem(undefined)).toMatchObject({ status: 500, code: 'INTERNAL_ERROR' });
  });
});

describe('toProblem through a real server', () => {
  let app: FastifyInstance;

  beforeAll(async () => {
    app = await createHttpServer({
      logger: createLogger({ level: 'silent' }),
      bodyLimit: 1_024,
      readiness: [],
      title: 'test',
      version: '0.0.0',
      security: apiSecurityFrom(loadConfig({})),
      limits: httpLimitsFrom(loadConfig({})),
    });
    app.post(
      '/things',
      {
        config: PUBLIC,
        schema: {
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'total'],
            properties: {
              name: { type: 'string', minLength: 1 },
              total: {
                type: 'object',
                additionalProperties: false,
                required: ['amount'],
                properties: { amount: { type: 'integer', minimum: 1 } },
              },
            },
          },
        },
      },
      async () => ({ ok: true }),
    );
    app.get('/boom', { config: PUBLIC }, async () => {
      throw new Error('secret internals');
    });
    await app.ready();
  });

  afterAll(async () => {
    await app.close();
  });

  const post = (payload: string, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
    app.inject({ method: 'POST', url: '/things', payload, headers });

  it('answers 400 VALIDATION_FAILED with the path of the invalid field', async () => {
    const res = await post(JSON.stringify({ name: 'x', total: { amount: 0 } }));
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const body = res.json();
    expect(body).toMatchObject({ status: 400, code: 'VALIDATION_FAILED', instance: '/things' });
    expect(body.errors).toEqual([{ path: '/total/amount', message: expect.stringContaining('>= 1') }]);
  });

  it('names an unknown property in the path', async () => {
    const res = await post(JSON.stringify({ name: 'x', total: { amount: 1 }, admin: true }));
    expect(res.statusCode).toBe(400);
    expect(res.json().errors).toEqual([{ path: '/admin', message: expect.any(String) }]);
  });

  it('names a missing property', async () => {
    const res = await post(JSON.stringify({ total: { amount: 1 } }));
    expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ path: '/', message: expect.stringContaining('name') }] });
  });

  it('answers 400 MALFORMED_JSON for a body that is not JSON', async () => {
    const res = await post('{"name": ');
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'MALFORMED_JSON' });
  });

  it('answers 413 PAYLOAD_TOO_LARGE above the body limit', async () => {
    const res = await post(JSON.stringify({ name: 'x'.repeat(2_000), total: { amount: 1 } }));
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ status: 413, code: 'PAYLOAD_TOO_LARGE' });
  });

  it('answers 415 for a body that is not JSON by its content type', async () => {
    const res = await post('name=x', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(res.statusCode).toBe(415);
    expect(res.json()).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE' });
  });

  it('answers 500 without the thrown message', async () => {
    const res = await app.inject({ method: 'GET', url: '/boom' });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toMatchObject({ code: 'INTERNAL_ERROR', instance: '/boom' });
    expect(res.body).not.toContain('secret internals');
  });
});
