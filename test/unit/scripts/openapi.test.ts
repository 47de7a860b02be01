import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lintOpenApi, openApiDocument } from '../../../scripts/openapi.js';

const dir = mkdtempSync(join(tmpdir(), 'saga-openapi-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A document the recommended ruleset accepts: each test breaks it in one place. */
function fixture() {
  return {
    openapi: '3.1.0',
    info: { title: 'fixture', version: '1.0.0', description: 'x', license: { name: 'MIT', identifier: 'MIT' } },
    servers: [{ url: '/' }],
    security: [],
    paths: {
      '/things': {
        get: {
          operationId: 'listThings',
          summary: 'Things',
          responses: { '200': { description: 'the things' }, '400': { description: 'a bad request' } },
        },
      },
    },
  };
}

function lint(document: object): () => void {
  const file = join(dir, `${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(document));
  return () => lintOpenApi(file);
}

type Operation = {
  responses: Record<string, { content?: Record<string, unknown> }>;
  parameters?: Array<{ in: string; name: string; schema: Record<string, unknown> }>;
};
type Document = { paths: Record<string, Record<string, Operation>> };

describe('lint:openapi', () => {
  it('passes the fixture it breaks below', () => {
    expect(lint(fixture())).not.toThrow();
  }, 30_000);

  it('fails on an error (no servers)', () => {
    const { servers: _servers, ...document } = fixture();
    expect(lint(document)).toThrow(/no-empty-servers/);
  }, 30_000);

  it('fails on a warning too, which redocly itself lets pass (no operationId)', () => {
    const document = fixture();
    delete (document.paths['/things'].get as { operationId?: string }).operationId;
    expect(lint(document)).toThrow(/operation-operationId/);
  }, 30_000);
});

describe("the API's OpenAPI document", () => {
  it('declares every error response as application/problem+json with the shared Problem schema', async () => {
    const document = (await openApiDocument()) as Document;
    const errors = Object.values(document.paths).flatMap((ops) =>
      Object.values(ops).flatMap((op) => Object.entries(op.responses).filter(([status]) => Number(status) >= 400)),
    );
    expect(errors.length).toBeGreaterThan(20);
    for (const [, response] of errors) expect(Object.keys(response.content ?? {})).toEqual(['application/problem+json']);
    expect(JSON.stringify(document)).not.toContain('def-');
  });

  it('declares limit as an integer with its bounds, and traceparent where the saga reads it', async () => {
    const document = (await openApiDocument()) as Document;
    const limit = document.paths['/orders']!['get']!.parameters!.find((p) => p.name === 'limit');
    expect(limit?.schema).toMatchObject({ type: 'integer', minimum: 1, maximum: 100, default: 20 });
    for (const [path, method] of [
      ['/orders', 'post'],
      ['/orders/{id}/cancel', 'post'],
    ] as const) {
      expect(document.paths[path]![method]!.parameters).toContainEqual(
        expect.objectContaining({ in: 'header', name: 'traceparent', required: false }),
      );
    }
    expect(Object.keys(document.paths)).toEqual(expect.arrayContaining(['/health/live', '/health/ready']));
  });
});
