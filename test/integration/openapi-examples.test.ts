import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSystem, type TestSystem } from '../support/system.js';

// "Try it out" in /docs sends the document's samples as they are: each must succeed.
let system: TestSystem;

beforeAll(async () => {
  system = await startTestSystem({ env: { EVENT_BUS: 'memory', SAGA_STYLE: 'choreography' } });
});
afterAll(async () => system?.close());

interface Operation {
  readonly requestBody?: { readonly content: Record<string, { readonly example?: unknown }> };
}

async function operationsWithBodies(): Promise<Array<{ method: string; path: string; example: unknown }>> {
  const document = (await system.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
    paths: Record<string, Record<string, Operation>>;
  };
  return Object.entries(document.paths).flatMap(([path, operations]) =>
    Object.entries(operations)
      .filter(([, operation]) => operation.requestBody !== undefined)
      .map(([method, operation]) => ({
        method: method.toUpperCase(),
        path,
        example: operation.requestBody?.content['application/json']?.example,
      })),
  );
}

describe('the OpenAPI document samples', () => {
  it('every request body has an example, and each is accepted by the running server', async () => {
    const operations = await operationsWithBodies();
    expect(operations.map((o) => `${o.method} ${o.path}`)).toEqual(expect.arrayContaining(['POST /customers', 'POST /orders']));
    for (const { method, path, example } of operations) {
      expect(example, `${method} ${path} has no example`).toBeDefined();
      const res = await system.app.inject({ method: method as 'POST', url: path, payload: example as object });
      expect(res.statusCode, `${method} ${path}: ${res.body}`).toBeLessThan(300);
    }
  });

  it.each([
    ['the nil UUID', '00000000-0000-0000-0000-000000000000'],
    ['the max UUID', 'ffffffff-ffff-ffff-ffff-ffffffffffff'],
    ['version 0', '01a217bd-4a94-017b-8065-a430e3e8be76'],
    ['a non-RFC variant', '01a217bd-4a94-717b-c065-a430e3e8be76'],
  ])('refuses %s at the door, as the domain does', async (_label, id) => {
    for (const res of [
      await system.app.inject({ method: 'GET', url: `/orders/${id}` }),
      await system.app.inject({ method: 'POST', url: '/orders', payload: { customerId: id, total: { amount: 1, currency: 'USD' } } }),
    ]) {
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', detail: expect.stringMatching(/(id|customerId) must be a UUID$/) });
    }
  });
});
